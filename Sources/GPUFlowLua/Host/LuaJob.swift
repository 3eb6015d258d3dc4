import CLua
import CLuaShim
import Foundation
import GPUFlowCore
import GPUFlowML

/// One script being run: its Lua state, the coroutines the host drives in it (the main chunk
/// and any Lua functions submitted as tasks), and the tasks it submitted.
/// Touched only from the host thread.
final class LuaJob: @unchecked Sendable {
    enum ThreadRole {
        case main
        case task(id: TaskID, continuation: CheckedContinuation<TaskValue, Error>)
    }

    let request: ScriptRequest
    let env: RunEnvironment
    unowned let host: LuaHost
    let lua: LuaState
    var L: OpaquePointer { lua.L }

    var threads: [Int32: ThreadRole] = [:]
    /// Tasks this job submitted, with their names and outcomes.
    var tasks = JobTasks()
    /// What the orchestrator calls when one of this job's tasks ends: made once for the job, not
    /// once per task (a million submissions made a million closures). Weak, so that the
    /// orchestrator's hold on it does not keep a finished job's Lua state alive.
    private(set) lazy var taskEnded: @Sendable (TaskID, TaskOutcome) -> Void = { [weak self] id, outcome in
        guard let job = self else { return }
        job.host.post(.taskEnded(job, id, outcome))
    }
    var waiting: [TaskID: [Int32]] = [:]
    /// Set when the main chunk ends; the job is done once its tasks have ended too.
    var mainResult: JobResult?
    /// Set when a cluster job's stage has written its result: the script ends there, as a success.
    var stageDone = false
    /// Channels this script put into: closed when it ends, so the next stage sees the end.
    var producedChannels: Set<String> = []
    /// The host memory charged for each submitted task's workload (sandbox), given back when it
    /// ends; `lastCharge` carries the one just made from the spec to the id it gets.
    var charges: [TaskID: TaskCharge] = [:]
    var lastCharge: TaskCharge?
    /// Ids of waits that are not orchestrator tasks (channel operations) count down from -1.
    var nextExternalID: TaskID = -1
    private var raisedKinds: [(message: String, kind: ErrorKind)] = []
    private static let keptKinds = 64
    private var seedCounter: UInt64 = 0

    init(request: ScriptRequest, env: RunEnvironment, host: LuaHost) throws {
        self.request = request
        self.env = env
        self.host = host
        // An agent's own limits, where the profile gives it some, replace the section's.
        var base = env.profile.sandbox
        if let agent = request.agent, var own = env.profile.agents[agent]?.sandbox {
            own.enabled = base.enabled
            base = own
        }
        let sandbox = base.enabled ? base.withDefaults : base
        self.sandbox = sandbox
        let scriptDir = URL(fileURLWithPath: request.path).deletingLastPathComponent().path
        lua = try LuaState(
            limits: .init(
                instructions: UInt64(sandbox.instructions), memoryBytes: sandbox.memoryMB << 20,
                wallSeconds: sandbox.wallS),
            stdlibPath: env.stdlibPath, scriptDirectory: scriptDir.isEmpty ? "." : scriptDir)
        lua.limits.pointee.depth_limit = Int32(sandbox.maxDepth)
        gf_setcontext(L, Unmanaged.passUnretained(self).toOpaque())
        try installModules()
        if sandbox.enabled { try SandboxLibraries.restrict(self) }
    }

    /// The limits this script runs under (the profile's, with defaults when sandboxed).
    let sandbox: Profile.Sandbox
    private var outputBytes = 0
    private var tasksSubmitted = 0

    /// Counts printed bytes; past max_output_kb the script is stopped (exit 3).
    func chargeOutput(_ bytes: Int) throws {
        outputBytes += bytes
        if sandbox.maxOutputKB > 0, outputBytes > sandbox.maxOutputKB << 10 {
            gf_trip(L, Int32(GF_TRIP_OUTPUT.rawValue))
            throw LuaArgumentError("sandbox: output limit exceeded (\(sandbox.maxOutputKB) KB)")
        }
    }

