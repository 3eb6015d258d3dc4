import CLua
import CLuaShim
import Foundation
import GPUFlowCompute
import GPUFlowCore
import GPUFlowML

/// The userdata types scripts hold (models, data sets, tensors, task descriptors) and the
/// functions of `gpu.nn` and `gpu.data` that make them.
enum ObjectTypes {
    static func registerMetatables(_ L: OpaquePointer) {
        LuaObjects.register(
            L, name: "gpu.model", index: modelIndex,
            methods: [
                (
                    "save",
                    { L in
                        LuaBinding.call(L) { L, job in
                            guard let m: MLPModel = LuaObjects.object(L, 1) else {
                                throw LuaArgumentError("model:save: call it as a method, model:save(path)")
                            }
                            guard let path = LuaStack.string(L, 2) else {
                                throw LuaArgumentError("model:save: expected a file path, got \(LuaStack.typeName(L, 2))")
                            }
                            let file = try job.allowedPath(path, write: true, what: "model:save")
                            // .safetensors: the MLP's graph in the version-2 layout other tools read.
                            if file.hasSuffix(".safetensors") {
                                let g = GraphNetwork(try GraphModel(mlp: m))
                                try g.save(to: file)
                                LuaStack.push(L, g.objectID)
                                return 1
                            }
                            try ModelFile.save(m, to: file)
                            LuaStack.push(L, m.objectID)
                            return 1
                        }
                    }
                ),
                // model:as_graph(): the MLP as the graph it is (dense1, dense2, ...: matmul and the
                // fused bias + activation), which trains to the MLP's bits.
                (
                    "as_graph",
                    { L in
                        LuaBinding.call(L) { L, _ in
                            guard let m: MLPModel = LuaObjects.object(L, 1) else {
                                throw LuaArgumentError("model:as_graph: call it as a method, model:as_graph()")
                            }
                            LuaObjects.push(L, GraphNetwork(try GraphModel(mlp: m)))
                            return 1
                        }
                    }
                ),
                (
                    "parameter",
                    { L in
                        LuaBinding.call(L) { L, job in
                            guard let m: MLPModel = LuaObjects.object(L, 1) else {
                                throw LuaArgumentError("model:parameter: call it as a method, model:parameter(name)")
                            }
                            return try ObjectTypes.pushParameter(L, job, graph: try GraphModel(mlp: m))
                        }
                    }
                ),
            ] + ModelInterop.methods)
        LuaObjects.register(
            L, name: "gpu.graph", index: graphIndex,
            methods: [
                // model:parameter("linear1.weight"): a copy of the values, as a gpu.tensor of its shape.
                (
                    "parameter",
                    { L in
                        LuaBinding.call(L) { L, job in
                            guard let m: GraphNetwork = LuaObjects.object(L, 1) else {
                                throw LuaArgumentError("model:parameter: call it as a method, model:parameter(name)")
                            }
                            return try ObjectTypes.pushParameter(L, job, graph: m.graph)
                        }
                    }
                ),
                (
                    "save",
                    { L in
                        LuaBinding.call(L) { L, job in
                            guard let m: GraphNetwork = LuaObjects.object(L, 1) else {
                                throw LuaArgumentError("model:save: call it as a method, model:save(path)")
                            }
                            guard let path = LuaStack.string(L, 2) else {
                                throw LuaArgumentError("model:save: expected a file path, got \(LuaStack.typeName(L, 2))")
                            }
                            try m.save(to: try job.allowedPath(path, write: true, what: "model:save"))
                            LuaStack.push(L, m.objectID)
                            return 1
                        }
                    }
                ),
            ] + ModelInterop.methods)
        LuaObjects.register(
            L, name: "gpu.dataset", index: datasetIndex,
            methods: [
                ("standardize", { L in LuaBinding.call(L) { L, job in try ObjectTypes.standardize(L, job) } }),
                ("split", { L in LuaBinding.call(L) { L, job in try ObjectTypes.split(L, job) } }),
                (
                    "reshape",
                    { L in
                        LuaBinding.call(L) { L, _ in
                            let d = try ObjectTypes.dataset(L, "dataset.reshape")
                            guard case .array(let dims) = try LuaStack.read(L, 2, what: "dataset:reshape"), !dims.isEmpty, dims.count <= 8
                            else {
                                throw LuaArgumentError("dataset:reshape: give a sample's shape, e.g. ds:reshape{1, 8, 8}")
                            }
                            let shape = try dims.enumerated().map { i, v -> Int in
                                guard let x = v.doubleValue, x >= 1, x <= Double(1 << 20), x == x.rounded() else {
                                    throw LuaArgumentError("dataset:reshape: axis \(i + 1) must be a whole number from 1")
                                }
                                return Int(x)
                            }
                            LuaObjects.push(L, try d.reshaped(shape))
                            return 1
                        }
                    }
                ),
                (
                    "one_hot",
                    { L in
                        LuaBinding.call(L) { L, job in
                            let d = try ObjectTypes.dataset(L, "dataset.one_hot")
                            guard let k = d.classCount, k > 0 else {
                                throw LuaArgumentError("dataset:one_hot: the labels of \(d.source) are not class indices")
                            }
                            let (cells, overflow) = d.rows.multipliedReportingOverflow(by: k)
                            try job.chargeElements(overflow ? Int.max / 4 + 1 : cells, what: "dataset:one_hot")
                            var values = [Float](repeating: 0, count: d.rows * k)
                            for (r, l) in d.labels.enumerated() { values[r * k + Int(l)] = 1 }
                            LuaObjects.push(L, HostTensor(values: values, shape: [d.rows, k]))
                            return 1
                        }
                    }
                ),
                (
                    "normalize",
                    { L in
                        LuaBinding.call(L) { L, job in
                            let d = try ObjectTypes.dataset(L, "dataset.normalize")
                            try ObjectTypes.refuseScaling(d, "dataset:normalize")
                            try job.chargeElements(d.features.count + d.labels.count, what: "dataset:normalize")
                            let a = try LuaArgs(L, 2, function: "dataset:normalize", optional: true)
                            let using: Dataset? = try a.object("using", kind: "dataset")
                            try a.finish()
                            if let using, using.cols != d.cols {
                                throw LuaArgumentError("dataset:normalize: 'using' has \(using.cols) features, this set has \(d.cols)")
                            }
                            LuaObjects.push(L, d.normalized(using: using))
                            return 1
                        }
                    }
                ),
            ])
        LuaObjects.register(
            L, name: "gpu.tensor", index: tensorIndex,
            methods: [
                (
                    "size",
                    { L in
                        LuaBinding.call(L) { L, _ in
                            lua_pushinteger(L, lua_Integer(try ObjectTypes.tensor(L).values.count)); return 1
                        }
                    }
                ),
                (
                    "sum",
                    { L in
                        LuaBinding.call(L) { L, _ in
                            lua_pushnumber(L, Double(try ObjectTypes.tensor(L).values.reduce(0, +))); return 1
                        }
                    }
                ),
                (
                    "mean",
                    { L in
                        LuaBinding.call(L) { L, _ in
                            let t = try ObjectTypes.tensor(L)
                            lua_pushnumber(L, t.values.isEmpty ? 0 : Double(t.values.reduce(0, +)) / Double(t.values.count))
                            return 1
                        }
                    }
                ),
                (
                    "to_table",
                    { L in
                        LuaBinding.call(L) { L, job in
                            let values = try ObjectTypes.tensor(L).values
                            // A binding's own Lua allocations are not refused as they happen (that would
                            // longjmp through Swift): the table's size is checked against the budget first.
                            try job.chargeElements(values.count, what: "tensor:to_table", bytesPerElement: 16)
                            LuaStack.push(L, floats: values)
                            return 1
                        }
                    }
                ),
            ],
            metamethods: [
                (
                    "__len",
                    { L in
                        LuaBinding.call(L) { L, _ in
                            lua_pushinteger(L, lua_Integer(try ObjectTypes.tensor(L).values.count)); return 1
                        }
                    }
                )
            ])
        LuaObjects.register(L, name: "gpu.task", index: nil, methods: [])
        LuaObjects.register(L, name: "gpu.algorithm", index: nil, methods: [])
        LuaObjects.register(L, name: "gpu.pattern", index: nil, methods: [])
    }

