import CLua
import CLuaShim
import Foundation
import GPUFlowCore

/// Drives the coroutines of one or more scripts on one thread.
///
/// `handle:await()` is a Lua-level `coroutine.yield(AWAIT, id)`: the coroutine returns to this
/// loop, which resumes it when the orchestrator reports the task's end. No C function ever
/// yields, and the loop sleeps on a condition variable while nothing is ready: it never spins.
public final class LuaHost: @unchecked Sendable {
    enum Event {
        case taskEnded(LuaJob, TaskID, TaskOutcome)
        case startTask(
            LuaJob, function: Int32, arguments: [TaskValue], id: TaskID, CancellationToken, CheckedContinuation<TaskValue, Error>)
        case resume(LuaJob, thread: Int32, TaskID, TaskOutcome)
        /// Run a closure with the job's state on the host thread (calls into Lua from workloads).
        case onHost(LuaJob, (OpaquePointer) -> Void)
        /// The job's wall-time limit has passed (from the watchdog).
        case deadline(LuaJob)
        /// A thread whose time slice ended, to be resumed where it stopped.
        case continueThread(LuaJob, Int32)
    }

    /// The value a coroutine yields to mean "await"; its address is unique to this process.
    nonisolated(unsafe) static let awaitToken: UnsafeMutableRawPointer = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 1)

    public let environment: RunEnvironment
    private let condition = NSCondition()
    private var events: [Event] = []
    /// Sandboxed jobs the watchdog watches, by identity (guarded by `condition`).
    private var watched: [ObjectIdentifier: LuaJob] = [:]
    /// Watches the sandboxed jobs' deadlines while `run` runs.
    private var watchdog: Watchdog?
    /// The run's jobs (host thread only): they share this thread, in slices.
    private var live: [LuaJob] = []
    /// How long one script may run Lua before the others get the host thread, when it can yield.
    static let sliceNS: UInt64 = 20_000_000

    public init(environment: RunEnvironment) { self.environment = environment }

    /// Runs the scripts to completion, concurrently, and returns how each ended. Blocks the
    /// calling thread, which must not be one of Swift concurrency's pool threads.
    public func run(_ requests: [ScriptRequest]) -> [JobResult] {
        environment.monitor.start()
        defer { environment.monitor.stop() }
        var results = [JobResult?](repeating: nil, count: requests.count)
        var jobs: [(Int, LuaJob)] = []
        condition.lock()
        closed = false
        condition.unlock()
        let expired = environment.watchdogExpired
        let watchdog = Watchdog(
            onDeadline: { [self] id in
                condition.lock()
                let job = watched[id]
                condition.unlock()
                guard let job else { return }
                // Lua that is running sees the limit at its next instruction; one that awaits is
                // woken by the host.
                gf_interrupt(job.lua.limits)
                post(.deadline(job))
            }, onExpired: { message in expired(message) })
        watchdog.start()
        self.watchdog = watchdog
        defer {
            watchdog.stop()
            self.watchdog = nil
        }
        for (i, r) in requests.enumerated() {
            if let problem = ScriptArgumentLimits.problem(r.arguments) {
                results[i] = JobResult(script: r.path, status: .inputError, message: problem, traceback: nil, warnings: [])
                continue
            }
            do {
                let job = try LuaJob(request: r, env: environment, host: self)
                // Watched from here on: parsing the script is part of its time.
                if job.sandbox.enabled {
                    condition.lock()
                    watched[ObjectIdentifier(job)] = job
                    condition.unlock()
                    let lua = job.lua
                    watchdog.watch(ObjectIdentifier(job), script: r.path, deadlineNS: { lua.deadlineNS })
                }
                let ref: Int32
                do { ref = try job.loadMain() } catch {
                    watchdog.ended(ObjectIdentifier(job))
                    throw error
                }
                environment.logger.debug("script started", metadata: ["run.script": "\(r.path)", "run.agent": "\(r.agent ?? "-")"])
                jobs.append((i, job))
                live.append(job)
                resume(job, ref) { co in
                    guard lua_checkstack(co, Int32(r.arguments.count) + 1) != 0 else { return 0 }
                    for a in r.arguments { LuaStack.push(co, a) }
                    return Int32(r.arguments.count)
                }
            } catch {
                results[i] = JobResult(
                    script: r.path, status: .failed(ErrorKind.of(error)), message: "\(error)", traceback: nil, warnings: [])
            }
        }
        while jobs.contains(where: { !$0.1.isDone }) {
            handle(next())
        }
        closeQueue()
        for (i, job) in jobs {
            results[i] = finalResult(job)
            environment.logger.debug(
                "script ended",
                metadata: [
                    "run.script": "\(job.request.path)", "run.exit": "\(results[i]?.exitCode ?? -1)",
                    "lua.memory_peak_bytes": "\(job.lua.memoryPeakBytes)", "lua.instructions": "\(job.lua.instructionsExecuted)",
                ])
            for (_, role) in job.threads {
                if case .task(_, let c) = role { c.resume(throwing: CancellationError()) }
            }
            job.threads.removeAll()
        }
        return zip(requests, results).map { request, result in
            result ?? JobResult(script: request.path, status: .scriptError, message: "job was never started", traceback: nil, warnings: [])
        }
    }

    /// Runs the scripts on a dedicated thread and waits without blocking the caller's thread.
    public func runDetached(_ requests: [ScriptRequest]) async -> [JobResult] {
        await withCheckedContinuation { c in
            let thread = Thread { c.resume(returning: self.run(requests)) }
            thread.stackSize = 16 << 20
            thread.start()
        }
    }

    /// Queues an event for the host thread; after the run has ended, nothing is queued: a task
    /// that would start is cancelled at once, and false says the event was not taken.
    @discardableResult
    func post(_ e: Event) -> Bool {
        condition.lock()
        guard !closed else {
            condition.unlock()
            if case .startTask(_, _, _, _, _, let c) = e { c.resume(throwing: CancellationError()) }
            return false
        }
        events.append(e)
        condition.signal()
        condition.unlock()
        return true
    }

    /// Set when `run` returns: the scripts' states are no longer driven.
    private var closed = false

    /// Ends the run's event queue: every task still waiting to start on the host is cancelled
    /// and every workload waiting for a call into Lua gets its answer, so no workload stays
    /// blocked (and the process can wait for every workload to stop before it exits).
    private func closeQueue() {
        condition.lock()
        closed = true
        let pending = events
        events.removeAll()
        condition.unlock()
        for e in pending {
            switch e {
            case .startTask(let job, let fn, _, _, _, let c):
                luaL_unref(job.L, gf_registryindex(), fn)
                c.resume(throwing: CancellationError())
            case .onHost(let job, let body):
                body(job.L)
            default:
                continue
            }
        }
    }

    private func next() -> Event {
        condition.lock()
        defer { condition.unlock() }
        while events.isEmpty { condition.wait() }
        return events.removeFirst()
    }

    /// Runs an async operation (an actor call) from the host thread and waits for it.
    func blocking<T: Sendable>(_ op: @escaping @Sendable () async throws -> T) throws -> T {
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            do { box.result = .success(try await op()) } catch { box.result = .failure(error) }
            done.signal()
        }
        done.wait()
        guard let r = box.result else { throw CancellationError() }
        return try r.get()
    }

    /// Runs `body` with the job's Lua state on the host thread and waits for its result. For
    /// workload threads only: called on the host thread itself it would wait for itself.
    func callOnHost<T>(_ job: LuaJob, _ body: @escaping (OpaquePointer) throws -> T) throws -> T {
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        guard
            post(
                .onHost(job) { L in
                    box.result = Result { try body(L) }
                    done.signal()
                })
        else { throw CancellationError() }
        done.wait()
        guard let r = box.result else { throw CancellationError() }
        return try r.get()
    }

    /// Starts `op` (a channel operation, say) as something the script can await like a task:
    /// returns the id to yield with `AWAIT`; its outcome arrives as a task's would.
    func external(_ job: LuaJob, name: String, _ op: @escaping @Sendable () async throws -> TaskValue) -> TaskID {
        let id = job.nextExternalID
        job.nextExternalID -= 1
        job.tasks.add(id, name: name)
        job.tasks.markAwaited(id)
        Task.detached { [self] in
            let outcome: TaskOutcome
            do { outcome = .success(try await op()) } catch {
                outcome = .failure(TaskFailure(taskID: id, taskName: name, error: error))
            }
            post(.taskEnded(job, id, outcome))
        }
        return id
    }

    /// Watches a submitted task so the job hears of its end whether or not it awaits it.
    /// Queues a task without a round trip to the orchestrator actor (see `enqueue`); its end
    /// reaches this thread as an event, like a watched task's.
    func enqueue(_ job: LuaJob, _ spec: TaskSpec) throws -> TaskID {
        let id = try environment.orchestrator.enqueue(spec, onEnd: job.taskEnded)
        job.tasks.add(id, name: spec.name)
        return id
    }

    func watch(_ job: LuaJob, _ id: TaskID, name: String) {
        job.tasks.add(id, name: name)
        let orchestrator = environment.orchestrator
        Task.detached { [self] in
            let outcome = await orchestrator.wait(id)
            post(.taskEnded(job, id, outcome))
        }
    }

    // MARK: events

    private func handle(_ e: Event) {
        switch e {
        case .taskEnded(let job, let id, let outcome):
            job.charges.removeValue(forKey: id)?.release()
            // The result is kept for the script (it may await it later, or twice): charged.
            if case .success(let value) = outcome, !job.lua.account.charge(MemoryAccount.bytes(of: value)) {
                gf_trip(job.L, Int32(GF_TRIP_MEMORY.rawValue))
            }
            job.tasks.end(id, outcome)
            for ref in job.waiting.removeValue(forKey: id) ?? [] { deliver(job, ref, id, outcome) }
            // The last task of a script that has already ended: no resume will say it is done.
            if job.isDone { watchdog?.ended(ObjectIdentifier(job)) }
        case .resume(let job, let ref, let id, let outcome):
            deliver(job, ref, id, outcome)
        case .onHost(let job, let body):
            body(job.L)
        case .continueThread(let job, let ref):
            resume(job, ref) { _ in 0 }
        case .deadline(let job):
            guard !job.isDone else { return }
            // Time other scripts held the thread was credited after the watchdog looked.
            if job.lua.deadlineNS > gf_monotonic_ns() {
                watchdog?.rearm(ObjectIdentifier(job))
                return
            }
            // Lua code stops at its next hook; a script awaiting a task is woken with the limit;
            // tasks it left running are cancelled.
            gf_trip(job.L, Int32(GF_TRIP_WALL.rawValue))
            let message = String(cString: gf_trip_message(Int32(GF_TRIP_WALL.rawValue)))
            cancelPendingTasks(job)
            if job.mainResult?.status == .success { job.mainResult = limited(job, "\(message) (its tasks were still running)") }
            for (id, refs) in job.waiting {
                job.waiting[id] = nil
                for ref in refs {
                    deliver(
                        job, ref, id,
                        .failure(TaskFailure(taskID: id, taskName: job.tasks.name(id) ?? "task", reason: .error(message), kind: .limit)))
                }
            }
        case .startTask(let job, let fn, let args, let id, let token, let continuation):
            guard !token.isCancelled, job.mainResult == nil || job.mainResult?.status == .success else {
                luaL_unref(job.L, gf_registryindex(), fn)
                continuation.resume(throwing: CancellationError())
                return
            }
            lua_rawgeti(job.L, gf_registryindex(), lua_Integer(fn))
            luaL_unref(job.L, gf_registryindex(), fn)
            let ref = job.makeThread(role: .task(id: id, continuation: continuation))
            resume(job, ref) { co in
                for a in args { LuaStack.push(co, a) }
                return Int32(args.count)
            }
        }
    }

    /// Resumes an awaiting coroutine with (true, result) or (false, message).
    private func deliver(_ job: LuaJob, _ ref: Int32, _ id: TaskID, _ outcome: TaskOutcome) {
        job.tasks.markAwaited(id)
        resume(job, ref) { co in
            guard lua_checkstack(co, 4) != 0 else { return 0 }
            switch outcome {
            case .success(let value):
                lua_pushboolean(co, 1)
                LuaStack.push(co, value)
                if case .table = value, id > 0 {  // results know their task; channel items stay as sent
                    lua_pushinteger(co, lua_Integer(id))
                    lua_setfield(co, -2, "task_id")
                }
            case .failure(let f):
                lua_pushboolean(co, 0)
                job.note(f.description, kind: f.kind)
                LuaStack.push(co, f.description)
            }
            return 2
        }
    }

    private func resume(_ job: LuaJob, _ ref: Int32, push: (OpaquePointer) -> Int32) {
        let L = job.L
        lua_rawgeti(L, gf_registryindex(), lua_Integer(ref))
        guard let co = lua_tothread(L, -1), let role = job.threads[ref] else {
            gf_pop(L, 1)
            return
        }
        gf_pop(L, 1)
        let nargs = push(co)
        var nres: Int32 = 0
        let others = live.count > 1 ? live.filter { $0 !== job && !$0.isDone } : []
        let started = gf_monotonic_ns()
        if !others.isEmpty { job.lua.limits.pointee.slice_deadline_ns = started + Self.sliceNS }
        watchdog?.hold(ObjectIdentifier(job))
        let status = gf_resume(co, L, nargs, &nres)
        watchdog?.hold(nil)
        defer { if job.isDone { watchdog?.ended(ObjectIdentifier(job)) } }
        job.lua.limits.pointee.slice_deadline_ns = 0
        // The other scripts could not run Lua meanwhile: that time is not theirs to lose.
        let held = gf_monotonic_ns() - started
        for other in others { gf_extend_deadline(other.lua.limits, held) }
        if status == LUA_YIELD, nres == 0, job.lua.limits.pointee.preempted != 0 {
            // Its slice ended: it goes on after the others have had theirs.
            job.lua.limits.pointee.preempted = 0
            post(.continueThread(job, ref))
            return
        }
        if status == LUA_YIELD {
            if nres == 2, lua_type(co, -2) == LUA_TLIGHTUSERDATA, lua_touserdata(co, -2) == LuaHost.awaitToken,
                gf_isinteger(co, -1) != 0
            {
                let id = TaskID(lua_tointegerx(co, -1, nil))
                gf_pop(co, nres)
                awaitTask(job, ref, id)
            } else {
                gf_pop(co, nres)
                finish(
                    job, ref, role, error: "coroutine.yield was called outside a coroutine (only handle:await() may yield to gpuflow)",
                    traceback: nil)
            }
        } else if status == LUA_OK {
            var value = TaskValue.null
            var conversionError: String?
            if nres > 0 {
                do { value = try LuaStack.read(co, -nres, what: "task result") } catch { conversionError = "\(error)" }
            }
            gf_pop(co, nres)
            if let conversionError {
                finish(job, ref, role, error: conversionError, traceback: nil)
            } else {
                finish(job, ref, role, value: value, reusable: lua_gettop(co) == 0)
            }
        } else {
            // Out of memory under a budget is the memory limit, whichever refusal it was.
            if status == LUA_ERRMEM, job.lua.limits.pointee.memory_limit > 0 { gf_trip(L, Int32(GF_TRIP_MEMORY.rawValue)) }
            let message = LuaStack.string(co, -1) ?? "(error object is a \(LuaStack.typeName(co, -1)) value)"
            // After an out-of-memory the traceback itself may not fit: it is made in a protected
            // call, and left out when it cannot be.
            var traceback: String?
            if gf_traceback_protected(L, co) != 0 {
                traceback = LuaStack.string(L, -1)
                gf_pop(L, 1)
            }
            finish(job, ref, role, error: message, traceback: traceback)
        }
    }

    private func awaitTask(_ job: LuaJob, _ ref: Int32, _ id: TaskID) {
        guard job.tasks.contains(id) else {
            deliver(
                job, ref, id,
                .failure(TaskFailure(taskID: id, taskName: "?", reason: .error("await: task #\(id) was not submitted by this script"))))
            return
        }
        if let outcome = job.tasks.outcome(id) {
            post(.resume(job, thread: ref, id, outcome))
        } else {
            job.waiting[id, default: []].append(ref)
        }
    }

    private func finish(
        _ job: LuaJob, _ ref: Int32, _ role: LuaJob.ThreadRole, value: TaskValue = .null,
        error: String? = nil, traceback: String? = nil, reusable: Bool = false
    ) {
        // The main chunk's coroutine is not reused: the script is over once it returns.
        var isTask = false
        if case .task = role { isTask = true }
        job.releaseThread(ref, reusable: reusable && isTask)
        switch role {
        case .task(_, let c):
            if let error {
                c.resume(throwing: LuaError.runtime(error))
            } else {
                c.resume(returning: value)
            }
        case .main:
            if let code = job.lua.exitRequested, !job.stageDone {
                // os.exit(n): the script's own end, with its status and where it was called.
                let at = error.map { LuaFailure.location(in: $0) ?? "" } ?? ""
                job.mainResult = JobResult(
                    script: job.request.path, status: code == 0 ? .success : .exited(code),
                    message: code == 0 ? nil : "\(at.isEmpty ? "" : at + ": ")the script called os.exit(\(code))", traceback: nil,
                    warnings: [])
                cancelPendingTasks(job)
            } else if let error, !job.stageDone {
                let status = JobResult.Status.failed(job.lua.trippedLimit != nil ? .limit : job.kind(ofMessage: error))
                var message = error
                // Lua's own "not enough memory" says nothing of the budget: name the limit.
                if let trip = job.lua.trippedLimit, !error.contains(trip) {
                    message = "\(URL(fileURLWithPath: job.request.path).lastPathComponent): \(trip) (\(error))"
                }
                job.mainResult = JobResult(script: job.request.path, status: status, message: message, traceback: traceback, warnings: [])
                // The script is gone: nothing can await its tasks any more.
                cancelPendingTasks(job)
            } else if let trip = job.lua.trippedLimit, !job.stageDone {
                // A limit once hit ends the job as limited, even when the script caught the
                // error and ended normally.
                job.mainResult = limited(job, trip)
                cancelPendingTasks(job)
            } else {
                job.mainResult = JobResult(script: job.request.path, status: .success, message: nil, traceback: nil, warnings: [])
            }
            // The stage is over: close what it produced, and stop waiting on channel operations
            // nothing will resume.
            let channels = environment.channels, produced = job.producedChannels
            Task.detached { for n in produced { await channels.existing(n)?.close() } }
            for (id, name) in job.tasks.unendedExternal {
                job.tasks.end(id, .failure(TaskFailure(taskID: id, taskName: name, reason: .cancelled)))
            }
        }
    }

    /// Cancels the orchestrator tasks the job submitted that have not ended (channel waits,
    /// with negative ids, are not the orchestrator's).
    private func cancelPendingTasks(_ job: LuaJob) {
        let pending = job.tasks.unendedTasks
        let orchestrator = environment.orchestrator
        Task.detached { for id in pending { await orchestrator.cancel(id) } }
    }

    /// How a job that hit a limit ends: exit 3, the script's name and the limit's reason.
    private func limited(_ job: LuaJob, _ reason: String) -> JobResult {
        JobResult(
            script: job.request.path, status: .limitExceeded,
            message: "\(URL(fileURLWithPath: job.request.path).lastPathComponent): \(reason)", traceback: nil, warnings: [])
    }

    private func finalResult(_ job: LuaJob) -> JobResult {
        let base =
            job.mainResult
            ?? JobResult(
                script: job.request.path, status: .scriptError, message: "job did not finish",
                traceback: nil, warnings: [])
        var warnings: [String] = []
        // A failure nobody awaited would otherwise pass in silence; cancellations were asked for.
        job.tasks.forEach { id, name, awaited, outcome in
            if !awaited, case .failure(let f)? = outcome, f.reason != .cancelled {
                warnings.append("task \(name) (#\(id)) was never awaited and failed: \(f.cause)")
            }
        }
        return JobResult(
            script: base.script, status: base.status, message: base.message, traceback: base.traceback,
            warnings: warnings)
    }
}

private final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, Error>?
}
