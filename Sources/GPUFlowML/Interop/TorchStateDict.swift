import Foundation
import GPUFlowCompute
import GPUFlowCore

/// Which PyTorch module prefix each gpuflow layer's parameters have in a `state_dict`.
///
/// The rule, stated once (README, "PyTorch state dicts"): parameter `L.S` of gpuflow layer `L`
/// is the state dict's `P.S`, where P is `layers[L]` if given, else, with `sequential`, the
/// layer's 0-based position among the model's layers (`nn.Sequential`'s keys: a ReLU has a
/// position and no parameters, as in PyTorch), else `L` itself. A column embedding's table
/// `L.island` is `P.island.weight` (an `nn.ModuleDict` of `nn.Embedding`s).
public struct StateDictMapping: Sendable, Equatable, Codable {
    public var layers: [String: String]
    public var sequential: Bool

    public init(layers: [String: String] = [:], sequential: Bool = false) {
        self.layers = layers
        self.sequential = sequential
    }
}

/// A gpuflow graph's parameters as a PyTorch `state_dict` and back. Layouts differ where
/// gpuflow multiplies from the other side: a linear weight is [in, out] here and [out, in] in
/// PyTorch (transposed both ways); a convolution's is [C·kh·kw, O] (groups: [g, C/g·kh·kw,
/// O/g]) here and [O, C/g, kh, kw] there. Everything else (biases, norms' weights and running
/// statistics, embedding tables) has one layout. Buffers the architecture itself makes (a
/// causal mask, fixed sinusoids) are not in a state dict and are neither read nor written.
public enum TorchStateDict {
    /// How one parameter is laid out in PyTorch.
    enum Layout: Equatable {
        case same
        case linear(inputs: Int, outputs: Int)
        case conv(Conv2DGeometry)
    }

    struct Entry {
        var parameter: Int
        var key: String
        var layout: Layout
        var torchShape: [Int]
    }