    static let functions: [(String, gf_swift_fn)] = [
        ("nn_mlp", { L in LuaBinding.call(L) { L, job in try mlp(L, job) } }),
        ("nn_sequential", { L in LuaBinding.call(L) { L, job in try GraphLayers.sequential(L, job) } }),
        ("nn_graph", { L in LuaBinding.call(L) { L, job in try GraphLayers.graph(L, job) } }),
        (
            "nn_load",
            { L in
                LuaBinding.call(L) { L, job in
                    guard let path = LuaStack.string(L, 1) else {
                        throw LuaArgumentError("nn.load: expected a file path, got \(LuaStack.typeName(L, 1))")
                    }
                    // Factor 3: a state dict of F16 or BF16 becomes float32 beside the bytes read.
                    let file = try job.readablePath(path, what: "nn.load", factor: 3)
                    // With options: a PyTorch state dict in the architecture they name.
                    if lua_type(L, 2) > LUA_TNIL {
                        LuaObjects.push(L, try ModelInterop.loadStateDict(L, job, path: path, file: file))
                        return 1
                    }
                    // A version-2 file (safetensors, a graph) or a version-1 .gfmodel (an MLP).
                    LuaObjects.push(L, try ModelFiles.load(path: file))
                    return 1
                }
            }
        ),
        ("data_csv", { L in LuaBinding.call(L) { L, job in try csv(L, job) } }),
        ("data_blobs", { L in LuaBinding.call(L) { L, job in try blobs(L, job) } }),
        ("data_spirals", { L in LuaBinding.call(L) { L, job in try spirals(L, job) } }),
        ("data_from_table", { L in LuaBinding.call(L) { L, _ in try fromTable(L) } }),
        (
            "data_npy",
            { L in
                LuaBinding.call(L) { L, job in
                    guard let path = LuaStack.string(L, 1) else {
                        throw LuaArgumentError("data.npy: expected a file path, got \(LuaStack.typeName(L, 1))")
                    }
                    let a = try LuaArgs(L, 2, function: "data.npy", optional: true)
                    let labelsPath = try a.string("labels")
                    try a.finish()
                    let x = try BinaryLoaders.npy(path: try job.readablePath(path, what: "data.npy", factor: 5))
                    let y = try labelsPath.map { try BinaryLoaders.npy(path: try job.readablePath($0, what: "data.npy", factor: 5)) }
                    LuaObjects.push(
                        L, try BinaryLoaders.dataset(features: x, labels: y, source: URL(fileURLWithPath: path).lastPathComponent))
                    return 1
                }
            }
        ),
        (
            "data_idx",
            { L in
                LuaBinding.call(L) { L, job in
                    let a = try LuaArgs(L, 1, function: "data.idx")
                    guard let images = try a.string("images") else { throw LuaArgumentError("data.idx: images is required (an IDX file)") }
                    guard let labels = try a.string("labels") else { throw LuaArgumentError("data.idx: labels is required (an IDX file)") }
                    try a.finish()
                    let x = try BinaryLoaders.idx(path: try job.readablePath(images, what: "data.idx", factor: 5))
                    let y = try BinaryLoaders.idx(path: try job.readablePath(labels, what: "data.idx", factor: 5))
                    LuaObjects.push(
                        L,
                        try BinaryLoaders.dataset(
                            features: x, labels: y, source: URL(fileURLWithPath: images).lastPathComponent, images: true))
                    return 1
                }
            }
        ),
        (
            "data_images",
            { L in
                LuaBinding.call(L) { L, job in
                    guard let folder = LuaStack.string(L, 1), lua_type(L, 1) == LUA_TSTRING else {
                        throw LuaArgumentError("data.images: expected a folder path, got \(LuaStack.typeName(L, 1))")
                    }
                    let a = try LuaArgs(L, 2, function: "data.images", optional: true)
                    let channels = try a.int("channels", default: 1, min: 1, max: 3)
                    try a.finish()
                    let root = try job.allowedPath(folder, write: false, what: "data.images")
                    let ds = try ImageFolder.load(
                        folder: root, channels: channels,
                        resolve: { try job.allowedPath($0, write: false, what: "data.images") },
                        charge: { try job.chargeElements($0, what: "data.images of \(folder)") })
                    LuaObjects.push(L, ds)
                    return 1
                }
            }
        ),
        (
            "data_text",
            { L in
                LuaBinding.call(L) { L, job in
                    guard let path = LuaStack.string(L, 1), lua_type(L, 1) == LUA_TSTRING else {
                        throw LuaArgumentError("data.text: expected a file path, got \(LuaStack.typeName(L, 1))")
                    }
                    let a = try LuaArgs(L, 2, function: "data.text", optional: true)
                    let level: TokenVocabulary.Level = try a.choice("level") ?? .char
                    let context = try a.int("context", default: 128, min: 1, max: 4096)
                    let stride = try a.int("stride", min: 1, max: 1 << 20)
                    try a.finish()
                    // Each token is a float in `context / stride` windows, twice (inputs and targets).
                    let file = try job.readablePath(path, what: "data.text", factor: 16 + 8 * max(1, context / (stride ?? context)))
                    LuaObjects.push(L, try TextCorpus.load(path: file, level: level, context: context, stride: stride))
                    return 1
                }
            }
        ),
        ("tensor", { L in LuaBinding.call(L) { L, job in try makeTensor(L, job) } }),
    ]

