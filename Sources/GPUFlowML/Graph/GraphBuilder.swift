import Foundation
import GPUFlowCompute
import GPUFlowCore

/// How a linear layer's weight and bias start.
public enum WeightInit: String, NamedChoice {
    /// He-normal before a ReLU-like activation, Xavier-normal otherwise; zero bias.
    case auto
    /// PyTorch's `nn.Linear`: weight and bias uniform in ±1/√fan-in, for a model brought from
    /// PyTorch that should start as it did there.
    case pytorch
}

/// Builds a `GraphModel` layer by layer, checking every shape as it goes, so a model that does
/// not fit is refused when it is built, with the layer's name. The vocabulary is Torch7 `nn`'s
/// and PyTorch's: linear, activations, layer norm, dropout, residual, embedding. Weights are
/// drawn from Philox(seed): He-normal before ReLU-like activations, Xavier-normal otherwise.
public struct GraphBuilder {
    public private(set) var model: GraphModel
    fileprivate(set) var current: GraphModel.Source = .input
    private var shape: [Int]
    private var nodeShapes: [[[Int]]] = []
    private var rng: Philox
    private var counts: [String: Int] = [:]
    /// Layer names taken so far: a name is a layer's identity (freezing, parameters, messages).
    private var used: Set<String> = []

    /// `inputShape`: one sample's shape.
    public init(inputShape: [Int], seed: UInt64) {
        model = GraphModel(inputShape: inputShape, nodes: [], parameters: [], output: .input)
        shape = [1] + inputShape
        rng = Philox(seed: seed)
    }

    /// The features of the current output (its last axis).
    public var width: Int { shape.last ?? 0 }

    public func finished() -> GraphModel {
        var m = model
        m.output = current
        return m
    }

    private mutating func name(_ kind: String, _ given: String?) throws -> String {
        if let given {
            guard used.insert(given).inserted else { throw MLError("layer \(given): the name is taken by an earlier layer") }
            return given
        }
        while true {  // numbered past any name given by hand
            counts[kind, default: 0] += 1
            let n = "\(kind)\(counts[kind] ?? 1)"
            if used.insert(n).inserted { return n }
        }
    }

    /// The most parameters a graph may hold: checked before a layer allocates its weights, so a
    /// layer too large to build is refused instead of exhausting memory.
    public static let maxParameters = 50_000_000

    private func reserve(_ rows: Int, _ cols: Int, layer: String) throws {
        let (n, o) = rows.multipliedReportingOverflow(by: cols)
        guard !o, n <= Self.maxParameters - model.parameterCount else {
            throw MLError("layer \(layer): a \(rows)×\(cols) weight takes the model past \(Self.maxParameters) parameters")
        }
    }

    fileprivate mutating func addParameter(_ layer: String, _ suffix: String, shape: [Int], values: [Float], buffer: Bool = false)
        -> GraphModel.Source
    {
        let name = "\(layer).\(suffix)"
        model.parameters.append(GraphModel.Parameter(name: name, shape: shape, values: values, layer: layer, buffer: buffer ? true : nil))
        return .parameter(name)
    }

    @discardableResult
    fileprivate mutating func addNode(
        _ op: Op, _ inputs: [GraphModel.Source], layer: String, trainingOnly: Bool = false, running: GraphModel.RunningStatistic? = nil
    ) throws
        -> GraphModel.Source
    {
        let out: [[Int]]
        do { out = try op.outputShapes(inputs.map(shapeOf)) } catch let e as BackendError {
            throw MLError("layer \(layer): \(e.message)")
        }
        model.nodes.append(GraphModel.Node(op: op, inputs: inputs, layer: layer, trainingOnly: trainingOnly, running: running))
        nodeShapes.append(out)
        current = .node(model.nodes.count - 1, output: 0)
        shape = out[0]
        return current
    }