    /// A task's timeout in the sandbox: never past the script's own wall-time limit, so a task
    /// cannot outlive the job that submitted it.
    func cappedTimeout(_ seconds: Double?) -> Double? {
        let deadline = lua.deadlineNS
        guard sandbox.enabled, deadline > 0 else { return seconds }
        let now = gf_monotonic_ns()
        // A little past the deadline: the host's own handling of the deadline (a limit, exit 3)
        // comes first, the task's timeout is the backstop.
        let left = max(0.001, Double(deadline > now ? deadline - now : 0) / 1e9) + 0.25
        return min(seconds ?? left, left)
    }

    /// Counts submitted tasks; past max_tasks the script is stopped (exit 3).
    func chargeTask() throws {
        tasksSubmitted += 1
        if sandbox.maxTasks > 0, tasksSubmitted > sandbox.maxTasks {
            gf_trip(L, Int32(GF_TRIP_TASKS.rawValue))
            throw LuaArgumentError("sandbox: task limit exceeded (\(sandbox.maxTasks) tasks)")
        }
    }

    /// A file a binding will read or write: resolved beside the script; in the sandbox only
    /// inside the script's folder (after resolving `..` and symbolic links), so a job cannot
    /// read /etc/passwd through data.csv or write outside its folder through model:save.
    func allowedPath(_ path: String, write: Bool, what: String) throws -> String {
        let resolved = write ? path : ObjectTypes.resolve(path, self)
        guard sandbox.enabled else { return resolved }
        let base = URL(fileURLWithPath: request.path).deletingLastPathComponent().standardizedFileURL.resolvingSymlinksInPath().path
        let absolute = resolved.hasPrefix("/") ? resolved : base + "/" + resolved
        let url = URL(fileURLWithPath: absolute).standardizedFileURL
        // The parent with its symbolic links resolved, then the name: a link cannot lead out.
        let target = url.deletingLastPathComponent().resolvingSymlinksInPath().appendingPathComponent(url.lastPathComponent).path
        let real = FileManager.default.fileExists(atPath: target) ? URL(fileURLWithPath: target).resolvingSymlinksInPath().path : target
        guard real.hasPrefix(base + "/") else {
            throw LuaArgumentError("sandbox: \(what) may only use files in the job's folder, not \(path)")
        }
        return real
    }

    /// A file a binding is about to load: allowed as `allowedPath` says, and its size times
    /// `factor` (the file's bytes held while it is read, plus what they become) checked
    /// against the budget before it is read.
    func readablePath(_ path: String, what: String, factor: Int) throws -> String {
        let allowed = try allowedPath(path, write: false, what: what)
        let size = SandboxFunctions.fileSize(allowed)
        try chargeElements(size, what: "\(what) of \(URL(fileURLWithPath: path).lastPathComponent)", bytesPerElement: factor)
        return allowed
    }

    /// Host memory a binding is about to allocate, checked before it allocates: refused past what
    /// is left of the script's one budget (Lua heap, plus every host object it holds, which
    /// `LuaObjects.push` charges), so no sum of allocations can pass the limit either.
    func chargeElements(_ count: Int, what: String, bytesPerElement: Int = 4) throws {
        let (bytes, overflow) = count.multipliedReportingOverflow(by: bytesPerElement)
        guard !overflow, count >= 0 else {
            gf_trip(L, Int32(GF_TRIP_MEMORY.rawValue))
            throw LuaArgumentError("sandbox: \(what) needs more than Int.max bytes")
        }
        guard lua.limits.pointee.memory_limit > 0 else { return }
        if gf_fits(lua.limits, bytes) == 0 {
            gf_trip(L, Int32(GF_TRIP_MEMORY.rawValue))
            let used = gf_budget_used(lua.limits)
            throw LuaArgumentError(
                "sandbox: \(what) needs \(bytes) bytes, over the \(sandbox.memoryMB) MB budget (\(used) bytes already in use: memory limit exceeded)"
            )
        }
    }