    // MARK: models

    private static func mlp(_ L: OpaquePointer, _ job: LuaJob) throws -> Int32 {
        let a = try LuaArgs(L, 1, function: "nn.mlp")
        guard let inputs = try a.int("inputs", min: 1, max: 1 << 20) else { throw LuaArgumentError("nn.mlp: inputs is required") }
        guard let outputs = try a.int("outputs", min: 1, max: 1 << 20) else { throw LuaArgumentError("nn.mlp: outputs is required") }
        let hidden = try a.intList("hidden", min: 1, max: 1 << 20) ?? []
        let activation: Activation
        if let name = try a.string("activation") {
            guard let act = Activation(rawValue: name), act != .identity else {
                throw LuaArgumentError("nn.mlp: activation must be one of relu | tanh | sigmoid | gelu, got '\(name)'")
            }
            activation = act
        } else {
            activation = .relu
        }
        let seed = try a.int("seed", min: 0, max: .max).map(UInt64.init) ?? job.nextSeed()
        try a.finish()
        let params = zip([inputs] + hidden, hidden + [outputs]).reduce(0) { $0 + $1.0 * $1.1 + $1.1 }
        guard params <= 50_000_000 else { throw LuaArgumentError("nn.mlp: \(params) parameters is more than the 50M this version allows") }
        try job.chargeElements(params, what: "nn.mlp")
        LuaObjects.push(L, MLPModel(inputs: inputs, hidden: hidden, outputs: outputs, activation: activation, seed: seed))
        return 1
    }

