import CLua
import CLuaShim
import Foundation
import GPUFlowCompute
import GPUFlowCore
import GPUFlowML

/// Models in and out of gpuflow from Lua: `model:export_onnx(path)`, `model:save_state_dict(path,
/// {mapping})` (PyTorch's names and layouts), `nn.load(path, {model = m, mapping, strict})` of a
/// state dict, and the rows `model:predict` and `gpu.inference` take as Lua tables or tensors.
enum ModelInterop {
    /// Methods of both model kinds (`gpu.model`, `gpu.graph`).
    static let methods: [(String, gf_swift_fn)] = [
        (
            "export_onnx",
            { L in
                LuaBinding.call(L) { L, job in
                    try ModelInterop.write(L, job, function: "model:export_onnx", usage: "model:export_onnx(path)", what: "the ONNX file") {
                        graph, _ in try ONNXExport.encode(graph)
                    }
                }
            }
        ),
        (
            "save_state_dict",
            { L in
                LuaBinding.call(L) { L, job in
                    try ModelInterop.write(
                        L, job, function: "model:save_state_dict", usage: "model:save_state_dict(path, {mapping = ...})",
                        what: "the state dict"
                    ) { graph, a in
                        try TorchStateDict.export(graph, mapping: try ModelInterop.mapping(a))
                    }
                }
            }
        ),
    ]

    /// model:METHOD(path, {options}): the model as a graph, the file's bytes from `encode`
    /// (which reads the options), written beside and renamed into place; returns the path.
    private static func write(
        _ L: OpaquePointer, _ job: LuaJob, function: String, usage: String, what: String,
        encode: (GraphModel, LuaArgs) throws -> [UInt8]
    ) throws -> Int32 {
        let graph = try ModelInterop.graph(L, function, usage)
        guard let path = LuaStack.string(L, 2), lua_type(L, 2) == LUA_TSTRING else {
            throw LuaArgumentError("\(function): expected a file path, got \(LuaStack.typeName(L, 2))")
        }
        let a = try LuaArgs(L, 3, function: function, optional: true)
        let bytes: [UInt8]
        do { bytes = try encode(graph, a) } catch let e as DataError { throw LuaArgumentError("\(function): \(e.message)") }
        try a.finish()
        let file = try job.allowedPath(path, write: true, what: function)
        try ModelFiles.writeAtomically(Data(bytes), to: file, what: what)
        LuaStack.push(L, path)
        return 1
    }

    static let functions: [(String, gf_swift_fn)] = [
        // The stdlib gives the model types methods written in Lua (model:predict, which awaits a
        // task and so cannot be a C function), once, while it loads.
        (
            "define_method",
            { L in
                LuaBinding.call(L) { L, _ in
                    guard let kind = LuaStack.string(L, 1), ["gpu.model", "gpu.graph"].contains(kind), let name = LuaStack.string(L, 2),
                        lua_type(L, 3) == LUA_TFUNCTION
                    else { throw LuaArgumentError("define_method: expected a model kind, a name and a function") }
                    lua_getfield(L, gf_registryindex(), kind)
                    lua_getfield(L, -1, "__methods")
                    lua_getfield(L, -1, name)
                    let taken = lua_type(L, -1) > LUA_TNIL
                    gf_pop(L, 1)
                    guard !taken else {
                        gf_pop(L, 2)
                        throw LuaArgumentError("define_method: \(kind) already has \(name)")
                    }
                    lua_pushvalue(L, 3)
                    lua_setfield(L, -2, name)
                    gf_pop(L, 2)
                    return 0
                }
            }
        )
    ]

    /// The model at index 1 as a graph (an MLP as the graph it is).
    static func graph(_ L: OpaquePointer, _ function: String, _ usage: String) throws -> GraphModel {
        if let g: GraphNetwork = LuaObjects.object(L, 1) { return g.graph }
        if let m: MLPModel = LuaObjects.object(L, 1) {
            var g = try GraphModel(mlp: m)
            g.schema = m.schema
            return g
        }
        throw LuaArgumentError("\(function): call it as a method, \(usage)")
    }

    /// `mapping = "sequential"` or `mapping = {gpuflow_layer = "torch.prefix", ...}`.
    static func mapping(_ a: LuaArgs) throws -> StateDictMapping {
        a.pushField("mapping")
        defer { gf_pop(a.L, 1) }
        switch try LuaStack.read(a.L, -1, what: "\(a.function): mapping") {
        case .null: return StateDictMapping()
        case .string("sequential"): return StateDictMapping(sequential: true)
        case .table(let pairs):
            var layers: [String: String] = [:]
            for (k, v) in pairs {
                guard case .string(let prefix) = v else {
                    throw LuaArgumentError("\(a.function): mapping.\(k) must be the PyTorch module's name (a string)")
                }
                layers[k] = prefix
            }
            return StateDictMapping(layers: layers)
        default:
            throw LuaArgumentError(
                "\(a.function): mapping must be \"sequential\" or a table {gpuflow_layer = \"pytorch.module\", ...}")
        }
    }