    /// The state-dict entry of every parameter PyTorch would hold, in the graph's order.
    static func entries(_ graph: GraphModel, mapping: StateDictMapping) throws -> [Entry] {
        var seen = Set<String>()
        let order = graph.nodes.map(\.layer).filter { seen.insert($0).inserted }
        let position = Dictionary(order.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        for name in mapping.layers.keys where position[name] == nil {
            throw DataError("state dict mapping: the model has no layer '\(name)' (its layers: \(order.joined(separator: ", ")))")
        }
        var layouts: [String: Layout] = [:]
        for n in graph.nodes {
            guard n.inputs.count >= 2, case .parameter(let p) = n.inputs[1] else { continue }
            switch n.op {
            case .matmul(false, false):
                if let w = graph.parameters.first(where: { $0.name == p }), w.shape.count == 2 {
                    layouts[p] = .linear(inputs: w.shape[0], outputs: w.shape[1])
                }
            case .conv2d(let g): layouts[p] = .conv(g)
            default: break
            }
        }
        var out: [Entry] = []
        var keys: [String: String] = [:]
        for (i, p) in graph.parameters.enumerated() {
            if p.buffer == true, !(p.name.hasSuffix(".running_mean") || p.name.hasSuffix(".running_var")) { continue }
            let suffix = String(p.name.dropFirst(p.layer.count + 1))
            let prefix = mapping.layers[p.layer] ?? (mapping.sequential ? position[p.layer].map(String.init) : nil) ?? p.layer
            let isColumnTable =
                graph.nodes.contains { $0.layer == p.layer && $0.op == .gather && $0.inputs.first == .parameter(p.name) }
                && !["weight", "bias"].contains(suffix)
            let key = prefix.isEmpty ? suffix : prefix + "." + suffix + (isColumnTable ? ".weight" : "")
            if let other = keys[key] { throw DataError("state dict mapping: \(other) and \(p.name) would both be '\(key)'") }
            keys[key] = p.name
            let layout = layouts[p.name] ?? .same
            let shape: [Int]
            switch layout {
            case .same: shape = p.shape
            case .linear(let inputs, let outputs): shape = [outputs, inputs]
            case .conv(let g): shape = [g.outputs, g.channels / g.groups, g.kernel[0], g.kernel[1]]
            }
            out.append(Entry(parameter: i, key: key, layout: layout, torchShape: shape))
        }
        return out
    }

    /// For each gpuflow element, where it sits in PyTorch's layout (nil: the same place).
    static func torchIndex(_ layout: Layout, count: Int) -> [Int]? {
        switch layout {
        case .same: return nil
        case .linear(let i, let o):
            // gpuflow [i, o] row-major; PyTorch [o, i].
            return (0..<count).map { k in (k % o) * i + k / o }
        case .conv(let g):
            // gpuflow [g, rows, go]; PyTorch [g·go, rows] (rows = C/g·kh·kw).
            let rows = g.groupPatch, go = g.groupOutputs
            return (0..<count).map { k in
                let gi = k / (rows * go), r = k / go % rows, o = k % go
                return (gi * go + o) * rows + r
            }
        }
    }

    /// PyTorch's values from gpuflow's.
    static func toTorch(_ v: [Float], _ layout: Layout) -> [Float] {
        guard let index = torchIndex(layout, count: v.count) else { return v }
        var t = [Float](repeating: 0, count: v.count)
        for (k, at) in index.enumerated() { t[at] = v[k] }
        return t
    }

    /// gpuflow's values from PyTorch's.
    static func fromTorch(_ t: [Float], _ layout: Layout) -> [Float] {
        guard let index = torchIndex(layout, count: t.count) else { return t }
        return index.map { t[$0] }
    }

    /// The graph's weights as a PyTorch state dict in safetensors, under the mapping's names.
    public static func export(_ graph: GraphModel, mapping: StateDictMapping) throws -> [UInt8] {
        let entries = try entries(graph, mapping: mapping)
        return try Safetensors.write(
            entries.map { e in (e.key, e.torchShape, toTorch(graph.parameters[e.parameter].values, e.layout)) },
            metadata: ["format": "pt", "gpuflow.model": graph.contentHash].merging(
                (graph.schema.flatMap { try? StableJSON.encode($0) }).map { [schemaKey: String(decoding: $0, as: UTF8.self)] } ?? [:],
                uniquingKeysWith: { a, _ in a }))
    }

    /// Where a state dict gpuflow wrote keeps the model's schema (PyTorch ignores it), so a
    /// round trip through a state dict keeps the scalings and class names.
    public static let schemaKey = "gpuflow.schema"

    /// State-dict keys PyTorch keeps that hold no weights (a counter of batches seen).
    static func ignorable(_ key: String) -> Bool { key.hasSuffix("num_batches_tracked") }

    /// `graph` with its weights taken from a state dict: every parameter must find its tensor,
    /// of its shape (in PyTorch's layout); with `strict`, every tensor of the file must find its
    /// parameter. Errors name the tensor, the parameter and both shapes.
    public static func load(
        into graph: GraphModel, from file: Safetensors.File, mapping: StateDictMapping, strict: Bool = true, source: String
    )
        throws -> GraphModel
    {
        let entries = try entries(graph, mapping: mapping)
        var model = graph
        model.schema = nil
        var used = Set<String>()
        for e in entries {
            let p = graph.parameters[e.parameter]
            guard let t = file[e.key] else {
                let near = file.tensors.map(\.name).filter {
                    $0.hasSuffix("." + (p.name.split(separator: ".").last.map(String.init) ?? ""))
                }
                throw DataError(
                    file: source,
                    "no tensor '\(e.key)' for parameter \(p.name) (layer \(p.layer)); the file has \(near.isEmpty ? file.tensors.map(\.name).prefix(12).joined(separator: ", ") : near.prefix(12).joined(separator: ", ")) — map the layer with mapping = {\(p.layer) = \"...\"} or mapping = \"sequential\""
                )
            }
            guard let values = t.values else {
                throw DataError(file: source, "tensor '\(e.key)' for parameter \(p.name) is \(t.dtype), not a floating-point tensor")
            }
            guard t.shape == e.torchShape else {
                throw DataError(
                    file: source,
                    "tensor '\(e.key)' has shape \(t.shape); parameter \(p.name) needs \(e.torchShape) in PyTorch's layout (gpuflow's \(p.shape))"
                )
            }
            model.parameters[e.parameter].values = fromTorch(values, e.layout)
            used.insert(e.key)
        }
        if let json = file.metadata[schemaKey], let schema = try? JSONDecoder().decode(ModelSchema.self, from: Data(json.utf8)),
            schema.featureNames.count == graph.inputShape.reduce(1, *),
            schema.preprocessing.allSatisfy({ $0.fits(columns: schema.featureNames.count) })
        {
            model.schema = schema
        }
        if strict, let extra = file.tensors.first(where: { !used.contains($0.name) && !ignorable($0.name) }) {
            throw DataError(
                file: source,
                "tensor '\(extra.name)' \(extra.shape) has no parameter in the model (strict = false leaves such tensors out)")
        }
        return model
    }
}