    /// model:parameter(name) at stack index 2: a copy of the values, as a gpu.tensor of its shape.
    private static func pushParameter(_ L: OpaquePointer, _ job: LuaJob, graph: GraphModel) throws -> Int32 {
        guard let name = LuaStack.string(L, 2), lua_type(L, 2) == LUA_TSTRING else {
            throw LuaArgumentError("model:parameter: expected a parameter name, got \(LuaStack.typeName(L, 2))")
        }
        guard let p = graph.parameters.first(where: { $0.name == name }) else {
            throw LuaArgumentError(
                "model:parameter: no parameter '\(name)' (the model has: \(graph.parameters.map(\.name).joined(separator: ", ")))")
        }
        try job.chargeElements(p.values.count, what: "model:parameter")
        LuaObjects.push(L, HostTensor(values: p.values, shape: p.shape))
        return 1
    }

    private static let modelIndex: gf_swift_fn = { L in
        LuaBinding.call(L) { L, _ in
            ObjectTypes.index(L) { (m: MLPModel, key) -> TaskValue? in
                switch key {
                case "id": return .string(m.objectID)
                case "inputs": return .integer(m.inputs)
                case "outputs": return .integer(m.outputs)
                case "hidden": return .array(m.hidden.map { .integer($0) })
                case "parameters": return .integer(m.parameterCount)
                case "activation": return .string(m.layers.first?.activation.rawValue ?? "identity")
                // Its graph's layer names: dense1, dense2, ... (what freeze names).
                case "layers": return .array(m.layers.indices.map { .string("dense\($0 + 1)") })
                default: return nil
                }
            }
        }
    }

