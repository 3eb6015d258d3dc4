import CLua
import CLuaShim
import Foundation
import GPUFlowCore
import GPUFlowML
import GPUFlowStore

/// workflow.stage's engine: the cache key of a stage (its name, its function's source text,
/// its inputs by content, the run's seed and backend), lookups and stores in the run store,
/// and the seed scope of the stage's tasks. Without a store, stages are memoized for the run only.
enum StageFunctions {
    static let functions: [(String, gf_swift_fn)] = [
        ("stage_key", { L in LuaBinding.call(L) { L, job in try key(L, job) } }),
        ("stage_lookup", { L in LuaBinding.call(L) { L, job in try lookup(L, job) } }),
        ("stage_store", { L in LuaBinding.call(L) { L, job in try store(L, job) } }),
        (
            "stage_begin",
            { L in
                LuaBinding.call(L) { L, job in
                    guard let k = LuaStack.string(L, 1) else { throw LuaArgumentError("stage_begin: expected a key") }
                    var h = Hasher256()
                    h.add(k)
                    let base = UInt64(h.hex.prefix(16), radix: 16) ?? 0
                    job.seedScopes.append((base, 0))
                    job.stageNames.append(LuaStack.string(L, 2))
                    return 0
                }
            }
        ),
        (
            "stage_end",
            { L in
                LuaBinding.call(L) { _, job in
                    _ = job.seedScopes.popLast()
                    _ = job.stageNames.popLast()
                    return 0
                }
            }
        ),
        (
            "note_module",
            { L in
                LuaBinding.call(L) { L, job in
                    if let name = LuaStack.string(L, 1), let path = LuaStack.string(L, 2) { job.env.modules.note(name: name, path: path) }
                    return 0
                }
            }
        ),
    ]

    /// The memo used when the run has no store.
    final class Memo: @unchecked Sendable {
        let lock = NSLock()
        var values: [String: TaskValue] = [:]
    }
    static let memo = Memo()

    /// stage_key(name, inputs, source, first_line, last_line)
    private static func key(_ L: OpaquePointer, _ job: LuaJob) throws -> Int32 {
        guard let name = LuaStack.string(L, 1), !name.isEmpty else {
            throw LuaArgumentError("workflow.stage: name must be a non-empty string")
        }
        let inputs = try LuaStack.read(L, 2, what: "workflow.stage '\(name)' inputs")
        let source = LuaStack.string(L, 3) ?? ""
        var ok: Int32 = 0
        let first = Int(lua_tointegerx(L, 4, &ok)), last = Int(lua_tointegerx(L, 5, &ok))
        var h = Hasher256()
        h.add("stage/1")
        // Scoped: one agent's (or a sandboxed job's) cached stages are never another's.
        if let agent = job.request.agent { h.add("agent/" + agent) }
        if job.sandbox.enabled { h.add("sandboxed") }
        h.add(name)
        h.add(functionText(source: source, first: first, last: last, job: job))
        h.add(try StageCodec.canonical(inputs))
        h.add(String(job.env.seed))
        h.add(job.env.backendName)
        LuaStack.push(L, h.hex)
        return 1
    }

    /// The text of a function: its lines in the file it came from (so an edit anywhere in it,
    /// comments aside from none, changes the key), or the chunk string itself.
    /// In the sandbox only files of the job's folder are read: a chunk named after any other
    /// file would make the key (and so the cache) an oracle for that file's existence and text.
    static func functionText(source: String, first: Int, last: Int, job: LuaJob? = nil) -> String {
        guard source.hasPrefix("@") else { return source }
        var path = String(source.dropFirst())
        if path.hasPrefix("stdlib/") { return source }
        if !path.hasPrefix("/") { path = FileManager.default.currentDirectoryPath + "/" + path }
        if let job, job.sandbox.enabled {
            guard let allowed = try? job.allowedPath(path, write: false, what: "workflow.stage") else { return source }
            path = allowed
        }
        guard let d = FileManager.default.contents(atPath: path) else { return source }
        let lines = String(decoding: d, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        guard first >= 1, last >= first, last <= lines.count else { return String(decoding: d, as: UTF8.self) }
        return lines[(first - 1)..<last].joined(separator: "\n")
    }

    /// stage_lookup(key, name) → true, value | false
    private static func lookup(_ L: OpaquePointer, _ job: LuaJob) throws -> Int32 {
        guard let key = LuaStack.string(L, 1), let name = LuaStack.string(L, 2) else {
            throw LuaArgumentError("stage_lookup: expected key and name")
        }
        var value: TaskValue?
        if !job.env.stageLookups {
            value = nil
        } else if let store = job.env.store {
            if let s = try store.stage(key), let data = s.result.data(using: .utf8) {
                let any = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
                value = try StageCodec.decode(any, store: store)
                if let run = job.env.runID {
                    try? store.recordEvent(
                        run, kind: "stage_cached",
                        body: "{\"stage\": \(TaskValueJSON.encode(.string(name), indent: nil)), \"from_run\": \"\(s.run)\"}")
                }
                job.env.observer?.stageCached(name: name, fromRun: s.run)
            }
        } else {
            memo.lock.lock()
            value = memo.values[key]
            memo.lock.unlock()
            if value != nil { job.env.observer?.stageCached(name: name, fromRun: nil) }
        }
        guard let value else {
            lua_pushboolean(L, 0)
            return 1
        }
        lua_pushboolean(L, 1)
        LuaStack.push(L, value)
        return 2
    }

    /// stage_store(key, name, value)
    private static func store(_ L: OpaquePointer, _ job: LuaJob) throws -> Int32 {
        guard let key = LuaStack.string(L, 1), let name = LuaStack.string(L, 2) else {
            throw LuaArgumentError("stage_store: expected key and name")
        }
        let value = try LuaStack.read(L, 3, what: "workflow.stage '\(name)' result")
        if let store = job.env.store {
            let encoded = try StageCodec.encode(value, store: store)
            let json = String(
                decoding: try JSONSerialization.data(withJSONObject: encoded, options: [.fragmentsAllowed, .sortedKeys]), as: UTF8.self)
            let run = job.env.runID ?? "-"
            try store.putStage(key: key, name: name, run: run, result: json)
            try? store.recordEvent(run, kind: "stage_done", body: "{\"stage\": \(TaskValueJSON.encode(.string(name), indent: nil))}")
        } else {
            _ = try StageCodec.canonical(value)  // the same values are cacheable with or without a store
            memo.lock.lock()
            memo.values[key] = value
            memo.lock.unlock()
        }
        // Test hook: a crash right after this stage is recorded (kill -9 of the whole process).
        if ProcessInfo.processInfo.environment["GPUFLOW_CRASH_AFTER_STAGE"] == name { kill(getpid(), SIGKILL) }
        return 0
    }
}