    /// The shape a source has for a batch of one row.
    fileprivate func shapeOf(_ s: GraphModel.Source) -> [Int] {
        switch s {
        case .input: return [1] + model.inputShape
        case .parameter(let p): return model.parameters.first { $0.name == p }?.shape ?? []
        case .node(let n, let o): return n < nodeShapes.count && o < nodeShapes[n].count ? nodeShapes[n][o] : []
        }
    }

    /// y = x·W + b, W [in, out] (the layout of today's dense layers). `scheme`: how W and b
    /// start (`WeightInit`); `activation` is what reads the layer, for `.auto`.
    public mutating func linear(
        outputs: Int, bias: Bool = true, init activation: UnaryOp? = nil, scheme: WeightInit = .auto, name given: String? = nil
    ) throws {
        let layer = try name("linear", given)
        guard outputs > 0 else { throw MLError("layer \(layer): outputs must be at least 1, got \(outputs)") }
        let inputs = width
        guard inputs > 0 else { throw MLError("layer \(layer): its input has no features (shape \(shape))") }
        let he: Bool
        switch activation {
        case .relu?, .leakyRelu?, .gelu?, .geluTanh?, .silu?: he = true
        default: he = false
        }
        try reserve(inputs, outputs, layer: layer)
        let values: [Float], biasValues: [Float]
        switch scheme {
        case .auto:
            let std = he ? (2 / Float(inputs)).squareRoot() : (2 / Float(inputs + outputs)).squareRoot()
            values = (0..<(inputs * outputs)).map { _ in rng.normal() * std }
            biasValues = [Float](repeating: 0, count: outputs)
        case .pytorch:
            let bound = 1 / Float(inputs).squareRoot()
            values = (0..<(inputs * outputs)).map { _ in (2 * rng.uniform() - 1) * bound }
            biasValues = bias ? (0..<outputs).map { _ in (2 * rng.uniform() - 1) * bound } : []
        }
        let w = addParameter(layer, "weight", shape: [inputs, outputs], values: values)
        let x = current
        try addNode(.matmul(transA: false, transB: false), [x, w], layer: layer)
        if bias {
            let b = addParameter(layer, "bias", shape: [outputs], values: biasValues)
            try addNode(.binary(.add), [current, b], layer: layer)
        }
    }

    public mutating func activation(_ f: UnaryOp, name given: String? = nil) throws {
        try addNode(.unary(f), [current], layer: try name(f.name, given))
    }

    public mutating func layerNorm(epsilon: Float = 1e-5, name given: String? = nil) throws {
        let layer = try name("layer_norm", given)
        let c = width
        let g = addParameter(layer, "weight", shape: [c], values: [Float](repeating: 1, count: c))
        let b = addParameter(layer, "bias", shape: [c], values: [Float](repeating: 0, count: c))
        try addNode(.layerNorm(epsilon: epsilon), [current, g, b], layer: layer)
    }

    /// Seed and offset are filled in per step by the runner, so every step draws its own mask
    /// and a replay draws the same ones.
    public mutating func dropout(p: Float, name given: String? = nil) throws {
        let layer = try name("dropout", given)
        guard p >= 0 && p < 1 else { throw MLError("layer \(layer): p must be in [0, 1), got \(p)") }
        try addNode(.dropout(p: p, seed: 0, offset: 0), [current], layer: layer, trainingOnly: true)
    }