    private static let graphIndex: gf_swift_fn = { L in
        LuaBinding.call(L) { L, _ in
            ObjectTypes.index(L) { (m: GraphNetwork, key) -> TaskValue? in
                switch key {
                case "id": return .string(m.objectID)
                case "inputs": return .integer(m.inputs)
                case "outputs": return .integer(m.outputs)
                case "parameters": return .integer(m.parameterCount)
                case "layers": return .array(m.layers.map { .string($0) })
                default: return nil
                }
            }
        }
    }

    /// `__index` of userdata with properties: the property's value, else the method of that name.
    private static func index<T>(_ L: OpaquePointer, _ property: (T, String) -> TaskValue?) -> Int32 {
        guard let object: T = LuaObjects.object(L, 1), let key = LuaStack.string(L, 2) else {
            lua_pushnil(L)
            return 1
        }
        if let value = property(object, key) {
            LuaStack.push(L, value)
        } else {
            LuaObjects.pushMethod(L, key)
        }
        return 1
    }

    // MARK: data sets

    /// Resolves a data path against the working directory, then the script's folder.
    static func resolve(_ path: String, _ job: LuaJob) -> String {
        if path.hasPrefix("/") || FileManager.default.fileExists(atPath: path) { return path }
        let beside = URL(fileURLWithPath: job.request.path).deletingLastPathComponent().appendingPathComponent(path).path
        return FileManager.default.fileExists(atPath: beside) ? beside : path
    }

    /// data.csv(path, {label = "name" | n, delimiter = ";", header = false, missing = "drop" | "mean", na = {"NA", "?"}})
    private static func csv(_ L: OpaquePointer, _ job: LuaJob) throws -> Int32 {
        guard let path = LuaStack.string(L, 1) else {
            throw LuaArgumentError("data.csv: expected a file path, got \(LuaStack.typeName(L, 1))")
        }
        let a = try LuaArgs(L, 2, function: "data.csv", optional: true)
        var options = CSVOptions()
        a.pushField("label")
        switch lua_type(L, -1) {
        case LUA_TNIL: break
        case LUA_TSTRING: options.label = .name(LuaStack.string(L, -1) ?? "")
        case LUA_TNUMBER where gf_isinteger(L, -1) != 0 && lua_tointegerx(L, -1, nil) >= 1:
            options.label = .index(Int(lua_tointegerx(L, -1, nil)) - 1)
        default: throw a.fail("label", "a column name or a 1-based column number")
        }
        gf_pop(L, 1)
        if let d = try a.string("delimiter") {
            guard let b = try? CSVOptions.delimiter(d) else {
                throw LuaArgumentError(
                    "data.csv: delimiter must be one character other than a quote, a space or a line break (',' ';' '\\t' '|'), got '\(d)'")
            }
            options.delimiter = b
        }
        options.header = try a.bool("header") ?? true
        if let m = try a.string("missing") {
            guard let policy = CSVOptions.Missing(rawValue: m) else {
                throw LuaArgumentError("data.csv: missing must be \"error\", \"drop\" or \"mean\", got '\(m)'")
            }
            options.missing = policy
        }
        if let na = try a.stringList("na") { options.missingMarkers = na }
        try a.finish()
        LuaObjects.push(L, try CSVLoader.load(path: try job.readablePath(path, what: "data.csv", factor: 3), options: options))
        return 1
    }

    private static func blobs(_ L: OpaquePointer, _ job: LuaJob) throws -> Int32 {
        let a = try LuaArgs(L, 1, function: "data.blobs", optional: true)
        let samples = try a.int("samples", default: 300, min: 1, max: 10_000_000),
            features = try a.int("features", default: 2, min: 1, max: 100_000)
        let centers = try a.int("centers", default: 3, min: 2, max: 100_000)
        // The rows, their labels and the centres (centers × features floats) are all allocated.
        try job.chargeElements(samples * (features + 1) + centers * features, what: "data.blobs")
        let d = try Generators.blobs(
            samples: samples,
            features: features,
            centers: centers,
            spread: Float(try a.double("spread", default: 1, min: 0)),
            seed: try a.int("seed", min: 0, max: .max).map(UInt64.init) ?? job.nextSeed())
        try a.finish()
        LuaObjects.push(L, d)
        return 1
    }

