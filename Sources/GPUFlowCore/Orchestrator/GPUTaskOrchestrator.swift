import Foundation
import Logging

/// Queues, admits and runs tasks: one priority queue, one dependency graph and one memory pool
/// for GPU tasks and plain tasks alike.
///
/// Scheduling is event driven: it runs on submit, completion, cancellation and timeout, never on
/// a timer. Admission is strict in priority order (a task that does not fit the pool holds back
/// lower ones) so that a large task cannot be starved by a stream of small ones; waiting tasks
/// gain one boost step every `priorityAgingS` seconds.
public actor GPUTaskOrchestrator {
    public struct Configuration: Sendable {
        public var maxConcurrentTasks: Int
        public var memoryPoolMB: Int
        public var defaultTimeoutS: Double
        public var priorityAgingS: Double
        public var learningEnabled: Bool
        public var agents: [String: Profile.Agent]

        public init(profile: Profile) {
            maxConcurrentTasks = profile.resources.maxConcurrentTasks
            memoryPoolMB = profile.resources.memoryPoolMB
            defaultTimeoutS = profile.resources.taskTimeoutS
            priorityAgingS = profile.resources.priorityAgingS
            learningEnabled = profile.learning.enabled
            agents = profile.agents
        }
    }

    /// One node of `submitGraph`: dependencies may name other nodes of the same graph by key
    /// (so cycles are possible and refused) or tasks already submitted by id.
    public struct GraphNode: Sendable {
        public var key: String
        public var spec: TaskSpec
        public var after: [String]
        public init(key: String, spec: TaskSpec, after: [String] = []) {
            self.key = key
            self.spec = spec
            self.after = after
        }
    }

    private struct Entry {
        var record: TaskRecord
        let spec: TaskSpec
        let sequence: Int
        var waitingOn: Set<TaskID>
        var dependents: [TaskID] = []
        var result: TaskValue?
        var workTask: Task<Void, Never>?
        var timer: Task<Void, Never>?
    }

    public let configuration: Configuration
    private let logger: Logger
    private let epoch = Date()
    private var entries: [TaskID: Entry] = [:]
    private var queued: Set<TaskID> = []
    private var nextID: TaskID = 1
    private var running = 0
    private var memoryInUse = 0
    private var peakRunning = 0
    private var peakMemory = 0
    private var waiters: [TaskID: [CheckedContinuation<TaskOutcome, Never>]] = [:]
    /// Shared with the workload threads, which record executions and ask for predictions.
    public nonisolated let learning: GPULearningEngine
    /// One circuit breaker per backend, shared by every task of the process.
    public nonisolated let breakers: CircuitBreakerBoard

    public init(configuration: Configuration, learning: GPULearningEngine? = nil, breakers: CircuitBreakerBoard? = nil,
                logger: Logger = Logger(label: "gpuflow.orchestrator")) {
        self.configuration = configuration
        self.logger = logger
        self.learning = learning ?? GPULearningEngine(enabled: configuration.learningEnabled)
        self.breakers = breakers ?? CircuitBreakerBoard()
    }

    /// The profile's learning history file and breaker settings, opened for this process.
    public init(profile: Profile, logger: Logger = Logger(label: "gpuflow.orchestrator")) {
        let store: ExecutionHistoryStore?
        switch profile.learning.history {
        case "none": store = nil
        case "default": store = ExecutionHistoryStore(path: ExecutionHistoryStore.defaultPath())
        default: store = ExecutionHistoryStore(path: profile.learning.history)
        }
        let settings = CircuitBreaker.Settings(failureThreshold: profile.fallback.failureThreshold,
                                               cooldownS: Double(profile.fallback.cooldownMS) / 1000)
        self.init(configuration: Configuration(profile: profile),
                  learning: GPULearningEngine(enabled: profile.learning.enabled, store: store),
                  breakers: CircuitBreakerBoard(settings: settings), logger: logger)
    }

    private var now: Double { Date().timeIntervalSince(epoch) }

    // MARK: Submission

    /// Queues one task. Throws `SubmitError` (and queues nothing) for unknown dependencies or a
    /// task that could never fit the pool.
    public func submit(_ spec: TaskSpec) throws -> TaskID {
        try check(spec)
        for dep in spec.dependencies where entries[dep] == nil {
            throw SubmitError.unknownDependency("#\(dep) (task \(spec.name))")
        }
        return insert(spec)
    }

    /// Queues a whole graph at once, or nothing: keys must be unique, every `after` must name a
    /// key of the graph, and the graph must be acyclic.
    public func submitGraph(_ nodes: [GraphNode]) throws -> [String: TaskID] {
        var byKey: [String: Int] = [:]
        for (i, n) in nodes.enumerated() {
            if byKey[n.key] != nil { throw SubmitError.duplicateKey(n.key) }
            byKey[n.key] = i
            try check(n.spec)
            for dep in n.spec.dependencies where entries[dep] == nil {
                throw SubmitError.unknownDependency("#\(dep) (task \(n.key))")
            }
            for a in n.after where !nodes.contains(where: { $0.key == a }) {
                throw SubmitError.unknownDependency("'\(a)' (after of task \(n.key))")
            }
        }
        // Depth-first topological order; a grey node met again closes a cycle.
        var color = [Int](repeating: 0, count: nodes.count)  // 0 white, 1 grey, 2 black
        var order: [Int] = []
        var stack: [String] = []
        func visit(_ i: Int) throws {
            if color[i] == 2 { return }
            if color[i] == 1 {
                let start = stack.firstIndex(of: nodes[i].key) ?? 0
                throw SubmitError.cycle(Array(stack[start...]) + [nodes[i].key])
            }
            color[i] = 1
            stack.append(nodes[i].key)
            for a in nodes[i].after { if let j = byKey[a] { try visit(j) } }
            stack.removeLast()
            color[i] = 2
            order.append(i)
        }
        for i in nodes.indices { try visit(i) }
        var ids: [String: TaskID] = [:]
        for i in order {
            var spec = nodes[i].spec
            spec.dependencies += nodes[i].after.compactMap { ids[$0] }
            ids[nodes[i].key] = insert(spec)
        }
        return ids
    }

    private func check(_ spec: TaskSpec) throws {
        if spec.memoryMB < 0 { throw SubmitError.invalid("task \(spec.name): memory must not be negative") }
        if spec.memoryMB > configuration.memoryPoolMB {
            throw SubmitError.exceedsPool(name: spec.name, memoryMB: spec.memoryMB, poolMB: configuration.memoryPoolMB)
        }
        if let agent = spec.agent, let limit = configuration.agents[agent]?.maxMemoryMB, spec.memoryMB > limit {
            throw SubmitError.invalid("task \(spec.name) needs \(spec.memoryMB) MB but agent \(agent) may hold at most \(limit) MB")
        }
        if let t = spec.timeoutS, !(t > 0) { throw SubmitError.invalid("task \(spec.name): timeout must be positive") }
    }

    private func insert(_ spec: TaskSpec) -> TaskID {
        let id = nextID
        nextID += 1
        // A task that declared no memory is admitted with the learned peak of such work.
        var memoryMB = spec.memoryMB, source = spec.memoryMB > 0 ? "declared" : "none"
        if memoryMB == 0, let w = spec.workload, let p = learning.predictedMemoryMB(kind: w.kind, features: w.features), p > 0 {
            memoryMB = min(p, configuration.memoryPoolMB)
            source = "predicted"
        }
        var record = TaskRecord(id: id, name: spec.name, typeName: spec.kind.typeName, kind: spec.kind, agent: spec.agent,
                                priority: spec.priority, memoryMB: memoryMB, durationEstimateS: spec.durationEstimateS,
                                state: .blocked, submittedAt: now)
        record.memorySource = source
        var entry = Entry(record: record, spec: spec, sequence: id, waitingOn: [])
        var failedDependency: (TaskID, TaskFailure)?
        for dep in spec.dependencies {
            guard let d = entries[dep] else { continue }
            switch d.record.state {
            case .succeeded: break
            case .failed, .cancelled:
                if failedDependency == nil, let f = d.record.failure { failedDependency = (dep, f) }
            default:
                entry.waitingOn.insert(dep)
                entries[dep]?.dependents.append(id)
            }
        }
        entries[id] = entry
        logger.debug("submitted", metadata: ["task.id": "\(id)", "task.name": "\(spec.name)", "task.type": "\(spec.kind.typeName)"])
        if let (dep, f) = failedDependency {
            fail(id, .dependencyFailed(id: dep, name: entries[dep]?.record.name ?? "?", cause: f.cause))
        } else if entry.waitingOn.isEmpty {
            entries[id]?.record.state = .queued
            queued.insert(id)
            schedule()
        }
        return id
    }

    // MARK: Scheduling

    private func effectivePriority(_ e: Entry, at t: Double) -> Int {
        let aging = Int((t - e.record.submittedAt) / configuration.priorityAgingS)
        return e.spec.priority.rank * TaskPriority.step + e.spec.boost + aging + learning.boost(for: e.record.typeName)
    }

    /// Learned duration of this task's work: by its sizes where known, else its type's mean.
    private func predictedSeconds(_ e: Entry) -> Double {
        if let w = e.spec.workload, let p = learning.predictedSeconds(kind: w.kind, features: w.features) { return p }
        return learning.predictedSeconds(e.record.typeName) ?? 0
    }

    private func agentUsage(_ agent: String) -> (tasks: Int, memoryMB: Int) {
        var tasks = 0, mem = 0
        for e in entries.values where e.record.state == .running && e.record.agent == agent {
            tasks += 1
            mem += e.record.memoryMB
        }
        return (tasks, mem)
    }

    private func schedule() {
        let t = now
        // Highest effective priority first; among equals, the shorter predicted run, then FIFO.
        let order = queued.compactMap { entries[$0] }.sorted { a, b in
            let pa = effectivePriority(a, at: t), pb = effectivePriority(b, at: t)
            if pa != pb { return pa > pb }
            let da = predictedSeconds(a), db = predictedSeconds(b)
            if da != db { return da < db }
            return a.sequence < b.sequence
        }
        for e in order {
            if running >= configuration.maxConcurrentTasks { return }
            if memoryInUse + e.record.memoryMB > configuration.memoryPoolMB { return }
            if let agent = e.record.agent, let limits = configuration.agents[agent] {
                let use = agentUsage(agent)
                if let n = limits.maxConcurrentTasks, use.tasks >= n { continue }
                if let m = limits.maxMemoryMB, use.memoryMB + e.record.memoryMB > m { continue }
            }
            start(e.record.id)
        }
    }

    private func start(_ id: TaskID) {
        guard var e = entries[id] else { return }
        queued.remove(id)
        e.record.state = .running
        e.record.startedAt = now
        running += 1
        memoryInUse += e.record.memoryMB
        peakRunning = max(peakRunning, running)
        peakMemory = max(peakMemory, memoryInUse)
        let context = TaskContext(id: id, name: e.spec.name,
                                  dependencyResults: e.spec.dependencies.map { entries[$0]?.result ?? .null })
        let work = e.spec.work
        e.workTask = Task.detached { [weak self] in
            let outcome: TaskOutcome
            do {
                outcome = .success(try await work(context))
            } catch is CancellationError {
                outcome = .failure(TaskFailure(taskID: id, taskName: context.name, reason: .cancelled))
            } catch {
                outcome = .failure(TaskFailure(taskID: id, taskName: context.name, reason: .error("\(error)")))
            }
            await self?.finish(id, outcome)
        }
        let timeout = e.spec.timeoutS ?? configuration.defaultTimeoutS
        e.timer = Task.detached { [weak self] in
            do { try await Task.sleep(nanoseconds: UInt64(timeout * 1e9)) } catch { return }
            await self?.timeOut(id, after: timeout)
        }
        entries[id] = e
        logger.debug("started", metadata: ["task.id": "\(id)", "task.name": "\(e.spec.name)"])
    }

    private func timeOut(_ id: TaskID, after seconds: Double) {
        guard let e = entries[id], e.record.state == .running else { return }
        e.workTask?.cancel()
        complete(id, .failure(TaskFailure(taskID: id, taskName: e.spec.name, reason: .timedOut(seconds: seconds))))
    }

    private func finish(_ id: TaskID, _ outcome: TaskOutcome) {
        guard let e = entries[id], e.record.state == .running else { return }  // already timed out or cancelled
        complete(id, outcome)
    }

    /// Ends a running task: frees what it held, wakes waiters, releases or fails dependants.
    private func complete(_ id: TaskID, _ outcome: TaskOutcome) {
        guard var e = entries[id] else { return }
        if e.record.state == .running {
            running -= 1
            memoryInUse -= e.record.memoryMB
        }
        e.timer?.cancel()
        e.timer = nil
        e.workTask = nil
        e.record.finishedAt = now
        switch outcome {
        case .success(let v):
            e.record.state = .succeeded
            e.result = v
        case .failure(let f):
            e.record.state = f.reason == .cancelled ? .cancelled : .failed
            e.record.failure = f
        }
        entries[id] = e
        logger.debug("finished", metadata: [
            "task.id": "\(id)", "task.name": "\(e.record.name)", "task.state": "\(e.record.state.rawValue)",
            "task.run_s": "\(e.record.runSeconds.map { String(format: "%.6f", $0) } ?? "-")",
        ])
        learning.observe(e.record)
        for c in waiters.removeValue(forKey: id) ?? [] { c.resume(returning: outcome) }
        for d in e.dependents {
            guard var de = entries[d], !de.record.state.isFinal else { continue }
            if case .failure(let f) = outcome {
                fail(d, .dependencyFailed(id: id, name: e.record.name, cause: f.cause))
            } else {
                de.waitingOn.remove(id)
                if de.waitingOn.isEmpty {
                    de.record.state = .queued
                    queued.insert(d)
                }
                entries[d] = de
            }
        }
        schedule()
    }

    /// Fails a task that has not started (and so its dependants, transitively).
    private func fail(_ id: TaskID, _ reason: TaskFailure.Reason) {
        guard let e = entries[id], !e.record.state.isFinal else { return }
        queued.remove(id)
        complete(id, .failure(TaskFailure(taskID: id, taskName: e.spec.name, reason: reason)))
    }

    // MARK: Queries and control

    /// Waits, without polling, until the task ends.
    public func wait(_ id: TaskID) async -> TaskOutcome {
        guard let e = entries[id] else {
            return .failure(TaskFailure(taskID: id, taskName: "?", reason: .error("unknown task #\(id)")))
        }
        if e.record.state.isFinal {
            if let f = e.record.failure { return .failure(f) }
            return .success(e.result ?? .null)
        }
        return await withCheckedContinuation { waiters[id, default: []].append($0) }
    }

    /// Cancels a queued, blocked or running task; a running one is asked to stop cooperatively
    /// and its resources are released at once. Returns false if the task had already ended.
    @discardableResult
    public func cancel(_ id: TaskID) -> Bool {
        guard let e = entries[id], !e.record.state.isFinal else { return false }
        if e.record.state == .running {
            e.workTask?.cancel()
            complete(id, .failure(TaskFailure(taskID: id, taskName: e.spec.name, reason: .cancelled)))
        } else {
            fail(id, .cancelled)
        }
        return true
    }

    public func status(_ id: TaskID) -> TaskRecord? { entries[id]?.record }

    public func records() -> [TaskRecord] { entries.values.map(\.record).sorted { $0.id < $1.id } }

    public func usage() -> PoolUsage {
        PoolUsage(runningTasks: running, queuedTasks: queued.count, memoryInUseMB: memoryInUse,
                  memoryPoolMB: configuration.memoryPoolMB, peakRunningTasks: peakRunning, peakMemoryMB: peakMemory)
    }

    // MARK: Learning

    /// Records a user's judgement of a finished task; later scheduling of its type changes by
    /// it, and of its kind and backend where the task ran GPU work (see `GPULearningEngine`).
    /// `durationRatio` is actual / expected duration where the user gave both.
    public func feedback(_ id: TaskID, satisfaction: Double, suggestions: [String], durationRatio: Double? = nil) throws {
        guard let e = entries[id] else { throw SubmitError.unknownDependency("#\(id) (feedback)") }
        guard e.record.state.isFinal else { throw SubmitError.invalid("task #\(id) has not finished; feedback needs a finished task") }
        guard (0...1).contains(satisfaction) else {
            throw SubmitError.invalid("satisfaction must be between 0 and 1, got \(satisfaction)")
        }
        if let r = durationRatio, !(r > 0 && r.isFinite) {
            throw SubmitError.invalid("actual/expected duration must be positive numbers, got a ratio of \(r)")
        }
        var backend: String?
        if case .string(let b)? = e.result?["backend"] { backend = b }
        let f = FeedbackRecord(kind: e.spec.workload?.kind ?? e.record.typeName, backend: backend,
                               model: e.spec.workload?.parameters["model"], satisfaction: satisfaction, suggestions: suggestions,
                               durationRatio: durationRatio)
        learning.feedback(typeName: e.record.typeName, f)
    }

    /// The learning engine's kind for a task's work ("training", ...), nil for plain tasks.
    public func workloadKind(_ id: TaskID) -> String? { entries[id]?.spec.workload?.kind }

    public func insights() -> [Insight] { learning.insights(poolMB: configuration.memoryPoolMB) }

    public func learningBoost(for typeName: String) -> Int { learning.boost(for: typeName) }
}

/// The pool's occupancy and its high-water marks.
public struct PoolUsage: Sendable {
    public let runningTasks: Int
    public let queuedTasks: Int
    public let memoryInUseMB: Int
    public let memoryPoolMB: Int
    public let peakRunningTasks: Int
    public let peakMemoryMB: Int

    public init(runningTasks: Int, queuedTasks: Int, memoryInUseMB: Int, memoryPoolMB: Int, peakRunningTasks: Int, peakMemoryMB: Int) {
        self.runningTasks = runningTasks
        self.queuedTasks = queuedTasks
        self.memoryInUseMB = memoryInUseMB
        self.memoryPoolMB = memoryPoolMB
        self.peakRunningTasks = peakRunningTasks
        self.peakMemoryMB = peakMemoryMB
    }
}
