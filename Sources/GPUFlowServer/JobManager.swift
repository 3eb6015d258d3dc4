import Foundation
import GPUFlowCore
import GPUFlowStore
import Logging

/// Runs uploaded jobs, each in a worker process of its own (`gpuflow run --sandbox --json`), so
/// an interpreter fault or a runaway script cannot take the server or the other jobs down, and
/// cancel always works (the worker is killed, even in a tight loop). Jobs, their events and
/// results persist in the run store; a job's events stream to any number of listeners.
///
/// What the server knows it decides itself, from its own records: each job's id, its run's id
/// (handed to the worker with `--run-id`), which run a resume continues, when a job has run too
/// long. A worker's events arrive on a descriptor of their own (see `WorkerProcess`); what it
/// prints is only ever text.
public actor JobManager {
    public struct Settings: Sendable {
        public var binary: String
        public var storePath: String
        public var profilePath: String?
        public var maxRunning: Int
        /// Where workers ask the server's orchestrator to admit their GPU tasks.
        public var admissionURL: String?
        /// The profile jobs run under: its sandbox section (or an agent's own) gives each job's
        /// wall-time limit, which the server enforces from outside the worker.
        public var profile: Profile
        /// Seconds a worker may run past that limit (start-up, recording the run) before the
        /// server kills it.
        public var deadlineGrace: Double
        /// Epoch events kept per job (a long training of a tiny model sends thousands a
        /// second); past that, each task's last epoch only. Every other event is bounded by the
        /// sandbox (max_tasks, max_output_kb) or here (printed text).
        public var maxEpochEvents = 10_000
        public init(
            binary: String, storePath: String, profilePath: String?, maxRunning: Int, admissionURL: String? = nil,
            profile: Profile = Profile(), deadlineGrace: Double = 5
        ) {
            self.binary = binary
            self.storePath = storePath
            self.profilePath = profilePath
            self.maxRunning = max(1, maxRunning)
            self.admissionURL = admissionURL
            self.profile = profile
            self.deadlineGrace = max(0, deadlineGrace)
        }

        /// The wall-time limit of agent `agent`'s jobs, in seconds: the sandbox's, with its default.
        public func wallSeconds(agent: String) -> Double {
            var sandbox = profile.agents[agent]?.sandbox ?? profile.sandbox
            sandbox.enabled = true
            return sandbox.withDefaults.wallS
        }
    }

    /// Why the server ended a worker.
    private enum Stop {
        case cancelled
        case deadline(limit: Double, after: Double)
    }

    /// A job in a worker.
    private struct Running {
        var job: RunStore.Job
        let worker: WorkerProcess
        var deadline: Task<Void, Never>?
        var stop: Stop?
        /// The first `error: ` line the worker printed: the reason a failed job gives.
        var firstError: String?
        var textBytes = 0
        var epochEvents = 0
    }

    /// Most bytes of a worker's printed text kept per line and per job (past that, one line says
    /// what was dropped); the script's own output is bounded by the sandbox's max_output_kb.
    static let maxTextLine = 16 << 10
    static let maxTextPerJob = 1 << 20

    let settings: Settings
    let store: RunStore
    private let writer: StoreWriter
    private let lock: StoreLock
    private let logger: Logger?
    /// The server's orchestrator, through which every job's GPU tasks are admitted.
    public let leases: LeaseBoard?
    /// Time slices across jobs (when the profile's pattern is time_sliced).
    public let slices: SliceArbiter?
    /// A secret per running job, with which its worker asks for admission.
    private var jobTokens: [String: (job: String, agent: String)] = [:]
    private var queue: [RunStore.Job] = []
    private var running: [String: Running] = [:]
    private var listeners: [String: [UUID: AsyncStream<String>.Continuation]] = [:]
    private var seq: [String: Int] = [:]
    private var submissions = 0
    private var finishedCounts: [String: Int] = [:]
    /// Jobs that resume a recorded run, with that run.
    private var resumeOf: [String: String] = [:]
    /// Resuming jobs waiting for the run they resume to be seen ended, before they queue.
    private var waitingToQueue: [String: RunStore.Job] = [:]
    /// The latest progress of running jobs ("epoch 3/10, loss 0.41"), for the dashboard.
    private var progressOf: [String: String] = [:]

    /// Takes the store for this server (an exclusive lock on `STORE.serve.lock`: a second
    /// server on the same store fails here, before it touches a job), then marks the jobs a
    /// previous server left queued or running as interrupted.
    public init(settings: Settings, store: RunStore, leases: LeaseBoard? = nil, slices: SliceArbiter? = nil, logger: Logger? = nil) throws {
        lock = try StoreLock.acquire(store: store.path)
        self.settings = settings
        self.store = store
        self.leases = leases
        self.slices = slices
        self.logger = logger
        writer = StoreWriter(store: store, logger: logger)
        try store.interruptUnfinishedJobs()
    }

    /// The job and agent behind a worker's admission token.
    public func jobFor(token: String) -> (job: String, agent: String)? { jobTokens[token] }

    /// A new job id: "j" and 16 hex digits from the system's random source.
    public static func newJobID() throws -> String { "j" + (try SystemRandom.hex(bytes: 8)) }

    /// A new run id for a job's worker: r20261129-122931- and 12 random hex digits.
    static func newRunID() throws -> String {
        "r" + UTCStamp.string(Date().timeIntervalSince1970, format: "%Y%m%d-%H%M%S") + "-" + (try SystemRandom.hex(bytes: 6))
    }

    /// A job as the server knows it now: a live one from memory (its record may not be
    /// written yet), else from the store.
    public func job(_ id: String) -> RunStore.Job? {
        if let r = running[id] { return r.job }
        if let q = queue.first(where: { $0.id == id }) ?? waitingToQueue[id] { return q }
        if let p = writer.pendingJob(id) { return p }
        return try? store.job(id)
    }

    public func submit(agent: String, script: String, arguments: [String]) throws -> RunStore.Job {
        let job = RunStore.Job(
            id: try Self.newJobID(), agent: agent, state: "queued", script: script, arguments: arguments,
            profile: settings.profilePath, createdAt: Date().timeIntervalSince1970)
        try store.putJob(job)
        queue.append(job)
        submissions += 1
        pump()
        return job
    }

    /// Runs an interrupted, failed, cancelled or limited job again as a new job of the same
    /// agent. A job resumes at most once: asked again (or by requests racing), the answer is
    /// the job that resumes it, with `created` false. The new job continues the old one's run
    /// (finished stages from the cache, training from its last epoch) only where the server's
    /// records say that run is the old job's own; otherwise it runs the script afresh.
    public func resume(_ old: RunStore.Job) async throws -> (job: RunStore.Job, created: Bool) {
        if let by = old.resumedBy, let existing = job(by) { return (existing, false) }
        var job = RunStore.Job(
            id: try Self.newJobID(), agent: old.agent, state: "queued", script: old.script, arguments: old.arguments,
            profile: settings.profilePath, createdAt: Date().timeIntervalSince1970)
        let run = old.runID.flatMap { r -> String? in
            guard (try? store.hasRun(r)) == true, (try? store.job(recording: r))?.id == old.id else { return nil }
            return r
        }
        job.reason = "resumes \(old.id)" + (run.map { " (run \($0))" } ?? "")
        let holder = try store.putResumingJob(job, resuming: old.id)
        guard holder == job.id else {
            guard let holder, let existing = self.job(holder) else { throw StoreError.unknownRun("the job that resumes \(old.id)") }
            return (existing, false)
        }
        if let run { resumeOf[job.id] = run }
        submissions += 1
        // A worker orphaned by a server crash exits within a fraction of a second; should its
        // run still be marked running, wait (up to ten seconds) until the store sees it gone.
        // Meanwhile the new job counts as queued (it can be cancelled).
        if let run {
            waitingToQueue[job.id] = job
            for _ in 0..<100 {
                _ = try? store.markInterrupted()
                guard (try? store.summary(run))?.status == "running" else { break }
                try? await Task.sleep(nanoseconds: 100_000_000)
            }
            guard waitingToQueue.removeValue(forKey: job.id) != nil else { return (self.job(job.id) ?? job, true) }
        }
        queue.append(job)
        pump()
        return (job, true)
    }

    /// Starts queued jobs while there is room, taking the next job of the agent with the fewest
    /// jobs running (so one agent's flood does not hold the others back).
    private func pump() {
        while running.count < settings.maxRunning, !queue.isEmpty {
            var busy: [String: Int] = [:]
            for r in running.values { busy[r.job.agent, default: 0] += 1 }
            let index = queue.indices.min { (busy[queue[$0].agent] ?? 0, $0) < (busy[queue[$1].agent] ?? 0, $1) } ?? 0
            let job = queue.remove(at: index)
            launch(job)
        }
    }

    private func launch(_ queued: RunStore.Job) {
        var job = queued
        let resumed = resumeOf.removeValue(forKey: job.id)
        // A folder per job: in the sandbox a job may read and write files only there, so it
        // cannot see another job's script.
        let dir = (settings.storePath as NSString).deletingLastPathComponent + "/jobs/\(job.id)"
        let path = dir + "/job.lua"
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try job.script.write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            finish(job, state: "failed", reason: "cannot write the job's script: \(error.localizedDescription)", exitCode: nil)
            return
        }
        let runID: String, secret: String
        do {
            runID = try Self.newRunID()
            secret = try SystemRandom.hex(bytes: 32)
        } catch {
            finish(job, state: "failed", reason: "cannot start a worker: \(error)", exitCode: nil)
            return
        }
        // Sandboxed as the job's agent, under the server's profile, into the server's store,
        // under the run id the server chose; a resume continues the run the server found.
        var args = ["run", path]
        if let resumed { args += ["--resume", resumed] }
        args += ["--sandbox", "--json", "--agent", job.agent, "--store", settings.storePath, "--run-id", runID]
        if let profile = settings.profilePath { args += ["--profile", profile] }
        if resumed == nil { args += ["--"] + job.arguments }
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("GPUFLOW_ADMISSION_") && $0.key != "GPUFLOW_SLICES" }
        env["GPUFLOW_EXIT_WITH_PARENT"] = String(getpid())
        env["GPUFLOW_LIFELINE_FD"] = "0"
        env["GPUFLOW_EVENTS_FD"] = "3"
        if let url = settings.admissionURL, leases != nil {
            jobTokens[secret] = (job.id, job.agent)
            env["GPUFLOW_ADMISSION_URL"] = url
            env["GPUFLOW_ADMISSION_TOKEN"] = secret
            if slices != nil { env["GPUFLOW_SLICES"] = "1" }
        }
        let worker: WorkerProcess
        do {
            worker = try WorkerProcess.spawn(executable: settings.binary, arguments: args, environment: env)
        } catch {
            jobTokens.removeValue(forKey: secret)
            finish(job, state: "failed", reason: "cannot start a worker: \(error)", exitCode: nil)
            return
        }
        job.state = "running"
        job.startedAt = Date().timeIntervalSince1970
        job.runID = runID
        writer.enqueue(.job(job))
        let id = job.id
        var entry = Running(job: job, worker: worker)
        // Lines and the exit arrive in order on the worker's stream; one task on this actor
        // takes them.
        Task { [worker] in
            for await item in worker.items { self.handle(id, item) }
        }
        let limit = settings.wallSeconds(agent: job.agent), after = limit + settings.deadlineGrace
        entry.deadline = Task { [worker] in
            try? await Task.sleep(nanoseconds: UInt64(after * 1e9))
            guard !Task.isCancelled else { return }
            self.deadlinePassed(id, worker, limit: limit, after: after)
        }
        running[id] = entry
    }

    private func deadlinePassed(_ id: String, _ worker: WorkerProcess, limit: Double, after: Double) {
        guard var r = running[id], r.worker === worker, r.stop == nil else { return }
        r.stop = .deadline(limit: limit, after: after)
        running[id] = r
        worker.signal(SIGKILL)
    }

    public func progress() -> [String: String] { progressOf }

    private func handle(_ id: String, _ item: WorkerProcess.Item) {
        switch item {
        case .event(let line):
            if let event = Self.workerEvent(line) {
                if event["event"] as? String == "epoch", var r = running[id] {
                    let e = event["epoch"] as? Int ?? 0, of = event["of"] as? Int ?? 0
                    progressOf[id] = String(
                        format: "%@ epoch %d/%d, loss %.4f", (event["name"] as? String) ?? "task", e, of,
                        (event["loss"] as? Double) ?? .nan)
                    r.epochEvents += 1
                    running[id] = r
                    if r.epochEvents > settings.maxEpochEvents && e != of {
                        if r.epochEvents == settings.maxEpochEvents + 1 {
                            record(
                                id,
                                Self.encode([
                                    "event": "log",
                                    "text": "(epoch events past \(settings.maxEpochEvents): only each task's last one is kept)",
                                ]))
                        }
                        return
                    }
                }
                record(id, line)
            } else {
                text(id, line)
            }
        case .output(let line):
            text(id, line)
        case .exited:
            ended(id)
        }
    }

    /// A line from the events descriptor that is one JSON object with a string "event" the
    /// worker may send (the `job_` events are the server's own); nil for anything else.
    static func workerEvent(_ line: String) -> [String: Any]? {
        guard let o = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any], let name = o["event"] as? String,
            !name.isEmpty, !name.hasPrefix("job_")
        else { return nil }
        return o
    }

    /// A line the worker printed: kept as text in a `log` event, never read as an event.
    private func text(_ id: String, _ line: String) {
        guard var r = running[id] else { return }
        if r.textBytes >= Self.maxTextPerJob { return }
        var kept = line.utf8.count > Self.maxTextLine ? String(decoding: line.utf8.prefix(Self.maxTextLine), as: UTF8.self) + "…" : line
        r.textBytes += kept.utf8.count
        if r.textBytes >= Self.maxTextPerJob { kept += "\n(further output dropped: over \(Self.maxTextPerJob >> 10) KiB)" }
        if r.firstError == nil, line.hasPrefix("error: ") { r.firstError = String(kept.dropFirst(7).prefix(2000)) }
        running[id] = r
        record(id, Self.encode(["event": "log", "text": kept]))
    }

    static func encode(_ object: [String: Any]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// Numbers the event, queues it for the store and hands it to the job's listeners.
    private func record(_ id: String, _ line: String) {
        let n = seq[id, default: 0]
        seq[id] = n + 1
        writer.enqueue(.event(job: id, seq: n, line: line))
        for c in (listeners[id] ?? [:]).values { c.yield(line) }
    }

    private func ended(_ id: String) {
        guard let r = running.removeValue(forKey: id) else { return }
        r.deadline?.cancel()
        let (status, signalled) = r.worker.reap()
        progressOf.removeValue(forKey: id)
        for (secret, owner) in jobTokens where owner.job == id { jobTokens.removeValue(forKey: secret) }
        let agent = r.job.agent
        let leases = self.leases, slices = self.slices
        if leases != nil || slices != nil {
            Task {
                await leases?.releaseAll(job: id)
                await slices?.release(agent)
            }
        }
        let state: String, reason: String?
        switch r.stop {
        case .cancelled?:
            (state, reason) = ("cancelled", "cancelled by request")
        case .deadline(let limit, let after)?:
            (state, reason) = (
                "limit",
                String(
                    format: "wall-time limit: the job ran past its sandbox wall_s of %g s (killed by the server after %g s)",
                    limit, after)
            )
        case nil where signalled:
            (state, reason) = ("failed", "the worker died of signal \(status)")
        case nil:
            switch status {
            case 0: (state, reason) = ("succeeded", nil)
            case 3: (state, reason) = ("limit", r.firstError ?? "a sandbox limit was hit")
            case 2: (state, reason) = ("failed", r.firstError ?? "bad input")
            default: (state, reason) = ("failed", r.firstError ?? "the script failed (exit \(status))")
            }
        }
        finish(r.job, state: state, reason: reason, exitCode: Int(status))
        pump()
    }

    /// Ends a job: its record, its `job_finished` event (the last), the count by state.
    private func finish(_ j: RunStore.Job, state: String, reason: String?, exitCode: Int?) {
        var job = j
        job.state = state
        job.reason = reason
        job.exitCode = exitCode
        job.endedAt = Date().timeIntervalSince1970
        finishedCounts[state, default: 0] += 1
        record(job.id, "{\"event\":\"job_finished\",\"state\":\"\(state)\",\"exit_code\":\(exitCode.map(String.init) ?? "null")}")
        writer.enqueue(.job(job))
        seq.removeValue(forKey: job.id)
        for c in (listeners.removeValue(forKey: job.id) ?? [:]).values { c.finish() }
    }

    /// Cancels a queued or running job; false when it had already ended.
    public func cancel(_ id: String) -> Bool {
        let waiting = queue.firstIndex(where: { $0.id == id }).map { queue.remove(at: $0) } ?? waitingToQueue.removeValue(forKey: id)
        if let job = waiting {
            resumeOf.removeValue(forKey: id)
            finish(job, state: "cancelled", reason: "cancelled before it started", exitCode: nil)
            return true
        }
        guard var r = running[id] else { return false }
        if r.stop == nil { r.stop = .cancelled }
        running[id] = r
        r.worker.signal(SIGKILL)
        return true
    }

    /// The job's events so far: those in the store, then those still waiting for it. (What
    /// waits is read first: an event written in between is in both, and kept once.)
    private func pastEvents(_ id: String) -> [String] {
        let waiting = writer.pendingEvents(id)
        let stored = (try? store.jobEvents(id)) ?? []
        let last = stored.last?.seq ?? -1
        return stored.map(\.line) + waiting.filter { $0.seq > last }.map(\.line)
    }

    /// What the job's script printed so far (its `output` events' text).
    public func output(_ id: String) -> String {
        pastEvents(id).compactMap { line -> String? in
            guard let o = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any], o["event"] as? String == "output"
            else {
                return nil
            }
            return o["text"] as? String
        }.joined()
    }

    /// The job's events so far, then live ones until it ends.
    public func events(_ id: String) -> AsyncStream<String> {
        let past = pastEvents(id)
        let live = running[id] != nil || waitingToQueue[id] != nil || queue.contains { $0.id == id }
        let key = UUID()
        return AsyncStream { c in
            for l in past { c.yield(l) }
            if live {
                listeners[id, default: [:]][key] = c
            } else {
                c.finish()
            }
        }
    }

    public struct Stats: Sendable {
        public let queued: Int
        public let running: Int
        public let submissions: Int
        public let finished: [String: Int]
        /// Job records and events waiting for the store (it was busy or locked).
        public let unwritten: Int
    }

    public func stats() -> Stats {
        Stats(
            queued: queue.count + waitingToQueue.count, running: running.count, submissions: submissions, finished: finishedCounts,
            unwritten: writer.waiting)
    }

    /// Kills every worker (server shutdown) and writes what is still waiting for the store;
    /// the killed jobs are interrupted on the next start.
    public func shutdown() {
        for r in running.values { r.worker.signal(SIGKILL) }
        if !writer.flush(timeout: 10) {
            logger?.warning("the run store did not take every write before shutdown", metadata: ["store.waiting": "\(writer.waiting)"])
        }
    }
}