    private static func spirals(_ L: OpaquePointer, _ job: LuaJob) throws -> Int32 {
        let a = try LuaArgs(L, 1, function: "data.spirals", optional: true)
        let samples = try a.int("samples", default: 300, min: 1, max: 10_000_000)
        try job.chargeElements(samples * 3, what: "data.spirals")
        let d = try Generators.spirals(
            samples: samples,
            classes: try a.int("classes", default: 2, min: 2, max: 1000),
            noise: Float(try a.double("noise", default: 0.1, min: 0)),
            seed: try a.int("seed", min: 0, max: .max).map(UInt64.init) ?? job.nextSeed())
        try a.finish()
        LuaObjects.push(L, d)
        return 1
    }

    /// A list of equally long lists of finite numbers, flattened row by row, and its width;
    /// `name[i][j]` in the errors.
    private static func matrix(_ rows: [TaskValue], name: String, what: String) throws -> ([Float], Int) {
        var out: [Float] = []
        var width = -1
        for (i, row) in rows.enumerated() {
            guard case .array(let cells) = row else {
                throw LuaArgumentError("data.from_table: \(name)[\(i + 1)] must be a list of numbers")
            }
            if width < 0 { width = cells.count }
            guard cells.count == width, width > 0 else {
                throw LuaArgumentError("data.from_table: \(name)[\(i + 1)] has \(cells.count) \(what), the first row has \(width)")
            }
            for (j, c) in cells.enumerated() {
                guard let v = c.doubleValue else { throw LuaArgumentError("data.from_table: \(name)[\(i + 1)][\(j + 1)] is not a number") }
                out.append(try finite(v, "\(name)[\(i + 1)][\(j + 1)]"))
            }
        }
        return (out, width)
    }

    /// data.from_table{features = {{...}, ...}, labels = {...}}
    private static func fromTable(_ L: OpaquePointer) throws -> Int32 {
        let a = try LuaArgs(L, 1, function: "data.from_table")
        a.pushField("features")
        guard case .array(let rows) = try LuaStack.read(L, -1, what: "data.from_table: features"), !rows.isEmpty else {
            throw a.fail("features", "a non-empty list of rows")
        }
        gf_pop(L, 1)
        a.pushField("labels")
        guard case .array(let labels) = try LuaStack.read(L, -1, what: "data.from_table: labels") else {
            throw a.fail("labels", "a list of numbers")
        }
        gf_pop(L, 1)
        try a.finish()
        let (x, cols) = try matrix(rows, name: "features", what: "values")
        guard labels.count == rows.count else {
            throw LuaArgumentError("data.from_table: \(labels.count) labels for \(rows.count) rows")
        }
        // A list of numbers (one label per row) or a list of lists (several targets per row).
        if case .array = labels.first {
            let (t, width) = try matrix(labels, name: "labels", what: "targets")
            let first = stride(from: 0, to: t.count, by: width).map { t[$0] }
            LuaObjects.push(
                L, Dataset(features: x, rows: rows.count, cols: cols, labels: first, source: "table", targets: width > 1 ? t : nil))
            return 1
        }
        let y = try labels.enumerated().map { i, l -> Float in
            guard let v = l.doubleValue else { throw LuaArgumentError("data.from_table: labels[\(i + 1)] is not a number") }
            return try finite(v, "labels[\(i + 1)]")
        }
        LuaObjects.push(L, Dataset(features: x, rows: rows.count, cols: cols, labels: y, source: "table"))
        return 1
    }

    /// A table's number as the float32 a data set holds: NaN, ±Inf and numbers beyond float32's
    /// range (which would become ±Inf) are refused with the element's place, never stored.
    private static func finite(_ v: Double, _ place: String) throws -> Float {
        let f = Float(v)
        guard v.isFinite, f.isFinite else {
            let what = v.isNaN ? "NaN" : v.isInfinite ? (v > 0 ? "inf" : "-inf") : "\(v), beyond float32's ±3.4e38"
            throw LuaArgumentError("data.from_table: \(place) is \(what); a data set holds finite numbers only")
        }
        return f
    }

    static func dataset(_ L: OpaquePointer, _ fn: String) throws -> Dataset {
        guard let d: Dataset = LuaObjects.object(L, 1) else {
            throw LuaArgumentError("\(fn): call it as a method (ds:\(fn.split(separator: ".").last ?? "")(...))")
        }
        return d
    }