    /// Categorical columns of the input replaced by learned vectors: each listed column's
    /// integer code picks a row of its own [cardinality, dims] table (N(0, 1) at the start, as
    /// PyTorch's nn.Embedding); the other columns pass through, and the pieces are joined in
    /// column order. Must come first, where the input's columns are the data set's.
    public mutating func embedding(_ columns: [(column: Int, cardinality: Int, dims: Int, name: String)], name given: String? = nil) throws
    {
        let layer = try name("embedding", given)
        guard current == .input else {
            throw MLError("layer \(layer): an embedding reads the data set's columns, so it must be the first layer")
        }
        let width = self.width
        guard !columns.isEmpty else { throw MLError("layer \(layer): no categorical columns to embed") }
        for c in columns {
            guard c.column >= 0 && c.column < width else {
                throw MLError("layer \(layer): column \(c.column + 1) is outside the \(width) features")
            }
            guard c.cardinality > 0, c.dims > 0 else {
                throw MLError("layer \(layer): column \(c.name) needs at least one value and one dimension")
            }
        }
        let byColumn = Dictionary(columns.map { ($0.column, $0) }, uniquingKeysWith: { a, _ in a })
        var pieces: [GraphModel.Source] = []
        var start = 0
        func numeric(upTo end: Int) throws {
            if end > start { pieces.append(try addNode(.slice(axis: 1, start: start, count: end - start), [.input], layer: layer)) }
        }
        for col in 0..<width {
            guard let c = byColumn[col] else { continue }
            try numeric(upTo: col)
            try reserve(c.cardinality, c.dims, layer: layer)
            let table = addParameter(
                layer, c.name, shape: [c.cardinality, c.dims], values: (0..<(c.cardinality * c.dims)).map { _ in rng.normal() })
            let code = try addNode(.slice(axis: 1, start: col, count: 1), [.input], layer: layer)
            let flat = try addNode(.reshape([-1]), [code], layer: layer)
            pieces.append(try addNode(.gather, [table, flat], layer: layer))
            start = col + 1
        }
        try numeric(upTo: width)
        if pieces.count > 1 { try addNode(.concat(axis: 1), pieces, layer: layer) } else { current = pieces[0] }
        shape = shapeOf(current)
    }

    // For the layers written in the module's other files (images, sequences).
    var cursorShape: [Int] { shape }
    mutating func layerName(_ kind: String, _ given: String?) throws -> String { try name(kind, given) }
    func reserveWeights(_ rows: Int, _ cols: Int, layer: String) throws { try reserve(rows, cols, layer: layer) }
    @discardableResult
    mutating func addLayerNode(_ op: Op, _ inputs: [GraphModel.Source], layer: String, running: GraphModel.RunningStatistic? = nil) throws
        -> GraphModel.Source
    {
        try addNode(op, inputs, layer: layer, running: running)
    }
    mutating func addLayerParameter(_ layer: String, _ suffix: String, shape: [Int], values: [Float], buffer: Bool = false)
        -> GraphModel.Source
    {
        addParameter(layer, suffix, shape: shape, values: values, buffer: buffer)
    }
    mutating func nextNormal() -> Float { rng.normal() }

    /// Where the next layer reads from. The functional form moves it between branches: set it
    /// to an earlier output, add a layer, read the new output back.
    public var cursor: GraphModel.Source {
        get { current }
        set {
            current = newValue
            shape = shapeOf(newValue)
        }
    }

    /// The sum of several branches of the same shape (a join of a residual written by hand).
    public mutating func add(_ parts: [GraphModel.Source], name given: String? = nil) throws {
        let layer = try name("add", given)
        guard parts.count >= 2 else { throw MLError("layer \(layer): adds two or more branches, got \(parts.count)") }
        let shapes = parts.map(shapeOf)
        guard let mismatch = shapes.firstIndex(where: { $0 != shapes[0] }) else {
            current = parts[0]
            for p in parts.dropFirst() { try addNode(.binary(.add), [current, p], layer: layer) }
            return
        }
        throw MLError(
            "layer \(layer): branch 1 has shape \(shapes[0].dropFirst()) and branch \(mismatch + 1) \(shapes[mismatch].dropFirst()); added branches need one shape"
        )
    }

    /// Branches side by side along the last axis (several heads as one output, or features
    /// from two paths joined).
    public mutating func concat(_ parts: [GraphModel.Source], name given: String? = nil) throws {
        let layer = try name("concat", given)
        guard parts.count >= 2 else { throw MLError("layer \(layer): joins two or more branches, got \(parts.count)") }
        let rank = shapeOf(parts[0]).count
        try addNode(.concat(axis: rank - 1), parts, layer: layer)
    }

