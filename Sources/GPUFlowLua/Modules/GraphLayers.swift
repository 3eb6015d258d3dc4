import CLua
import CLuaShim
import GPUFlowCompute
import GPUFlowCore
import GPUFlowML

/// `nn.sequential{inputs = N | data = ds, seed = S, layer, ...}`: the layer descriptions made
/// by gpu.nn's constructors (plain tables, checked key by key where they were written) become a
/// `GraphModel` here, every shape checked as each layer is added; an error names the layer,
/// its position and the line that wrote it.
enum GraphLayers {
    /// One layer as described in Lua.
    indirect enum Spec {
        case linear(outputs: Int, bias: Bool, scheme: WeightInit)
        case activation(UnaryOp)
        case layerNorm(epsilon: Float)
        case dropout(p: Float)
        case flatten
        case conv2d(
            outputs: Int, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int), groups: Int, bias: Bool)
        case pool(ReduceOp, kernel: (Int, Int))
        case globalAvgPool
        case batchNorm(momentum: Float, epsilon: Float)
        /// tokens nil: the data set's vocabulary.
        case tokenEmbedding(tokens: Int?, dims: Int)
        /// context nil: the input's positions.
        case positionEmbedding(context: Int?, learned: Bool)
        case attention(heads: Int, causal: Bool, scheme: WeightInit)
        case transformerBlock(heads: Int, hidden: Int?, dropout: Float, causal: Bool, scheme: WeightInit)
        case residual([Described])
        /// Per categorical column to embed: its name and dims (nil: every column, `dims` each).
        case embedding(dims: Int?, perColumn: [String: Int], columns: [String]?)
    }

    struct Described {
        let spec: Spec
        let name: String?
        let kind: String
        let position: String
        let at: String?
    }

    static let maxLayers = 4096
    static let maxDepth = 16

    static func sequential(_ L: OpaquePointer, _ job: LuaJob) throws -> Int32 {
        let a = try LuaArgs(L, 1, function: "nn.sequential")
        let data: Dataset? = try a.object("data", kind: "dataset")
        let inputs = try inputShape(a, data: data)
        let seed = UInt64(try a.int("seed", default: 0, min: 0, max: .max))
        let layers = try a.positional(limit: maxLayers) { i in try describe(L, position: "layer \(i)", depth: 0) }
        try a.finish(positional: true)
        guard !layers.isEmpty else {
            throw LuaArgumentError("nn.sequential: no layers (give them in order: nn.sequential{inputs = 4, nn.linear{outputs = 8}, ...})")
        }
        var b = GraphBuilder(inputShape: inputs, seed: seed)
        try add(layers, to: &b, data: data)
        return try push(b.finished(), L, job, function: "nn.sequential")
    }

    /// `key = n` (both axes) or `key = {rows, columns}`, each from `min` to 1,024.
    private static func pair(_ a: LuaArgs, _ key: String, default value: Int, min: Int) throws -> (Int, Int) {
        a.pushField(key)
        defer { gf_pop(a.L, 1) }
        switch lua_type(a.L, -1) {
        case LUA_TNIL: return (value, value)
        case LUA_TTABLE:
            let list = try LuaArgs(a.L, -1, function: "\(a.function): \(key)")
            let v = try list.positional(limit: 2) { i -> Int in
                guard gf_isinteger(a.L, -1) != 0, case let n = Int(lua_tointegerx(a.L, -1, nil)), n >= min, n <= 1024 else {
                    throw LuaArgumentError("\(a.function): \(key)[\(i)] must be a whole number from \(min) to 1024")
                }
                return n
            }
            try list.finish(positional: true)
            guard v.count == 2 else { throw LuaArgumentError("\(a.function): \(key) = {rows, columns} takes two numbers") }
            return (v[0], v[1])
        default:
            guard gf_isinteger(a.L, -1) != 0, case let n = Int(lua_tointegerx(a.L, -1, nil)), n >= min, n <= 1024 else {
                throw LuaArgumentError("\(a.function): \(key) must be a whole number from \(min) to 1024, or {rows, columns}")
            }
            return (n, n)
        }
    }

    /// `inputs = N` (features per sample), `inputs = {C, H, W}` (a sample's shape) or the shape
    /// of `data`'s samples; both given, they must agree.
    private static func inputShape(_ a: LuaArgs, data: Dataset?) throws -> [Int] {
        var shape: [Int]?
        a.pushField("inputs")
        if lua_type(a.L, -1) == LUA_TTABLE {
            defer { gf_pop(a.L, 1) }
            let list = try LuaArgs(a.L, -1, function: "\(a.function): inputs")
            shape = try list.positional(limit: 8) { i in
                guard gf_isinteger(a.L, -1) != 0, case let v = Int(lua_tointegerx(a.L, -1, nil)), v >= 1, v <= 1 << 20 else {
                    throw LuaArgumentError("\(a.function): inputs[\(i)] must be a whole number from 1 to \(1 << 20)")
                }
                return v
            }
            try list.finish(positional: true)
            guard shape?.isEmpty == false else { throw LuaArgumentError("\(a.function): inputs = {} has no axes") }
        } else {
            gf_pop(a.L, 1)
            shape = try a.int("inputs", min: 1, max: 1 << 20).map { [$0] }
        }
        guard let shape = shape ?? data?.sampleShape else {
            throw LuaArgumentError("\(a.function): give inputs = N (features per sample), inputs = {C, H, W} or data = a data set")
        }
        let (elements, overflow) = shape.reduce((1, false)) { acc, d in
            let (p, o) = acc.0.multipliedReportingOverflow(by: d)
            return (p, acc.1 || o)
        }
        guard !overflow, elements <= 1 << 26 else {
            throw LuaArgumentError("\(a.function): a sample of shape \(shape) holds more than the 2^26 values this version takes")
        }
        if let data, data.sampleShape != shape {
            let given = shape.count == 1 ? "inputs = \(shape[0])" : "inputs = \(shape)"
            let has = data.sampleShape.count == 1 ? "\(data.cols) features" : "samples of shape \(data.sampleShape)"
            throw LuaArgumentError("\(a.function): \(given), but the data set has \(has)")
        }
        return shape
    }

    /// One node of the functional form, as gpu.nn's nn.graph lists them: a layer applied to an
    /// earlier value, or a join of several (0 is the input; node i is value i).
    struct TracedNode {
        enum Kind { case layer(Described), add, concat }
        let kind: Kind
        let inputs: [Int]
        let name: String?
        let at: String?
    }

    /// `nn.graph{...}` as gpu.nn hands it over: `nodes` in dependency order and `outputs`
    /// (node numbers); several outputs are joined along the last axis.
    static func graph(_ L: OpaquePointer, _ job: LuaJob) throws -> Int32 {
        let a = try LuaArgs(L, 1, function: "nn.graph")
        let data: Dataset? = try a.object("data", kind: "dataset")
        let inputs = try inputShape(a, data: data)
        let seed = UInt64(try a.int("seed", default: 0, min: 0, max: .max))
        guard a.has("nodes"), a.has("outputs") else { throw LuaArgumentError("nn.graph: build it with gpu.nn's nn.graph{output = ...}") }
        a.pushField("nodes")
        let nodes: [TracedNode]
        do {
            defer { gf_pop(L, 1) }
            let list = try LuaArgs(L, -1, function: "nn.graph: nodes")
            nodes = try list.positional(limit: maxLayers) { i in try traced(L, node: i) }
            try list.finish(positional: true)
        }
        a.pushField("outputs")
        let outputs: [Int]
        do {
            defer { gf_pop(L, 1) }
            let list = try LuaArgs(L, -1, function: "nn.graph: outputs")
            outputs = try list.positional(limit: maxLayers) { _ in try reference(L, before: nodes.count + 1, what: "nn.graph: an output") }
            try list.finish(positional: true)
        }
        try a.finish()
        guard !nodes.isEmpty, !outputs.isEmpty else { throw LuaArgumentError("nn.graph: no layers between the input and the output") }
        var b = GraphBuilder(inputShape: inputs, seed: seed)
        // A linear layer's initialization looks at the activation that reads it (He before ReLU-like ones).
        var readers: [Int: UnaryOp] = [:]
        for n in nodes {
            if case .layer(let d) = n.kind, case .activation(let f) = d.spec, let from = n.inputs.first {
                readers[from] = readers[from] ?? f
            }
        }
        var values: [GraphModel.Source] = [.input]
        for (i, n) in nodes.enumerated() {
            let position = "layer \(i + 1)"
            do {
                switch n.kind {
                case .layer(let d):
                    b.cursor = values[n.inputs[0]]
                    try add([d], to: &b, data: data, position: position, next: readers[i + 1])
                case .add: try b.add(n.inputs.map { values[$0] }, name: n.name)
                case .concat: try b.concat(n.inputs.map { values[$0] }, name: n.name)
                }
            } catch let e as LuaArgumentError {
                throw e
            } catch {
                let kind: String, at: String?
                switch n.kind {
                case .layer(let d): (kind, at) = (d.kind, d.at)
                case .add: (kind, at) = ("add", n.at)
                case .concat: (kind, at) = ("concat", n.at)
                }
                throw LuaArgumentError("nn.graph: \(position) (nn.\(kind)\(at.map { " at \($0)" } ?? "")): \(error)")
            }
            values.append(b.cursor)
        }
        if outputs.count > 1 {
            do { try b.concat(outputs.map { values[$0] }, name: "outputs") } catch {
                throw LuaArgumentError("nn.graph: the outputs cannot be joined side by side: \(error)")
            }
        } else {
            b.cursor = values[outputs[0]]
        }
        return try push(b.finished(), L, job, function: "nn.graph")
    }

    /// Node `node` of the list at the top of the stack.
    private static func traced(_ L: OpaquePointer, node i: Int) throws -> TracedNode {
        guard lua_type(L, -1) == LUA_TTABLE else { throw LuaArgumentError("nn.graph: node \(i) is not a table") }
        let a = try LuaArgs(L, -1, function: "nn.graph: node \(i)")
        let kind = try a.string("kind") ?? ""
        let name = try a.string("name"), at = try a.string("where")
        var layer: Described?
        if kind == "layer" {
            guard a.has("layer") else { throw LuaArgumentError("nn.graph: node \(i) has no layer") }
            a.pushField("layer")
            defer { gf_pop(L, 1) }
            layer = try describe(L, position: "layer \(i)", depth: 0, in: "nn.graph")
        }
        a.pushField("inputs")
        let inputs: [Int]
        do {
            defer { gf_pop(L, 1) }
            guard lua_type(L, -1) == LUA_TTABLE else { throw LuaArgumentError("nn.graph: node \(i) has no inputs") }
            let list = try LuaArgs(L, -1, function: "nn.graph: node \(i) inputs")
            inputs = try list.positional(limit: 1024) { _ in try reference(L, before: i, what: "nn.graph: node \(i)'s input") }
            try list.finish(positional: true)
        }
        try a.finish()
        switch kind {
        case "layer":
            guard let layer, inputs.count == 1 else { throw LuaArgumentError("nn.graph: node \(i) applies a layer to one value") }
            return TracedNode(kind: .layer(layer), inputs: inputs, name: name, at: at)
        case "add", "concat":
            guard inputs.count >= 2 else { throw LuaArgumentError("nn.graph: node \(i) joins two or more values") }
            return TracedNode(kind: kind == "add" ? .add : .concat, inputs: inputs, name: name, at: at)
        default:
            throw LuaArgumentError("nn.graph: node \(i) is of unknown kind '\(kind)'")
        }
    }

    /// A value number at the top of the stack: the input (0) or an earlier node (below `before`).
    private static func reference(_ L: OpaquePointer, before: Int, what: String) throws -> Int {
        guard gf_isinteger(L, -1) != 0 else { throw LuaArgumentError("\(what) is not a value number") }
        let v = Int(lua_tointegerx(L, -1, nil))
        guard v >= 0, v < before else { throw LuaArgumentError("\(what) refers to value \(v), which does not come before it") }
        return v
    }

    /// The finished graph, within the size this version allows and the job's memory, as a model object.
    private static func push(_ model: GraphModel, _ L: OpaquePointer, _ job: LuaJob, function: String) throws -> Int32 {
        guard model.parameterCount <= 50_000_000 else {
            throw LuaArgumentError("\(function): \(model.parameterCount) parameters is more than the 50M this version allows")
        }
        try job.chargeElements(model.parameterCount, what: function)
        LuaObjects.push(L, GraphNetwork(model))
        return 1
    }

    private static func add(
        _ layers: [Described], to b: inout GraphBuilder, data: Dataset?, position: String? = nil, next after: UnaryOp? = nil
    )
        throws
    {
        for (i, d) in layers.enumerated() {
            do {
                switch d.spec {
                case .linear(let outputs, let bias, let scheme):
                    // He-normal weights when a ReLU-like activation follows, Xavier otherwise.
                    var next: UnaryOp? = i + 1 == layers.count ? after : nil
                    if i + 1 < layers.count, case .activation(let f) = layers[i + 1].spec { next = f }
                    try b.linear(outputs: outputs, bias: bias, init: next, scheme: scheme, name: d.name)
                case .activation(let f): try b.activation(f, name: d.name)
                case .layerNorm(let eps): try b.layerNorm(epsilon: eps, name: d.name)
                case .dropout(let p): try b.dropout(p: p, name: d.name)
                case .flatten: try b.flatten(name: d.name)
                case .conv2d(let outputs, let kernel, let stride, let padding, let dilation, let groups, let bias):
                    var next: UnaryOp? = i + 1 == layers.count ? after : nil
                    if i + 1 < layers.count, case .activation(let f) = layers[i + 1].spec { next = f }
                    try b.conv2d(
                        outputs: outputs, kernel: kernel, stride: stride, padding: padding, dilation: dilation, groups: groups, bias: bias,
                        init: next,
                        name: d.name)
                case .pool(let reduce, let kernel): try b.pool2d(reduce, kernel: kernel, name: d.name)
                case .globalAvgPool: try b.globalAvgPool(name: d.name)
                case .batchNorm(let m, let eps): try b.batchNorm(momentum: m, epsilon: eps, name: d.name)
                case .tokenEmbedding(let tokens, let dims):
                    guard let n = tokens ?? data?.vocabulary?.count else {
                        throw DataError(
                            "give tokens = N, or the model data = ds with a text data set (data.text) whose vocabulary it takes")
                    }
                    try b.tokenEmbedding(tokens: n, dims: dims, name: d.name)
                case .positionEmbedding(let context, let learned):
                    try b.positionEmbedding(context: context, learned: learned, name: d.name)
                case .attention(let heads, let causal, let scheme):
                    try b.attention(heads: heads, causal: causal, scheme: scheme, name: d.name)
                case .transformerBlock(let heads, let hidden, let p, let causal, let scheme):
                    try b.transformerBlock(heads: heads, hidden: hidden, dropout: p, causal: causal, scheme: scheme, name: d.name)
                case .residual(let body):
                    try b.residual(name: d.name) { r in try add(body, to: &r, data: data, position: position) }
                case .embedding(let dims, let perColumn, let names):
                    guard let data else { throw DataError("an embedding needs the data set: give the model data = ds") }
                    let known = Dictionary(data.categories.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
                    guard !data.categories.isEmpty else { throw DataError("data set \(data.source) has no categorical columns to embed") }
                    let chosen = names ?? (perColumn.isEmpty ? data.categories.map(\.name) : Array(perColumn.keys))
                    let columns = try chosen.map { n -> (column: Int, cardinality: Int, dims: Int, name: String) in
                        guard let c = known[n] else {
                            throw DataError(
                                "'\(n)' is not a categorical column of \(data.source) (they are: \(data.categories.map(\.name).joined(separator: ", ")))"
                            )
                        }
                        guard let k = perColumn[n] ?? dims else { throw DataError("no dims for column '\(n)'") }
                        return (c.column, c.values.count, k, n)
                    }
                    try b.embedding(columns, name: d.name)
                }
            } catch let e as LuaArgumentError {
                throw e
            } catch  where position == nil {
                throw LuaArgumentError("nn.sequential: \(d.position) (nn.\(d.kind)\(d.at.map { " at \($0)" } ?? "")): \(error)")
            }
        }
    }

    /// The layer table at the top of the stack.
    private static func describe(_ L: OpaquePointer, position: String, depth: Int, in function: String = "nn.sequential") throws
        -> Described
    {
        guard depth < maxDepth else { throw LuaArgumentError("\(function): residuals nest deeper than \(maxDepth)") }
        guard lua_type(L, -1) == LUA_TTABLE else {
            throw LuaArgumentError(
                "\(function): \(position) is a \(LuaStack.typeName(L, -1)), not a layer (make layers with nn.linear{...}, nn.relu{}, ...)"
            )
        }
        let first = try LuaArgs(L, -1, function: "\(function): \(position)")
        guard let kind = try first.string("layer") else {
            throw LuaArgumentError("\(function): \(position) is a table, not a layer (make layers with nn.linear{...}, nn.relu{}, ...)")
        }
        let where_ = try first.string("where")
        let label = "\(function): \(position) (nn.\(kind)\(where_.map { " at \($0)" } ?? ""))"
        // Read again under a name that says which layer and where it was written.
        let a = try LuaArgs(L, -1, function: label)
        _ = try a.string("layer")
        let name = try a.string("name"), at = try a.string("where")
        let spec: Spec
        switch kind {
        case "linear":
            guard let outputs = try a.int("outputs", min: 1, max: 1 << 20) else { throw LuaArgumentError("\(label): outputs is required") }
            spec = .linear(outputs: outputs, bias: try a.bool("bias") ?? true, scheme: try a.choice("init") ?? .auto)
        case "relu": spec = .activation(.relu)
        case "flatten": spec = .flatten
        case "conv2d":
            guard let outputs = try a.int("outputs", min: 1, max: 1 << 16) else { throw LuaArgumentError("\(label): outputs is required") }
            guard a.has("kernel") else { throw LuaArgumentError("\(label): kernel is required (3, or {3, 5})") }
            spec = .conv2d(
                outputs: outputs, kernel: try pair(a, "kernel", default: 1, min: 1), stride: try pair(a, "stride", default: 1, min: 1),
                padding: try pair(a, "padding", default: 0, min: 0), dilation: try pair(a, "dilation", default: 1, min: 1),
                groups: try a.int("groups", default: 1, min: 1, max: 1 << 16), bias: try a.bool("bias") ?? true)
        case "max_pool2d", "avg_pool2d":
            guard a.has("kernel") else { throw LuaArgumentError("\(label): kernel is required (2, or {2, 3})") }
            let kernel = try pair(a, "kernel", default: 2, min: 1)
            // This version pools with stride = kernel, PyTorch's default; another stride is refused, not ignored.
            if a.has("stride"), try pair(a, "stride", default: 0, min: 1) != kernel {
                throw LuaArgumentError("\(label): stride must equal kernel in this version (non-overlapping windows)")
            }
            spec = .pool(kind == "max_pool2d" ? .max : .mean, kernel: kernel)
        case "global_avg_pool": spec = .globalAvgPool
        case "batch_norm":
            spec = .batchNorm(
                momentum: Float(try a.double("momentum", default: 0.1, min: 0, max: 1)),
                epsilon: Float(try a.double("eps", default: 1e-5, min: 0, max: 1, exclusiveMin: true)))
        case "token_embedding":
            guard let dims = try a.int("dims", min: 1, max: 1 << 16) else { throw LuaArgumentError("\(label): dims is required") }
            spec = .tokenEmbedding(tokens: try a.int("tokens", min: 1, max: 1 << 20), dims: dims)
        case "position_embedding":
            let kind = try a.string("kind") ?? "learned"
            guard kind == "learned" || kind == "sinusoidal" else {
                throw LuaArgumentError("\(label): kind must be \"learned\" or \"sinusoidal\", got '\(kind)'")
            }
            spec = .positionEmbedding(context: try a.int("context", min: 1, max: 4096), learned: kind == "learned")
        case "attention":
            guard let heads = try a.int("heads", min: 1, max: 1024) else { throw LuaArgumentError("\(label): heads is required") }
            spec = .attention(heads: heads, causal: try a.bool("causal") ?? true, scheme: try a.choice("init") ?? .auto)
        case "transformer_block":
            guard let heads = try a.int("heads", min: 1, max: 1024) else { throw LuaArgumentError("\(label): heads is required") }
            let p = try a.double("dropout", default: 0, min: 0, max: 1)
            guard p < 1 else { throw LuaArgumentError("\(label): dropout must be below 1, got \(p)") }
            spec = .transformerBlock(
                heads: heads, hidden: try a.int("hidden", min: 1, max: 1 << 20), dropout: Float(p), causal: try a.bool("causal") ?? true,
                scheme: try a.choice("init") ?? .auto)
        case "silu": spec = .activation(.silu)
        case "sigmoid": spec = .activation(.sigmoid)
        case "tanh": spec = .activation(.tanh)
        case "gelu":
            switch try a.string("approximate") {
            case nil, "none": spec = .activation(.gelu)
            case "tanh": spec = .activation(.geluTanh)
            case let other?: throw LuaArgumentError("\(label): approximate must be \"none\" or \"tanh\", got '\(other)'")
            }
        case "leaky_relu": spec = .activation(.leakyRelu(slope: Float(try a.double("slope", default: 0.01, min: 0, max: 1))))
        case "layer_norm": spec = .layerNorm(epsilon: Float(try a.double("eps", default: 1e-5, min: 0, max: 1, exclusiveMin: true)))
        case "dropout":
            guard let p = try a.double("p", min: 0, max: 1) else {
                throw LuaArgumentError("\(label): p is required (the share of units dropped)")
            }
            guard p < 1 else { throw LuaArgumentError("\(label): p must be below 1, got \(p)") }
            spec = .dropout(p: Float(p))
        case "embedding":
            var dims: Int?, perColumn: [String: Int] = [:]
            a.pushField("dims")
            if lua_type(L, -1) == LUA_TNUMBER {
                gf_pop(L, 1)
                dims = try a.int("dims", min: 1, max: 4096)
            } else if lua_type(L, -1) == LUA_TTABLE {
                let t = try LuaArgs(L, -1, function: "\(label): dims")
                var keys: [String] = []
                lua_pushnil(L)
                while lua_next(L, t.index) != 0 {
                    gf_pop(L, 1)
                    if let k = LuaStack.string(L, -1), lua_type(L, -1) == LUA_TSTRING { keys.append(k) }
                    guard keys.count <= 1024 else {
                        gf_pop(L, 2)  // the key and the dims table
                        throw LuaArgumentError("\(label): dims names more than 1,024 columns")
                    }
                }
                for k in keys { perColumn[k] = try t.int(k, min: 1, max: 4096) }
                try t.finish()
                gf_pop(L, 1)
            } else {
                gf_pop(L, 1)
                throw LuaArgumentError("\(label): dims is required (a number, or a table of column = dims)")
            }
            var columns: [String]?
            if a.has("columns") {
                a.pushField("columns")
                defer { gf_pop(L, 1) }
                let list = try LuaArgs(L, -1, function: "\(label): columns")
                columns = try list.positional(limit: 1024) { _ in
                    guard let n = LuaStack.string(L, -1), lua_type(L, -1) == LUA_TSTRING else {
                        throw LuaArgumentError("\(label): columns must list column names")
                    }
                    return n
                }
                try list.finish(positional: true)
            }
            spec = .embedding(dims: dims, perColumn: perColumn, columns: columns)
        case "residual":
            let body = try a.positional(limit: maxLayers) { i in
                try describe(L, position: "\(position).\(i)", depth: depth + 1, in: function)
            }
            guard !body.isEmpty else { throw LuaArgumentError("\(label): a residual needs at least one layer") }
            spec = .residual(body)
        default:
            throw LuaArgumentError("nn.sequential: \(position) is an unknown layer '\(kind)'")
        }
        try a.finish(positional: kind == "residual")
        return Described(spec: spec, name: name, kind: kind, position: position, at: at)
    }
}