    /// A text set's features are token indices into its vocabulary: scaled, they would name
    /// other tokens (or none), so scaling one is refused rather than quietly breaking it.
    static func refuseScaling(_ d: Dataset, _ function: String) throws {
        if d.vocabulary != nil {
            throw LuaArgumentError(
                "\(function): \(d.source) is text: its values are token indices into its vocabulary, not magnitudes to scale")
        }
    }

    private static func standardize(_ L: OpaquePointer, _ job: LuaJob) throws -> Int32 {
        let d = try dataset(L, "dataset.standardize")
        try refuseScaling(d, "dataset:standardize")
        try job.chargeElements(d.features.count + d.labels.count, what: "dataset:standardize")
        let a = try LuaArgs(L, 2, function: "dataset:standardize", optional: true)
        let using: Dataset? = try a.object("using", kind: "dataset")
        try a.finish()
        if let using, using.cols != d.cols {
            throw LuaArgumentError("dataset:standardize: 'using' has \(using.cols) features, this set has \(d.cols)")
        }
        LuaObjects.push(L, d.standardized(using: using?.statistics()))
        return 1
    }

    /// ds:split{train = 0.8, validation = 0.1, seed = 1} → {train = ..., validation = ..., test = ...}
    private static func split(_ L: OpaquePointer, _ job: LuaJob) throws -> Int32 {
        let d = try dataset(L, "dataset.split")
        try job.chargeElements(d.features.count + d.labels.count, what: "dataset:split")
        guard case .table(let pairs) = try LuaStack.read(L, 2, what: "dataset:split") else {
            throw LuaArgumentError("dataset:split: expected {train = fraction, ..., seed = n}")
        }
        var seed: UInt64 = 0
        var parts: [(String, Double)] = []
        for (k, v) in pairs {
            if k == "seed" {
                guard case .integer(let s) = v, s >= 0 else { throw LuaArgumentError("dataset:split: seed must be a non-negative integer") }
                seed = UInt64(s)
                continue
            }
            guard let f = v.doubleValue, f > 0, f < 1 else {
                throw LuaArgumentError("dataset:split: \(k) must be a fraction between 0 and 1 (exclusive)")
            }
            parts.append((k, f))
        }
        guard !parts.isEmpty else { throw LuaArgumentError("dataset:split: name at least one part, e.g. {train = 0.8}") }
        let total = parts.reduce(0) { $0 + $1.1 }
        guard total <= 1 + 1e-9 else { throw LuaArgumentError("dataset:split: fractions add up to \(total), more than 1") }
        let rank = ["train": 0, "validation": 1, "test": 2]
        parts.sort { (rank[$0.0] ?? 3, $0.0) < (rank[$1.0] ?? 3, $1.0) }
        if total < 1 - 1e-9 {
            guard !parts.contains(where: { $0.0 == "test" }) else {
                throw LuaArgumentError("dataset:split: fractions add up to \(total); with a 'test' part they must add up to 1")
            }
            parts.append(("test", 1 - total))
        }
        let result = d.split(parts, seed: seed)
        lua_createtable(L, 0, Int32(result.count))
        for (name, part) in result {
            LuaObjects.push(L, part)
            lua_setfield(L, -2, name)
        }
        return 1
    }

    private static let datasetIndex: gf_swift_fn = { L in
        LuaBinding.call(L) { L, _ in
            ObjectTypes.index(L) { (d: Dataset, key) -> TaskValue? in
                switch key {
                case "id": return .string(d.objectID)
                case "rows": return .integer(d.rows)
                case "cols", "features": return .integer(d.cols)
                case "classes": return d.classCount.map { .integer($0) } ?? .null
                case "source": return .string(d.source)
                case "feature_names": return .array(d.featureNames.map { .string($0) })
                case "label_name": return .string(d.labelName)
                case "class_names": return .array(d.classNames.map { .string($0) })
                // {island = {column = 2, values = {"Torgersen", "Biscoe", "Dream"}}, ...}: code k is values[k + 1]
                case "categories":
                    return .table(
                        d.categories.map { c in
                            (c.name, .table([("column", .integer(c.column + 1)), ("values", .array(c.values.map { .string($0) }))]))
                        })
                case "labels": return .floats(d.labels)
                case "targets": return d.targets.map { .floats($0) } ?? .null
                case "target_width": return .integer(d.targetWidth)
                case "shape": return .array(d.sampleShape.map { .integer($0) })
                // Text (data.text): the tokens and the positions per sample.
                case "vocabulary_size": return d.vocabulary.map { .integer($0.count) } ?? .null
                case "vocabulary": return d.vocabulary.map { .array($0.tokens.map { .string($0) }) } ?? .null
                case "level": return d.vocabulary.map { .string($0.level.rawValue) } ?? .null
                case "context": return d.positions.map { .integer($0) } ?? .null
                default: return nil
                }
            }
        }
    }

