import CLua
import CLuaShim
import Foundation
import GPUFlowCore
import GPUFlowML
import GPUFlowStore

/// The native half of workflow.stage / workflow.sweep for plans and cluster runs: checking a
/// stage's resource options, recording stages in plan mode, and in a Slurm job reading
/// earlier stages' results from the run directory and writing the target's.
enum ClusterStageFunctions {
    static let functions: [(String, gf_swift_fn)] = [
        (
            "stage_mode",
            { L in
                LuaBinding.call(L) { L, job in
                    switch job.env.stageMode {
                    case .normal: LuaStack.push(L, "normal")
                    case .plan: LuaStack.push(L, "plan")
                    case .cluster: LuaStack.push(L, "cluster")
                    }
                    return 1
                }
            }
        ),
        (
            "stage_check",
            { L in
                LuaBinding.call(L) { L, _ in
                    _ = try spec(L); return 0
                }
            }
        ),
        (
            "stage_plan",
            { L in
                LuaBinding.call(L) { L, job in
                    let s = try spec(L)
                    if case .plan(let recorder) = job.env.stageMode { recorder.record(s) }
                    return 0
                }
            }
        ),
        ("stage_cluster", { L in LuaBinding.call(L) { L, job in try clusterLookup(L, job) } }),
        ("stage_cluster_store", { L in LuaBinding.call(L) { L, job in try clusterStore(L, job) } }),
    ]

    /// stage_*(name, options, location, dependencies, count): the stage as a plan records it,
    /// its options checked (errors name the stage and the line).
    private static func spec(_ L: OpaquePointer) throws -> StageSpec {
        guard let name = LuaStack.string(L, 1) else { throw LuaArgumentError("workflow.stage: name must be a string") }
        let location = LuaStack.string(L, 3) ?? "?"
        let options = try LuaStack.read(L, 2, what: "workflow.stage '\(name)' options")
        var deps: [String] = []
        if case .array(let items) = try LuaStack.read(L, 4, what: "dependencies") {
            for case .string(let d) in items where !deps.contains(d) { deps.append(d) }
        }
        var ok: Int32 = 0
        let count = Int(lua_tointegerx(L, 5, &ok))
        var s = StageSpec(name: name, location: location, dependencies: deps, count: ok != 0 ? count : nil)
        guard StageSpec.validName(name) else {
            throw LuaArgumentError(
                "\(location): stage name \"\(name)\" must be 1 to 64 letters, digits, _ - or . (it names files and Slurm jobs)")
        }
        func bad(_ key: String, _ what: String, _ v: TaskValue) -> LuaArgumentError {
            LuaArgumentError("\(location): workflow.stage '\(name)': \(key) must be \(what), got \(TaskValueJSON.encode(v, indent: nil))")
        }
        let pairs: [(String, TaskValue)]
        switch options {
        case .null: pairs = []
        case .table(let t): pairs = t
        case .array(let a) where a.isEmpty: pairs = []
        default: throw bad("options", "a table such as {gpus = 1, memory = \"4G\", time = \"00:30:00\"}", options)
        }
        for (key, v) in pairs {
            switch key {
            case "gpus":
                guard let n = v.wholeNumber, n >= 0, n <= 1024 else { throw bad(key, "a whole number from 0 to 1024", v) }
                s.gpus = n
            case "cpus":
                guard let n = v.wholeNumber, n >= 1, n <= 4096 else { throw bad(key, "a whole number from 1 to 4096", v) }
                s.cpus = n
            case "memory":
                guard let mb = memoryMB(v) else { throw bad(key, "megabytes (a number) or a size such as \"512M\" or \"4G\"", v) }
                s.memoryMB = mb
            case "time":
                let text: String?
                switch v {
                case .string(let t): text = t
                default: text = v.wholeNumber.map(String.init)
                }
                guard let t = text, let minutes = SlurmTime.minutes(t), minutes > 0 else {
                    throw bad(key, "minutes or a time such as \"01:30:00\" or \"1-00:00:00\"", v)
                }
                _ = minutes
                s.time = t
            case "after":
                var names: [String] = []
                switch v {
                case .string(let n): names = [n]
                case .array(let items):
                    for item in items {
                        guard case .string(let n) = item else { throw bad(key, "a stage name or a list of them", v) }
                        names.append(n)
                    }
                default: throw bad(key, "a stage name or a list of them", v)
                }
                s.after = names
            case "throttle":
                guard let n = v.wholeNumber, n >= 1 else { throw bad(key, "a whole number ≥ 1 (sweep elements running at once)", v) }
                s.throttle = n
            default:
                throw LuaArgumentError(
                    "\(location): workflow.stage '\(name)': unknown option '\(key)' (expected gpus, cpus, memory, time, after, throttle)")
            }
        }
        return s
    }