    /// nn.load(path, {model = m, mapping = ..., strict = true}): a state dict's weights (a
    /// safetensors file without gpuflow's graph, PyTorch's names and layouts) in the
    /// architecture `m`, as a new model of `m`'s kind.
    static func loadStateDict(_ L: OpaquePointer, _ job: LuaJob, path: String, file: String) throws -> any TaskObject {
        let a = try LuaArgs(L, 2, function: "nn.load")
        let graph: GraphNetwork? = try? a.object("model", kind: "model")
        let mlp: MLPModel? = graph == nil ? try a.object("model", kind: "model") : nil
        let mapping = try mapping(a)
        let strict = try a.bool("strict") ?? true
        try a.finish()
        let fromMLP = try mlp.map { try GraphModel(mlp: $0) }
        guard let architecture = graph?.graph ?? fromMLP else {
            throw LuaArgumentError("nn.load: model is required with options (the architecture the weights go into)")
        }
        return try importStateDict(file: file, shownAs: path, into: architecture, mapping: mapping, strict: strict, asMLP: mlp != nil)
    }

    /// The state dict at `file` in `architecture`; an MLP's graph comes back as an MLP.
    static func importStateDict(
        file: String, shownAs path: String, into architecture: GraphModel, mapping: StateDictMapping, strict: Bool, asMLP: Bool
    )
        throws -> any TaskObject
    {
        guard let bytes = FileManager.default.contents(atPath: file) else {
            throw DataError(file: path, "cannot read the state dict (missing or unreadable)")
        }
        let b = [UInt8](bytes)
        if GraphModelFile.holdsGraph(b) {
            throw DataError(
                file: path, "holds a gpuflow model with its graph: nn.load(path) reads it whole (model = ... is for a PyTorch state dict)")
        }
        let read = try Safetensors.read(b, file: path)
        let model = try TorchStateDict.load(into: architecture, from: read, mapping: mapping, strict: strict, source: path)
        if asMLP, let m = MLPModel(graph: model) { return m.with(schema: model.schema) }
        return GraphNetwork(model)
    }

    /// `gpu.inference`'s and `model:predict`'s data given as a Lua table of rows (lists in
    /// column order or maps by column name; text in categorical columns) or a tensor of raw
    /// values: scaled and coded by the model's schema, marked as having no labels.
    static func rows(_ value: TaskValue, model: any TaskObject, function: String) throws -> Dataset {
        let inputShape: [Int]
        let schema: ModelSchema?
        if let g = model as? GraphNetwork {
            (inputShape, schema) = (g.graph.inputShape, g.graph.schema)
        } else if let m = model as? MLPModel {
            (inputShape, schema) = ([m.inputs], m.schema)
        } else {
            throw LuaArgumentError("\(function): model must be a model")
        }
        let cols = inputShape.reduce(1, *)
        let names = schema?.featureNames.count == cols ? schema?.featureNames ?? [] : (0..<cols).map { "x\($0 + 1)" }
        let ready =
            schema
            ?? ModelSchema(
                data: Dataset(features: [], rows: 0, cols: cols, labels: [], featureNames: names, source: "rows", sampleShape: inputShape),
                loss: .cross_entropy)
        var rows: [[ModelSchema.RawCell]] = []
        switch value {
        case .floats(let f):
            guard !f.isEmpty, f.count % cols == 0 else {
                throw LuaArgumentError("\(function): a tensor of \(f.count) values is not rows of the model's \(cols) inputs")
            }
            rows = stride(from: 0, to: f.count, by: cols).map { i in f[i..<(i + cols)].map { .number(Double($0)) } }
        case .array(let items) where !items.isEmpty:
            let isRow: Bool
            switch items[0] {
            case .integer, .number, .string: isRow = true
            default: isRow = false
            }
            for (i, item) in (isRow ? [value] : items).enumerated() {
                rows.append(try row(item, names: names, index: i + 1, function: function))
            }
        case .table:
            rows = [try row(value, names: names, index: 1, function: function)]
        default:
            throw LuaArgumentError("\(function): data must be a data set, a tensor, or a table of rows ({{5.1, 3.5, ...}, ...})")
        }
        let ds: Dataset
        do { ds = try ready.rows(rows, source: "\(function) rows") } catch let e as DataError { throw LuaArgumentError(e.message) }
        return inputShape == [cols] ? ds : try ds.reshaped(inputShape)
    }

    private static func row(_ v: TaskValue, names: [String], index: Int, function: String) throws -> [ModelSchema.RawCell] {
        func cell(_ x: TaskValue, _ column: String) throws -> ModelSchema.RawCell {
            switch x {
            case .integer(let i): return .number(Double(i))
            case .number(let d): return .number(d)
            case .string(let s): return .text(s)
            default: throw LuaArgumentError("\(function): row \(index), column '\(column)' must be a number or a string")
            }
        }
        switch v {
        case .array(let cells): return try cells.enumerated().map { try cell($1, $0 < names.count ? names[$0] : String($0 + 1)) }
        case .floats(let f): return f.map { .number(Double($0)) }
        case .table(let pairs):
            let byName = Dictionary(pairs, uniquingKeysWith: { a, _ in a })
            if let unknown = pairs.first(where: { !names.contains($0.0) }) {
                throw LuaArgumentError(
                    "\(function): row \(index) names the column '\(unknown.0)', which the model does not have (\(names.joined(separator: ", ")))"
                )
            }
            return try names.map { n in
                guard let x = byName[n] else { throw LuaArgumentError("\(function): row \(index) has no value for column '\(n)'") }
                return try cell(x, n)
            }
        default: throw LuaArgumentError("\(function): row \(index) must be a list of values or a table by column name")
        }
    }
}