    // MARK: tensors

    private static func tensor(_ L: OpaquePointer) throws -> HostTensor {
        guard let t: HostTensor = LuaObjects.object(L, 1) else {
            throw LuaArgumentError("tensor method called without a tensor (use t:method())")
        }
        return t
    }

    /// gpu.tensor{1, 2, 3} or gpu.tensor{shape = {2, 3}, fill = 0}
    private static func makeTensor(_ L: OpaquePointer, _ job: LuaJob) throws -> Int32 {
        guard lua_type(L, 1) == LUA_TTABLE else {
            throw LuaArgumentError("gpu.tensor: expected a list of numbers or {shape = ..., fill = ...}")
        }
        let n = Int(lua_rawlen(L, 1))
        if n > 0 {
            // The border (#t) of a sparse table can be 2^40 with a few dozen entries. So the
            // border is capped and charged before anything is allocated, and the array grows as
            // elements are read: a hole ends the read long before a fake border is allocated.
            guard n <= 1 << 28 else {
                throw LuaArgumentError("gpu.tensor: a list of \(n) elements is more than this version allows (2^28)")
            }
            try job.chargeElements(n, what: "gpu.tensor")
            var values: [Float] = []
            values.reserveCapacity(min(n, 1 << 20))
            for i in 0..<n {
                lua_rawgeti(L, 1, lua_Integer(i + 1))
                guard lua_type(L, -1) == LUA_TNUMBER else {
                    let t = LuaStack.typeName(L, -1)
                    gf_pop(L, 1)
                    throw LuaArgumentError("gpu.tensor: element \(i + 1) must be a number, got \(t)")
                }
                values.append(Float(lua_tonumberx(L, -1, nil)))
                gf_pop(L, 1)
            }
            LuaObjects.push(L, HostTensor(values: values, shape: [n]))
            return 1
        }
        let a = try LuaArgs(L, 1, function: "gpu.tensor")
        guard let shape = try a.intList("shape", min: 0), !shape.isEmpty else { throw LuaArgumentError("gpu.tensor: shape is required") }
        let fill = try a.double("fill", default: 0)
        try a.finish()
        // Overflow-checked: a shape like {1e10, 1e10} is refused, not a crash.
        var count = 1
        for d in shape {
            let (n, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, n <= 1 << 28 else {
                throw LuaArgumentError("gpu.tensor: shape \(shape) holds more elements than this version allows (2^28)")
            }
            count = n
        }
        try job.chargeElements(count, what: "gpu.tensor")
        LuaObjects.push(L, HostTensor(values: [Float](repeating: Float(fill), count: count), shape: shape))
        return 1
    }

    private static let tensorIndex: gf_swift_fn = { L in
        LuaBinding.call(L) { L, _ in
            guard let t: HostTensor = LuaObjects.object(L, 1) else { lua_pushnil(L); return 1 }
            if lua_type(L, 2) == LUA_TNUMBER {
                let i = Int(lua_tointegerx(L, 2, nil))
                guard i >= 1, i <= t.values.count else { lua_pushnil(L); return 1 }
                lua_pushnumber(L, Double(t.values[i - 1]))
                return 1
            }
            guard let key = LuaStack.string(L, 2) else { lua_pushnil(L); return 1 }
            if key == "shape" {
                LuaStack.push(L, .array(t.shape.map { .integer($0) }))
            } else {
                LuaObjects.pushMethod(L, key)
            }
            return 1
        }
    }
}