    /// Runs a chunk of trusted Lua (the sandbox set-up) in this state.
    func runTrusted(_ code: String, name: String) throws {
        let status = code.withCString { gf_loadbuffer(L, $0, strlen($0), name, "t") }
        guard status == LUA_OK, gf_pcall(L, 0, 0, 0) == LUA_OK else {
            let m = LuaStack.string(L, -1) ?? "?"
            gf_pop(L, 1)
            throw LuaError.runtime("\(name) failed: \(m)")
        }
    }

    var isDone: Bool { mainResult != nil && tasks.allEnded }

    /// A fresh seed for anything the script did not seed itself, derived from the run seed and
    /// the order of requests, so a rerun with the same seed draws the same numbers.
    /// Inside a workflow stage, task seeds come from the stage's key and its own counter, so a
    /// stage's tasks get the same seeds whether the stages before it ran or came from the cache.
    var seedScopes: [(base: UInt64, counter: UInt64)] = []
    /// The workflow stages running now, innermost last: an unnamed task is named after its stage.
    var stageNames: [String?] = []
    var stageName: String? { stageNames.last ?? nil }

    func nextSeed() -> UInt64 {
        var base = env.seed, n: UInt64
        if var top = seedScopes.popLast() {
            top.counter += 1
            seedScopes.append(top)
            base = top.base
            n = top.counter
        } else {
            seedCounter += 1
            n = seedCounter
        }
        var z = base &+ n &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Remembers the kind of an error that reached the script as a message (raised by a binding,
    /// or a failed task's outcome), so that the job ends with that kind's exit code when the
    /// message ends the main chunk, however the script passed it on (pcall and error again, a
    /// prefix added). Script errors are the default and are not kept; the list keeps the latest.
    func note(_ message: String, kind: ErrorKind) {
        guard kind != .script, !message.isEmpty else { return }
        if raisedKinds.count == Self.keptKinds { raisedKinds.removeFirst() }
        raisedKinds.append((message, kind))
    }

    func note(_ error: Error) { note("\(error)", kind: ErrorKind.of(error)) }

    /// The kind of the latest noted error whose message the final one carries, else `script`.
    func kind(ofMessage message: String) -> ErrorKind {
        raisedKinds.last { message.contains($0.message) }?.kind ?? .script
    }

    // MARK: set-up

    private func installModules() throws {
        NativeModule.push(L)
        lua_getglobal(L, "package")
        lua_getfield(L, -1, "loaded")
        lua_pushvalue(L, -3)
        lua_setfield(L, -2, "gpu.native")
        gf_pop(L, 1)
        lua_getfield(L, -1, "preload")
        for (module, file) in [
            ("gpu", "gpu/init.lua"), ("gpu.nn", "gpu/nn.lua"), ("gpu.data", "gpu/data.lua"),
            ("gpu.metrics", "gpu/metrics.lua"), ("workflow", "workflow.lua"),
        ] {
            try loadFile("\(env.stdlibPath)/\(file)", chunkName: "@stdlib/\(file)")
            env.modules.note(name: module, path: "stdlib/\(file)", text: lastLoadedText)
            lua_setfield(L, -2, module)
        }
        gf_pop(L, 3)
        // The prelude replaces print and makes await work from inside user coroutines.
        try loadFile("\(env.stdlibPath)/gpu/prelude.lua", chunkName: "@stdlib/gpu/prelude.lua")
        env.modules.note(name: "prelude", path: "stdlib/gpu/prelude.lua", text: lastLoadedText)
        if gf_pcall(L, 0, 0, 0) != LUA_OK {
            let m = LuaStack.string(L, -1) ?? "?"
            gf_pop(L, 1)
            throw LuaError.runtime("stdlib prelude failed: \(m)")
        }
        lua_createtable(L, Int32(request.arguments.count), 1)
        LuaStack.push(L, request.path)
        lua_seti(L, -2, 0)
        for (i, a) in request.arguments.enumerated() {
            LuaStack.push(L, a)
            lua_seti(L, -2, lua_Integer(i + 1))
        }
        lua_setglobal(L, "arg")
    }

    /// Loads a text chunk (never binary) and leaves it on the stack.
    private var lastLoadedText = ""
    /// The main script's text as it was loaded (what the manifest records).
    private(set) var scriptText = ""

    private func loadFile(_ path: String, chunkName: String, text: String? = nil) throws {
        guard let data = text.map({ Data($0.utf8) }) ?? FileManager.default.contents(atPath: path) else {
            throw LuaError.file("cannot open \(path)")
        }
        lastLoadedText = String(decoding: data, as: UTF8.self)
        let status = data.withUnsafeBytes { raw in
            gf_loadbuffer(L, raw.baseAddress?.assumingMemoryBound(to: CChar.self), raw.count, chunkName, "t")
        }
        if status != LUA_OK {
            let m = LuaStack.string(L, -1) ?? "?"
            gf_pop(L, 1)
            throw status == LUA_ERRSYNTAX ? LuaError.syntax(m) : LuaError.runtime(m)
        }
    }

    /// Loads the script into a new coroutine, the job's main thread; returns its registry ref.
    func loadMain() throws -> Int32 {
        let path = request.path
        var isDir: ObjCBool = false
        guard request.text != nil || (FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && !isDir.boolValue) else {
            throw LuaError.file("cannot open script \(path): no such file")
        }
        // A sandboxed script is read whole and parsed in one C call: bounded like a module.
        let size = request.text.map { $0.utf8.count } ?? SandboxFunctions.fileSize(path)
        if sandbox.enabled, size > SandboxFunctions.maxModuleBytes {
            throw LuaError.file(
                "script \(path) is \(size) bytes, over the \(SandboxFunctions.maxModuleBytes) bytes a sandboxed script may have")
        }
        try loadFile(path, chunkName: "@\(path)", text: request.text)
        scriptText = lastLoadedText
        return makeThread(role: .main)
    }

    /// Moves the function on top of L into a new coroutine registered under a registry ref.
    /// A coroutine for the function on top of the stack: one that finished cleanly before, or
    /// a new one. A script that submits a million function tasks runs them on a handful of
    /// coroutines instead of leaving a million (about a kilobyte each) for the collector.
    func makeThread(role: ThreadRole) -> Int32 {
        while let ref = idleThreads.popLast() {
            lua_rawgeti(L, gf_registryindex(), lua_Integer(ref))
            guard let co = lua_tothread(L, -1), lua_status(co) == LUA_OK, lua_gettop(co) == 0 else {
                gf_pop(L, 1)
                luaL_unref(L, gf_registryindex(), ref)
                continue
            }
            gf_pop(L, 1)
            lua_xmove(L, co, 1)
            threads[ref] = role
            return ref
        }
        guard let co = lua_newthread(L) else { return LUA_NOREF }
        let ref = luaL_ref(L, gf_registryindex())
        lua_xmove(L, co, 1)
        threads[ref] = role
        return ref
    }

    /// `reusable`: the coroutine returned normally and its stack is empty, so a later task may
    /// start a new function on it (a coroutine that failed is dropped).
    func releaseThread(_ ref: Int32, reusable: Bool = false) {
        threads[ref] = nil
        if reusable, idleThreads.count < Self.keptIdleThreads {
            idleThreads.append(ref)
        } else {
            luaL_unref(L, gf_registryindex(), ref)
        }
    }

    private var idleThreads: [Int32] = []
    private static let keptIdleThreads = 16
}
