import CLua
import CLuaShim
import GPUFlowCore
import GPUFlowStore

/// `gpu.log{params = {...}, metrics = {...}, step = n}` and `gpu.tag{key = value}`: what a
/// script records of itself in the run store, as in MLflow (`log_params`, `log_metrics`,
/// `set_tags`). With `--store none` the values are checked and not kept.
enum TrackingFunctions {
    static let functions: [(String, gf_swift_fn)] = [
        ("log", { L in LuaBinding.call(L) { L, job in try log(L, job) } }),
        ("tag", { L in LuaBinding.call(L) { L, job in try tag(L, job) } }),
    ]

    /// MLflow's limits on names and values, so a run exports as it was logged.
    static let maxKeyLength = 250
    static let maxValueLength = 6000

    private static func key(_ k: String, _ fn: String) throws -> String {
        guard !k.isEmpty, k.count <= maxKeyLength, !k.utf8.contains(0),
            k.allSatisfy({ $0.isLetter || $0.isNumber || "_-. /:".contains($0) })
        else {
            throw LuaArgumentError(
                "\(fn): '\(k.prefix(60))' is not a usable name (1 to \(maxKeyLength) letters, digits, _ - . / : or spaces)")
        }
        return k
    }

    /// Text of a param or tag: strings, numbers and booleans, as Lua prints them.
    private static func text(_ v: TaskValue, _ what: String) throws -> String {
        let s: String
        switch v {
        case .string(let x): s = x
        case .integer(let n): s = String(n)
        case .number(let d): s = d.isFinite ? String(d) : "\(d)"
        case .bool(let b): s = b ? "true" : "false"
        default: throw LuaArgumentError("\(what) must be a string, a number or a boolean")
        }
        guard s.count <= maxValueLength else { throw LuaArgumentError("\(what) is over \(maxValueLength) characters") }
        return s
    }

    /// The entries of a table of name = value, in name order (stable in the store and in errors).
    private static func entries(_ L: OpaquePointer, _ a: LuaArgs, _ field: String, _ fn: String) throws -> [(String, TaskValue)] {
        a.pushField(field)
        defer { gf_pop(L, 1) }
        if lua_type(L, -1) <= LUA_TNIL { return [] }
        guard lua_type(L, -1) == LUA_TTABLE, case .table(let pairs) = try LuaStack.read(L, -1, what: "\(fn): \(field)") else {
            if lua_type(L, -1) == LUA_TTABLE, lua_rawlen(L, -1) == 0 { return [] }
            throw LuaArgumentError("\(fn): \(field) must be a table of name = value")
        }
        return try pairs.map { (try key($0.0, fn), $0.1) }.sorted { $0.0 < $1.0 }
    }

    private static func log(_ L: OpaquePointer, _ job: LuaJob) throws -> Int32 {
        let fn = "gpu.log"
        let a = try LuaArgs(L, 1, function: fn)
        let params = try entries(L, a, "params", fn).map { ($0.0, try text($0.1, "\(fn): params.\($0.0)")) }
        let metrics = try entries(L, a, "metrics", fn).map { k, v -> (String, Double) in
            guard let d = v.doubleValue, d.isFinite else {
                throw LuaArgumentError("\(fn): metrics.\(k) must be a finite number, got \(TaskValueJSON.encode(v).prefix(60))")
            }
            return (k, d)
        }
        let step = try a.int("step", min: 0)
        try a.finish()
        if params.isEmpty && metrics.isEmpty { throw LuaArgumentError("\(fn): expected params = {...} or metrics = {...}") }
        for (k, _) in params where RunStore.systemParams.contains(k) {
            throw LuaArgumentError("\(fn): params.\(k) is recorded by gpuflow itself; name the script's own differently")
        }
        guard let store = job.env.store, let run = job.env.runID else { return 0 }
        do {
            if !params.isEmpty { try store.logParams(run, params.map { (key: $0.0, value: $0.1) }) }
            if !metrics.isEmpty { try store.logMetrics(run, metrics.map { (key: $0.0, value: $0.1) }, step: step) }
        } catch let e as TrackingError {
            throw LuaArgumentError("\(fn): \(e)")
        }
        return 0
    }

    private static func tag(_ L: OpaquePointer, _ job: LuaJob) throws -> Int32 {
        let fn = "gpu.tag"
        guard lua_type(L, 1) == LUA_TTABLE, case .table(let pairs) = try LuaStack.read(L, 1, what: fn), !pairs.isEmpty else {
            throw LuaArgumentError("\(fn): expected a table of name = value, such as gpu.tag{model = \"mlp\"}")
        }
        let tags = try pairs.map { (key: try key($0.0, fn), value: try text($0.1, "\(fn): \($0.0)")) }.sorted { $0.key < $1.key }
        guard let store = job.env.store, let run = job.env.runID else { return 0 }
        try store.setTags(run, tags)
        return 0
    }
}