    /// 4096 (MB), "512M", "4G", "1T", "2048K" → MB (rounded up).
    static func memoryMB(_ v: TaskValue) -> Int? {
        if let n = v.wholeNumber { return n > 0 ? n : nil }
        guard case .string(let raw) = v else { return nil }
        let t = raw.trimmingCharacters(in: .whitespaces).uppercased()
        let units: [Character: Double] = ["K": 1.0 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024]
        var digits = Substring(t)
        var scale = 1.0
        if let last = t.last, let u = units[last] {
            scale = u
            digits = t.dropLast()
            if digits.hasSuffix("I") { return nil }
        }
        guard let n = Double(digits), n > 0, n.isFinite else { return nil }
        return Int((n * scale).rounded(.up))
    }

    private static func target(_ job: LuaJob) throws -> ClusterStageTarget {
        guard case .cluster(let t) = job.env.stageMode else { throw LuaArgumentError("workflow: not a cluster stage job") }
        return t
    }

    /// stage_cluster(stage, element, index) → "done", value | "target" | "pending"
    private static func clusterLookup(_ L: OpaquePointer, _ job: LuaJob) throws -> Int32 {
        let t = try target(job)
        guard let stage = LuaStack.string(L, 1), let element = LuaStack.string(L, 2) else {
            throw LuaArgumentError("stage_cluster: expected names")
        }
        var ok: Int32 = 0
        let index = Int(lua_tointegerx(L, 3, &ok))
        if stage == t.stage, (t.index == nil && ok == 0) || (t.index == index && ok != 0) {
            LuaStack.push(L, "target")
            return 1
        }
        guard let json = t.directory.result(element) else {
            LuaStack.push(L, "pending")
            return 1
        }
        let any: Any
        do {
            any = try JSONSerialization.jsonObject(with: Data(json.utf8), options: [.fragmentsAllowed])
        } catch {
            throw DataError(
                "run directory \(t.directory.path): the result of stage '\(element)' is not readable JSON (\(error.localizedDescription))")
        }
        LuaStack.push(L, "done")
        LuaStack.push(L, try StageCodec.decode(any, store: t.directory))
        return 2
    }

    /// stage_cluster_store(element, value): the result into the run directory; the job is done.
    private static func clusterStore(_ L: OpaquePointer, _ job: LuaJob) throws -> Int32 {
        let t = try target(job)
        guard let element = LuaStack.string(L, 1) else { throw LuaArgumentError("stage_cluster_store: expected a name") }
        let value = try LuaStack.read(L, 2, what: "workflow.stage '\(element)' result")
        let encoded = try StageCodec.encode(value, store: t.directory)
        let json = String(
            decoding: try JSONSerialization.data(withJSONObject: encoded, options: [.fragmentsAllowed, .sortedKeys]), as: UTF8.self)
        try t.directory.putResult(element, json: json)
        job.stageDone = true
        if let run = job.env.runID, let store = job.env.store {
            try? store.recordEvent(run, kind: "stage_done", body: "{\"stage\": \(TaskValueJSON.encode(.string(element), indent: nil))}")
        }
        if ProcessInfo.processInfo.environment["GPUFLOW_CRASH_AFTER_STAGE"] == element { kill(getpid(), SIGKILL) }
        return 0
    }
}

extension TaskValue {
    /// An integer, or a float with no fraction (Lua 5.4 numbers from arithmetic are floats).
    var wholeNumber: Int? {
        switch self {
        case .integer(let i): return i
        case .number(let d) where d.rounded() == d && abs(d) < 1e15: return Int(d)
        default: return nil
        }
    }
}