    /// Each sample's axes as one ([rows, C, H, W] → [rows, C·H·W]), as Torch7's nn.View and
    /// PyTorch's nn.Flatten: the same floats, no copy.
    public mutating func flatten(name given: String? = nil) throws {
        let layer = try name("flatten", given)
        try addNode(.reshape([-1, shape.dropFirst().reduce(1, *)]), [current], layer: layer)
    }

    /// x + body(x): the body must give back the width it was given.
    public mutating func residual(name given: String? = nil, _ body: (inout GraphBuilder) throws -> Void) throws {
        let layer = try name("residual", given)
        let skip = current, skipShape = shape
        try body(&self)
        guard shape == skipShape else {
            throw MLError(
                "layer \(layer): its body turns \(skipShape.dropFirst()) into \(shape.dropFirst()); a residual needs the same shape")
        }
        try addNode(.binary(.add), [current, skip], layer: layer)
    }
}

extension GraphBuilder {
    /// A dense layer as today's MLP has it: y = f(x·W + b) through the fused bias+activation
    /// kernel, so a graph built from these trains to the MLP's numbers bit for bit.
    public mutating func dense(weights: [Float], bias: [Float], outputs: Int, activation: Activation, name given: String? = nil) throws {
        let layer = try name("dense", given)
        let inputs = width
        guard weights.count == inputs * outputs, bias.count == outputs else {
            throw MLError("layer \(layer): \(weights.count) weights and \(bias.count) biases do not make a \(inputs)×\(outputs) layer")
        }
        let w = addParameter(layer, "weight", shape: [inputs, outputs], values: weights)
        let b = addParameter(layer, "bias", shape: [outputs], values: bias)
        try addNode(.matmul(transA: false, transB: false), [current, w], layer: layer)
        try addNode(.biasActivation(activation), [current, b], layer: layer)
    }
}

extension GraphModel {
    /// Today's MLP as a graph: one dense layer (matmul, then the fused bias and activation) per
    /// layer, named dense1, dense2, …, with the same weights.
    public init(mlp: MLPModel) throws {
        var b = GraphBuilder(inputShape: [mlp.inputs], seed: 0)
        for (i, l) in mlp.layers.enumerated() {
            try b.dense(weights: l.weights, bias: l.bias, outputs: l.outputs, activation: l.activation, name: "dense\(i + 1)")
        }
        self = b.finished()
    }
}

extension MLPModel {
    /// The fixed pipeline of a graph that is a chain of dense layers (each a matmul of the
    /// previous value by its weight, then the fused bias and activation, as `GraphModel(mlp:)`
    /// builds them): nil for any other graph. Lowering and lifting keep every bit, so an MLP
    /// trained as its graph comes back as the same MLP.
    public convenience init?(graph: GraphModel) {
        guard graph.inputShape.count == 1, graph.nodes.count % 2 == 0, !graph.nodes.isEmpty,
            graph.parameters.count == graph.nodes.count
        else { return nil }
        let params = Dictionary(graph.parameters.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var layers: [Layer] = []
        var previous = GraphModel.Source.input
        var width = graph.inputShape[0]
        for i in stride(from: 0, to: graph.nodes.count, by: 2) {
            let mm = graph.nodes[i], ba = graph.nodes[i + 1]
            guard case .matmul(false, false) = mm.op, case .biasActivation(let f) = ba.op, !mm.trainingOnly, !ba.trainingOnly,
                mm.inputs.count == 2, mm.inputs[0] == previous, case .parameter(let wn) = mm.inputs[1], let w = params[wn],
                ba.inputs.count == 2, ba.inputs[0] == .node(i, output: 0), case .parameter(let bn) = ba.inputs[1], let b = params[bn],
                w.shape.count == 2, w.shape[0] == width, b.shape == [w.shape[1]]
            else { return nil }
            layers.append(Layer(inputs: width, outputs: w.shape[1], weights: w.values, bias: b.values, activation: f))
            width = w.shape[1]
            previous = .node(i + 1, output: 0)
        }
        guard graph.output == previous else { return nil }
        self.init(layers: layers)
    }
}
