import Foundation
import GPUFlowStore

/// Runs uploaded jobs, each in a worker process of its own (`gpuflow run --sandbox --json`), so
/// an interpreter fault or a runaway script cannot take the server or the other jobs down, and
/// cancel always works (the worker is killed, even in a tight loop). Jobs, their events and
/// results persist in the run store; a job's events stream to any number of listeners.
public actor JobManager {
    public struct Settings: Sendable {
        public var binary: String
        public var storePath: String
        public var profilePath: String?
        public var maxRunning: Int
        /// Where workers ask the server's orchestrator to admit their GPU tasks.
        public var admissionURL: String?
        public init(binary: String, storePath: String, profilePath: String?, maxRunning: Int, admissionURL: String? = nil) {
            self.binary = binary
            self.storePath = storePath
            self.profilePath = profilePath
            self.maxRunning = max(1, maxRunning)
            self.admissionURL = admissionURL
        }
    }

    let settings: Settings
    let store: RunStore
    /// The server's orchestrator, through which every job's GPU tasks are admitted.
    public let leases: LeaseBoard?
    /// Time slices across jobs (when the profile's pattern is time_sliced).
    public let slices: SliceArbiter?
    /// A secret per running job, with which its worker asks for admission.
    private var jobTokens: [String: (job: String, agent: String)] = [:]
    private var queue: [RunStore.Job] = []
    private var workers: [String: Process] = [:]
    private var cancelled: Set<String> = []
    private var listeners: [String: [UUID: AsyncStream<String>.Continuation]] = [:]
    private var seq: [String: Int] = [:]
    private var submissions = 0
    private var finishedCounts: [String: Int] = [:]

    public init(settings: Settings, store: RunStore, leases: LeaseBoard? = nil, slices: SliceArbiter? = nil) throws {
        self.settings = settings
        self.store = store
        self.leases = leases
        self.slices = slices
        try store.interruptUnfinishedJobs()
    }

    /// The job and agent behind a worker's admission token.
    public func jobFor(token: String) -> (job: String, agent: String)? { jobTokens[token] }

    public static func newJobID() -> String { "j" + String(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)) }

    public func submit(agent: String, script: String, arguments: [String]) throws -> RunStore.Job {
        var job = RunStore.Job(id: Self.newJobID(), agent: agent, state: "queued", script: script, arguments: arguments,
                               profile: settings.profilePath, createdAt: Date().timeIntervalSince1970)
        job.reason = nil
        try store.putJob(job)
        queue.append(job)
        submissions += 1
        pump()
        return job
    }

    /// Runs an interrupted, failed or cancelled job again as a new job of the same agent: its
    /// recorded run resumes (finished stages from the cache, training from its last epoch).
    public func resume(_ old: RunStore.Job) async throws -> RunStore.Job {
        // A worker orphaned by a server crash may take a moment to notice and exit: wait (up
        // to ten seconds) until its run is no longer marked running.
        if let run = old.runID {
            for _ in 0..<100 {
                _ = try? store.markInterrupted()
                guard (try? store.summary(run))?.status == "running" else { break }
                try? await Task.sleep(nanoseconds: 100_000_000)
            }
        }
        var job = RunStore.Job(id: Self.newJobID(), agent: old.agent, state: "queued", script: old.script, arguments: old.arguments,
                               profile: settings.profilePath, createdAt: Date().timeIntervalSince1970)
        job.reason = "resumes \(old.id)" + (old.runID.map { " (run \($0))" } ?? "")
        try store.putJob(job)
        resumeOf[job.id] = old.runID
        queue.append(job)
        submissions += 1
        pump()
        return job
    }

    /// Jobs that resume a recorded run, with that run.
    private var resumeOf: [String: String] = [:]

    /// Starts queued jobs while there is room, taking the next job of the agent with the fewest
    /// jobs running (so one agent's flood does not hold the others back).
    private func pump() {
        while workers.count < settings.maxRunning, !queue.isEmpty {
            var running: [String: Int] = [:]
            for id in workers.keys { if let a = agentOf[id] { running[a, default: 0] += 1 } }
            let index = queue.indices.min { (running[queue[$0].agent] ?? 0, $0) < (running[queue[$1].agent] ?? 0, $1) } ?? 0
            let job = queue.remove(at: index)
            launch(job)
        }
    }

    private var agentOf: [String: String] = [:]

    private func launch(_ j: RunStore.Job) {
        var job = j
        // A folder per job: in the sandbox a job may read and write files only there, so it
        // cannot see another job's script.
        let dir = (settings.storePath as NSString).deletingLastPathComponent + "/jobs/\(job.id)"
        let path = dir + "/job.lua"
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try job.script.write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            job.state = "failed"
            job.reason = "cannot write the job's script: \(error.localizedDescription)"
            job.endedAt = Date().timeIntervalSince1970
            try? store.putJob(job)
            return
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: settings.binary)
        var args = ["run", path, "--sandbox", "--json", "--agent", job.agent, "--store", settings.storePath]
        if let profile = settings.profilePath { args += ["--profile", profile] }
        p.arguments = args + ["--"] + job.arguments
        if let run = resumeOf.removeValue(forKey: job.id) {
            // The recorded run's settings; its script text is this job's (the same upload).
            p.arguments = ["run", "--resume", run, "--json", "--store", settings.storePath]
        }
        var env = ["GPUFLOW_EXIT_WITH_PARENT": String(getpid())]
        if let url = settings.admissionURL, leases != nil {
            let secret = UUID().uuidString + UUID().uuidString
            jobTokens[secret] = (job.id, job.agent)
            env["GPUFLOW_ADMISSION_URL"] = url
            env["GPUFLOW_ADMISSION_TOKEN"] = secret
            if slices != nil { env["GPUFLOW_SLICES"] = "1" }
        }
        p.environment = ProcessInfo.processInfo.environment.merging(env) { _, b in b }
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        let id = job.id
        // Lines arrive on a reader thread; the actor takes them in order.
        let reader = LineReader { [weak self] line in
            guard let self else { return }
            Task { await self.received(id, line) }
        }
        out.fileHandleForReading.readabilityHandler = { h in
            let data = h.availableData
            if data.isEmpty { h.readabilityHandler = nil; reader.finish() } else { reader.feed(data) }
        }
        p.terminationHandler = { [weak self] proc in
            let status = proc.terminationStatus, reason = proc.terminationReason
            Task {
                try? await Task.sleep(nanoseconds: 50_000_000)  // the last lines first
                await self?.ended(id, status: status, signalled: reason == .uncaughtSignal)
            }
        }
        do {
            try p.run()
        } catch {
            job.state = "failed"
            job.reason = "cannot start a worker: \(error.localizedDescription)"
            try? store.putJob(job)
            return
        }
        job.state = "running"
        job.startedAt = Date().timeIntervalSince1970
        try? store.putJob(job)
        workers[id] = p
        agentOf[id] = job.agent
    }

    /// The latest progress of running jobs ("epoch 3/10, loss 0.41"), for the dashboard.
    private var progressOf: [String: String] = [:]
    public func progress() -> [String: String] { progressOf }

    private func received(_ id: String, _ line: String) {
        if line.contains("\"event\":\"epoch\""), let d = line.data(using: .utf8),
           let o = try? JSONSerialization.jsonObject(with: d) as? [String: Any], let e = o["epoch"] as? Int, let of = o["of"] as? Int {
            progressOf[id] = String(format: "%@ epoch %d/%d, loss %.4f", (o["name"] as? String) ?? "task", e, of, (o["loss"] as? Double) ?? .nan)
        }
        let n = seq[id, default: 0]
        seq[id] = n + 1
        try? store.appendJobEvent(id, seq: n, line: line)
        if line.contains("\"event\":\"run_started\""), let runID = Self.field("run", in: line), var job = try? store.job(id) {
            job.runID = runID
            try? store.putJob(job)
        }
        for c in (listeners[id] ?? [:]).values { c.yield(line) }
    }

    static func field(_ name: String, in line: String) -> String? {
        guard let data = line.data(using: .utf8), let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return o[name] as? String
    }

    private func ended(_ id: String, status: Int32, signalled: Bool) async {
        let agentOfEnded = agentOf[id]
        progressOf.removeValue(forKey: id)
        workers.removeValue(forKey: id)
        agentOf.removeValue(forKey: id)
        for (secret, owner) in jobTokens where owner.job == id { jobTokens.removeValue(forKey: secret) }
        await leases?.releaseAll(job: id)
        if let a = agentOfEnded { await slices?.release(a) }
        guard var job = try? store.job(id) else { pump(); return }
        job.endedAt = Date().timeIntervalSince1970
        job.exitCode = Int(status)
        if cancelled.contains(id) {
            job.state = "cancelled"
            job.reason = "cancelled by request"
        } else if signalled {
            job.state = "failed"
            job.reason = "the worker died of signal \(status)"
        } else {
            switch status {
            case 0: job.state = "succeeded"
            case 3: job.state = "limit"; job.reason = lastError(id) ?? "a sandbox limit was hit"
            case 2: job.state = "failed"; job.reason = lastError(id) ?? "bad input"
            default: job.state = "failed"; job.reason = lastError(id) ?? "the script failed (exit \(status))"
            }
        }
        try? store.putJob(job)
        finishedCounts[job.state, default: 0] += 1
        let end = "{\"event\":\"job_finished\",\"state\":\"\(job.state)\",\"exit_code\":\(status)}"
        received(id, end)
        for c in (listeners.removeValue(forKey: id) ?? [:]).values { c.finish() }
        pump()
    }

    /// The worker's first `error:` line, the reason a failed job gives.
    private func lastError(_ id: String) -> String? {
        (try? store.jobEvents(id))?.map(\.line).first { $0.hasPrefix("error: ") }.map { String($0.dropFirst(7)) }
    }

    /// Cancels a queued or running job; false when it had already ended.
    public func cancel(_ id: String) -> Bool {
        if let i = queue.firstIndex(where: { $0.id == id }) {
            var job = queue.remove(at: i)
            job.state = "cancelled"
            job.reason = "cancelled before it started"
            job.endedAt = Date().timeIntervalSince1970
            try? store.putJob(job)
            for c in (listeners.removeValue(forKey: id) ?? [:]).values { c.finish() }
            return true
        }
        guard let p = workers[id] else { return false }
        cancelled.insert(id)
        kill(p.processIdentifier, SIGKILL)
        return true
    }

    /// The job's events so far, then live ones until it ends.
    public func events(_ id: String) -> AsyncStream<String> {
        let past = (try? store.jobEvents(id))?.map(\.line) ?? []
        let live = workers[id] != nil || queue.contains { $0.id == id }
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
    }

    public func stats() -> Stats { Stats(queued: queue.count, running: workers.count, submissions: submissions, finished: finishedCounts) }

    /// Kills every worker (server shutdown); their jobs are then interrupted on the next start.
    public func shutdown() {
        for p in workers.values { kill(p.processIdentifier, SIGKILL) }
    }
}

/// Splits a byte stream into lines.
final class LineReader: @unchecked Sendable {
    private let lock = NSLock()
    private var buffer = Data()
    private let emit: (String) -> Void
    init(_ emit: @escaping (String) -> Void) { self.emit = emit }
    func feed(_ d: Data) {
        lock.lock()
        buffer.append(d)
        var lines: [String] = []
        while let i = buffer.firstIndex(of: 10) {
            lines.append(String(decoding: buffer[buffer.startIndex..<i], as: UTF8.self))
            buffer.removeSubrange(buffer.startIndex...i)
        }
        lock.unlock()
        for l in lines where !l.isEmpty { emit(l) }
    }
    func finish() {
        lock.lock()
        let rest = buffer
        buffer.removeAll()
        lock.unlock()
        if !rest.isEmpty { emit(String(decoding: rest, as: UTF8.self)) }
    }
}
