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
        public var defaultTimeoutS: Double?
        public var priorityAgingS: Double
        public var learningEnabled: Bool
        public var agents: [String: Profile.Agent]
        /// The profile's default coordination; `coordinate` replaces it at run time.
        public var coordination: Coordination

        public init(profile: Profile) {
            maxConcurrentTasks = profile.resources.maxConcurrentTasks
            memoryPoolMB = profile.resources.memoryPoolMB
            defaultTimeoutS = profile.resources.taskTimeoutS
            priorityAgingS = profile.resources.priorityAgingS
            learningEnabled = profile.learning.enabled
            agents = profile.agents
            coordination = Coordination(profile: profile)
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

    /// A task that has not finished (or whose cancelled work still runs).
    /// A class, so that the table of a million queued tasks holds references, not a few
    /// hundred bytes per slot of a hash table that grows by doubling.
    private final class Entry {
        var record: TaskRecord
        /// What of the spec is still asked for once the record holds its name, agent, priority
        /// and memory: the spec whole would carry those twice in every queued task.
        let work: TaskWork
        let boost: Int
        let dependencies: [TaskID]
        let workload: WorkloadShape?
        let timeoutS: Double?
        let deviceWork: Bool
        var waitingOn: Set<TaskID>
        var dependents: [TaskID] = []
        var result: TaskValue?
        var workTask: Task<Void, Never>?
        var timer: Task<Void, Never>?
        /// Called once when the task ends (tasks queued by `enqueue`).
        var onEnd: (@Sendable (TaskID, TaskOutcome) -> Void)?
        /// Cancelled or timed out while its work still runs: it has ended for its waiters, but
        /// keeps its slot and memory until the work returns, so admission never counts them
        /// free while they are still in use.
        var draining = false

        init(record: TaskRecord, spec: TaskSpec, deviceWork: Bool, waitingOn: Set<TaskID>) {
            self.record = record
            self.work = spec.work
            self.boost = spec.boost
            self.dependencies = spec.dependencies
            self.workload = spec.workload
            self.timeoutS = spec.timeoutS
            self.deviceWork = deviceWork
            self.waitingOn = waitingOn
        }
    }

    public let configuration: Configuration
    private let logger: Logger
    private let epoch = Date()
    /// Unfinished tasks; finished ones move to `finished`, which keeps only their records.
    private var entries: [TaskID: Entry] = [:]
    private var finished = FinishedTasks()
    /// The largest id inserted: ids are dense from 1, so records are read in id order up to it.
    private var highestID = 0
    private var state = SchedulerState()
    /// Ids and submissions from `enqueue`, absorbed before any other work of the actor.
    private nonisolated let inbox = SubmissionInbox()
    /// Workloads whose code is still running, cancelled ones included (a cancelled task's
    /// outcome is reported at once, its work stops at its next check): a process waits for
    /// these before it exits, since a workload inside a library call (OpenBLAS) crashed when the
    /// process tore the library down under it.
    public nonisolated let workInFlight = WorkInFlight()
    private var waiters: [TaskID: [CheckedContinuation<TaskOutcome, Never>]] = [:]
    /// Shared with the workload threads, which record executions and ask for predictions.
    public nonisolated let learning: GPULearningEngine
    /// One circuit breaker per backend, shared by every task of the process.
    public nonisolated let breakers: CircuitBreakerBoard
    /// Step-level arbitration (time slices, compute shares) and step-time accounting.
    public nonisolated let gate = DeviceGate()
    /// Each agent's tensor-memory limit (partitions, max_memory_mb), read by the allocator.
    public nonisolated let memoryLimits = AgentMemoryLimits()
    private var coordination: Coordination
    /// The coordination's rules and their state.
    private var policy: any CoordinationPolicy
    private var decisions: [CoordinationDecision] = []
    /// Per-agent limits: the profile's `agents:`, then whatever coordinations set.
    private var agentLimits: [String: Profile.Agent]

    public init(
        configuration: Configuration, learning: GPULearningEngine? = nil, breakers: CircuitBreakerBoard? = nil,
        logger: Logger = Logger(label: "gpuflow.orchestrator")
    ) {
        self.configuration = configuration
        self.logger = logger
        self.learning = learning ?? GPULearningEngine(enabled: configuration.learningEnabled)
        self.breakers = breakers ?? CircuitBreakerBoard()
        coordination = configuration.coordination
        policy = configuration.coordination.spec.makePolicy(sharing: configuration.coordination.policy)
        agentLimits = configuration.agents
        inbox.setAgentMemoryLimits(configuration.agents.compactMapValues(\.maxMemoryMB))
        for (name, a) in configuration.agents {
            if let m = a.maxMemoryMB { memoryLimits.set(name, bytes: m << 20) }
            if let c = a.maxComputePercent { gate.limitCompute(name, fraction: c / 100) }
        }
        Self.apply(coordination, to: gate)
    }

    /// The profile's learning history file and breaker settings, opened for this process;
    /// `history`: a recorded history to start from instead (a replay), written nowhere.
    public init(profile: Profile, history: ExecutionHistoryStore.Snapshot? = nil, logger: Logger = Logger(label: "gpuflow.orchestrator")) {
        let store: ExecutionHistoryStore?
        switch profile.learning.history {
        case "none": store = nil
        case "default": store = ExecutionHistoryStore(path: ExecutionHistoryStore.defaultPath())
        default: store = ExecutionHistoryStore(path: profile.learning.history)
        }
        let settings = CircuitBreaker.Settings(
            failureThreshold: profile.fallback.failureThreshold,
            cooldownS: Double(profile.fallback.cooldownMS) / 1000)
        self.init(
            configuration: Configuration(profile: profile),
            learning: GPULearningEngine(enabled: profile.learning.enabled, store: store, frozen: history),
            breakers: CircuitBreakerBoard(settings: settings), logger: logger)
    }

    private var now: Double { Date().timeIntervalSince(epoch) }

    // MARK: Submission

    /// Queues one task. Throws `SubmitError` (and queues nothing) for unknown dependencies or a
    /// task that could never fit the pool.
    public func submit(_ spec: TaskSpec) throws -> TaskID {
        absorbInbox()
        try check(spec)
        for dep in spec.dependencies where !known(dep) {
            throw SubmitError.unknownDependency("#\(dep) (task \(spec.name))")
        }
        return insert(spec)
    }

    /// Queues one task without waiting for the actor: the same checks as `submit`, made off the
    /// actor against what they read (the pool size, agents' memory limits, ids handed out), and
    /// the same errors; the id comes back at once and the task reaches the queue, in id order,
    /// before the actor does anything else. `onEnd` is called once when the task ends, in place
    /// of a `wait` per task. For callers that submit in bulk from a thread of their own (Lua).
    public nonisolated func enqueue(_ spec: TaskSpec, onEnd: (@Sendable (TaskID, TaskOutcome) -> Void)? = nil) throws -> TaskID {
        try Self.check(spec, poolMB: configuration.memoryPoolMB, agentLimitMB: spec.agent.flatMap { inbox.agentMemoryLimit($0) })
        let (id, wake) = try inbox.add { id in
            for dep in spec.dependencies where !(1..<id).contains(dep) {
                throw SubmitError.unknownDependency("#\(dep) (task \(spec.name))")
            }
            return .init(id: id, spec: spec, onEnd: onEnd)
        }
        if wake { Task { await self.absorbInbox() } }
        return id
    }

    /// Moves enqueued tasks into the queue, in id order.
    private func absorbInbox() {
        absorb(inbox.take())
    }

    private func absorb(_ pending: [SubmissionInbox.Pending]) {
        for p in pending { _ = insert(p.spec, id: p.id, onEnd: p.onEnd) }
    }

    /// Queues a whole graph at once, or nothing: keys must be unique, every `after` must name a
    /// key of the graph, and the graph must be acyclic.
    public func submitGraph(_ nodes: [GraphNode]) throws -> [String: TaskID] {
        absorbInbox()
        var byKey: [String: Int] = [:]
        for (i, n) in nodes.enumerated() {
            if byKey[n.key] != nil { throw SubmitError.duplicateKey(n.key) }
            byKey[n.key] = i
            try check(n.spec)
            for dep in n.spec.dependencies where !known(dep) {
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
        try Self.check(spec, poolMB: configuration.memoryPoolMB, agentLimitMB: spec.agent.flatMap { agentLimits[$0]?.maxMemoryMB })
    }

    private static func check(_ spec: TaskSpec, poolMB: Int, agentLimitMB: Int?) throws {
        if spec.memoryMB < 0 { throw SubmitError.invalid("task \(spec.name): memory must not be negative") }
        if spec.memoryMB > poolMB {
            throw SubmitError.exceedsPool(name: spec.name, memoryMB: spec.memoryMB, poolMB: poolMB)
        }
        if let agent = spec.agent, let limit = agentLimitMB, spec.memoryMB > limit {
            throw SubmitError.invalid("task \(spec.name) needs \(spec.memoryMB) MB but agent \(agent) may hold at most \(limit) MB")
        }
        if let t = spec.timeoutS, !(t > 0) { throw SubmitError.invalid("task \(spec.name): timeout must be positive") }
    }

    /// Inserts with the next id, after whatever the inbox holds (which has smaller ids).
    private func insert(_ spec: TaskSpec) -> TaskID {
        let (pending, id) = inbox.takeAndReserve()
        absorb(pending)
        return insert(spec, id: id)
    }

    private func insert(_ spec: TaskSpec, id: TaskID, onEnd: (@Sendable (TaskID, TaskOutcome) -> Void)? = nil) -> TaskID {
        // A task that declared no memory is admitted with the learned peak of such work.
        var memoryMB = spec.memoryMB, source: TaskRecord.MemorySource = spec.memoryMB > 0 ? .declared : .none
        if memoryMB == 0, let w = spec.workload, let p = learning.predictedMemoryMB(kind: w.kind, features: w.features), p > 0 {
            memoryMB = min(p, configuration.memoryPoolMB)
            source = .predicted
        }
        var record = TaskRecord(
            id: id, name: spec.name, typeName: spec.kind.typeName, agent: spec.agent,
            priority: spec.priority, memoryMB: memoryMB, durationEstimateS: spec.durationEstimateS,
            state: .blocked, submittedAt: now)
        record.memorySourceKind = source
        var deviceWork = false
        if case .gpu(let type) = spec.kind { deviceWork = type.isDeviceWork }
        let entry = Entry(record: record, spec: spec, deviceWork: deviceWork, waitingOn: [])
        entry.onEnd = onEnd
        var failedDependency: (TaskID, TaskFailure)?
        for dep in spec.dependencies {
            if let d = entries[dep] {
                if let f = d.record.failure, d.record.state.isFinal {
                    if failedDependency == nil { failedDependency = (dep, f) }
                } else if !d.record.state.isFinal {
                    entry.waitingOn.insert(dep)
                    entries[dep]?.dependents.append(id)
                }
            } else if let f = finished[dep]?.record.failure, failedDependency == nil {
                failedDependency = (dep, f)
            }
        }
        entries[id] = entry
        highestID = max(highestID, id)
        if deviceWork { state.deviceTaskAdded(agent: agentName(entry), memoryMB: memoryMB) }
        logger.debug("submitted", metadata: ["task.id": "\(id)", "task.name": "\(spec.name)", "task.type": "\(spec.kind.typeName)"])
        if let (dep, f) = failedDependency {
            fail(id, .dependencyFailed(id: dep, name: recordOf(dep)?.name ?? "?", cause: f.cause), kind: f.kind)
        } else if entry.waitingOn.isEmpty {
            entries[id]?.record.state = .queued
            enqueue(id)
            schedule()
        }
        return id
    }

    /// Whether `id` names a task this orchestrator has, finished or not.
    private func known(_ id: TaskID) -> Bool { entries[id] != nil || finished[id] != nil }

    private func recordOf(_ id: TaskID) -> TaskRecord? { entries[id]?.record ?? finished[id]?.record }

    // MARK: Scheduling

    private func effectivePriority(_ e: Entry, at t: Double) -> Int {
        let aging = Int((t - e.record.submittedAt) / configuration.priorityAgingS)
        return e.record.priority.rank * TaskPriority.step + e.boost + aging + learning.boost(for: e.record.typeName)
    }

    /// Learned duration of this task's work: by its sizes where known, else its type's mean.
    private func predictedSeconds(_ e: Entry) -> Double {
        if let w = e.workload, let p = learning.predictedSeconds(kind: w.kind, features: w.features) { return p }
        return learning.predictedSeconds(e.record.typeName) ?? 0
    }

    private func signature(_ e: Entry) -> SchedulerState.Signature {
        .init(
            base: e.record.priority.rank * TaskPriority.step + e.boost, type: e.record.typeName, agent: agentName(e),
            workload: e.workload != nil)
    }

    private func enqueue(_ id: TaskID) {
        guard let e = entries[id] else { return }
        state.enqueue(id, signature: signature(e), deviceWork: e.deviceWork)
    }

    private func dequeue(_ id: TaskID) {
        guard let e = entries[id] else { return }
        state.dequeue(id, signature: signature(e), deviceWork: e.deviceWork)
    }

    private func schedule() {
        let t = now
        let c = coordination
        let deviceWorkQueued = state.queuedDeviceWork > 0
        let ruled = policy.rulesOrder(deviceWorkQueued: deviceWorkQueued)
        // Nothing can start while every slot is taken: skip the ordering, which a flood of queued
        // tasks makes the costliest thing here — unless the pattern's rules (leases, partitions,
        // negotiations, per-agent slots) are decided on the queue as it changes.
        if state.running >= configuration.maxConcurrentTasks, !policy.slotsPerAgent, !ruled { return }
        let starvation = c.policy.maxStarvationS
        func starving(_ e: Entry) -> Bool { starvation.map { t - e.record.submittedAt >= $0 } ?? false }
        var view: SchedulerView?
        func currentView() -> SchedulerView {
            if let view { return view }
            let v = schedulerView()
            view = v
            return v
        }
        /// Starts `e` if everything allows it; false once nothing more can start.
        func consider(_ e: Entry, waiting: () -> Set<String>) -> Bool {
            let coordinated = isCoordinated(e)
            if coordinated && policy.slotsPerAgent {
                if state.device[agentName(e)]?.running ?? 0 >= configuration.maxConcurrentTasks { return true }
            } else if runningOutsideAgentSlots() >= configuration.maxConcurrentTasks {
                return false
            }
            if coordinated {
                let v = currentView(), q = queuedTask(e, coordinated: true)
                if !policy.admits(q, view: v) || !c.policy.admits(q, waiting: waiting(), view: v) { return true }
            }
            if state.memoryInUseMB + e.record.memoryMB > configuration.memoryPoolMB {
                // Strict priority holds lower tasks back, except between agents that share by
                // rule (partitions, negotiation), where another agent's task may fit.
                return coordinated && policy.sharesByRule
            }
            if let agent = e.record.agent, let limits = agentLimits[agent] {
                let use = state.holding(agent)
                if let n = limits.maxConcurrentTasks, use.tasks >= n { return true }
                if let m = limits.maxMemoryMB, use.memoryMB + e.record.memoryMB > m { return true }
            }
            if starving(e) {
                record(
                    PolicyDecision(
                        kind: "starvation", agents: [agentName(e)], winner: agentName(e),
                        reason: String(
                            format: "task #%d of %@ waited %.3f s ≥ max_starvation_time %.3f s: it goes first",
                            e.record.id, agentName(e), t - e.record.submittedAt, starvation ?? 0)))
            }
            start(e.record.id)
            view = nil
            return true
        }
        // One signature queued and no coordination rule to apply: submission order is the order
        // (equal base priority, type and agent: aging and starvation favour the older task).
        if state.oneOrderingSignature, !ruled, c.policy.priorityStrategy != .fair_share {
            for id in state.submissionOrder() {
                guard state.queued.contains(id), let e = entries[id] else { continue }
                if !consider(e, waiting: { [] }) { return }
            }
            return
        }
        let used = c.policy.priorityStrategy == .fair_share ? gate.stepSeconds() : [:]
        // Starving tasks first; then highest effective priority; among equals (fair share) the
        // agent with the least step time, then the shorter predicted run, then FIFO. Each key is
        // computed once per task (the learned ones are lookups), not once per comparison.
        struct Key { let id: TaskID; let starving: Bool; let priority: Int; let used: Double; let predicted: Double }
        var typeSeconds: [String: Double] = [:]  // a type's learned mean, looked up once per pass
        let keys = state.queued.compactMap { id -> Key? in
            guard let e = entries[id] else { return nil }
            let predicted: Double
            if e.workload == nil {
                if let known = typeSeconds[e.record.typeName] {
                    predicted = known
                } else {
                    predicted = predictedSeconds(e)
                    typeSeconds[e.record.typeName] = predicted
                }
            } else {
                predicted = predictedSeconds(e)
            }
            return Key(
                id: id, starving: starving(e), priority: effectivePriority(e, at: t), used: used.isEmpty ? 0 : used[agentName(e)] ?? 0,
                predicted: predicted)
        }
        // Sorting the small keys, not the entries (each holds its spec, record and closures).
        var ids = keys.sorted { a, b in
            if a.starving != b.starving { return a.starving }
            if a.priority != b.priority { return a.priority > b.priority }
            if a.used != b.used { return a.used < b.used }
            if a.predicted != b.predicted { return a.predicted < b.predicted }
            return a.id < b.id
        }.map(\.id)
        if ruled {
            let queue = ids.compactMap { id in entries[id].map { queuedTask($0, coordinated: isCoordinated($0)) } }
            let arrangement = policy.arrange(queue, view: currentView(), at: t)
            carryOut(arrangement)
            if let order = arrangement.order { ids = order }
        }
        // The agents with queued work, only where a sharing rule looks at them.
        lazy var waiting = Set(ids.compactMap { entries[$0].map(agentName) })
        for id in ids {
            guard let e = entries[id] else { continue }
            if !consider(e, waiting: { waiting }) { return }
        }
    }

    // MARK: Coordination

    private func agentName(_ e: Entry) -> String { e.record.agent ?? "-" }

    /// Running tasks that hold a slot of the pool: all of them, except coordinated ones where
    /// the pattern gives each agent slots of its own.
    private func runningOutsideAgentSlots() -> Int {
        guard policy.slotsPerAgent else { return state.running }
        return state.running - state.deviceRunning(of: coordination.agents.isEmpty ? nil : coordination.agents)
    }

    /// GPU tasks of participating agents are coordinated; plain tasks (Lua functions) are not device work.
    private func isCoordinated(_ e: Entry) -> Bool {
        e.deviceWork && participates(agentName(e))
    }

    private func participates(_ agent: String) -> Bool { coordination.agents.isEmpty || coordination.agents.contains(agent) }

    private func queuedTask(_ e: Entry, coordinated: Bool) -> QueuedTask {
        QueuedTask(
            id: e.record.id, agent: agentName(e), priority: e.record.priority.rank, memoryMB: e.record.memoryMB,
            submittedAt: e.record.submittedAt, coordinated: coordinated)
    }

    /// What the policies read, with participating agents' device work only.
    private func schedulerView() -> SchedulerView {
        let learning = learning
        // Negotiations look up a few contenders' predictions, by id, while the view lives.
        let shapes = Dictionary(
            uniqueKeysWithValues: entries.values.compactMap { e -> (TaskID, (WorkloadShape?, Double?))? in
                e.deviceWork ? (e.record.id, (e.workload, e.record.durationEstimateS)) : nil
            })
        return SchedulerView(
            poolMB: configuration.memoryPoolMB, slots: configuration.maxConcurrentTasks, memoryInUseMB: state.memoryInUseMB,
            running: state.running, loads: state.device.filter { participates($0.key) }, participants: coordination.agents,
            stepSeconds: gate.stepSeconds(), agentMemoryLimitMB: agentLimits.compactMapValues(\.maxMemoryMB),
            predictedS: { id in
                guard let (shape, estimate) = shapes[id] else { return 1 }
                return shape.flatMap { learning.predictedSeconds(kind: $0.kind, features: $0.features) } ?? estimate ?? 1
            })
    }

    private func carryOut(_ a: Arrangement) {
        for d in a.decisions { record(d) }
        for (agent, mb) in a.memoryLimitsMB ?? [:] { memoryLimits.set(agent, bytes: mb << 20) }
    }

    /// After a coordinated task ended: the policy's reaction (an exclusive lease ends).
    private func policyTaskEnded(_ e: Entry) {
        guard isCoordinated(e) else { return }
        for d in policy.taskEnded(agent: agentName(e), view: schedulerView(), at: now) { record(d) }
    }

    private func record(_ d: PolicyDecision) {
        decisions.append(
            CoordinationDecision(
                at: now, pattern: coordination.spec.pattern.rawValue, kind: d.kind, agents: d.agents,
                winner: d.winner, reason: d.reason))
        logger.debug("coordination", metadata: ["kind": "\(d.kind)", "reason": "\(d.reason)"])
    }

    private func applyGate() { Self.apply(coordination, to: gate) }

    private static func apply(_ c: Coordination, to gate: DeviceGate) {
        if case .timeSliced(let t) = c.spec {
            gate.timeSlice(t.sliceMS / 1000, preemptive: t.preemptionAllowed, maxStarvationS: c.policy.maxStarvationS)
        } else {
            gate.timeSlice(nil)
        }
    }

    /// Replaces the coordination (pattern, agents, policy) for tasks not yet started; `limits`
    /// apply to each participating agent (memory at admission and in the allocator, concurrent
    /// tasks, compute share at the step gate).
    public func coordinate(_ c: Coordination, limits: SharingPolicy = .init()) throws {
        absorbInbox()
        do { try c.spec.validate() } catch { throw SubmitError.invalid("\(error)") }
        if let m = limits.maxMemoryMB, m > configuration.memoryPoolMB {
            throw SubmitError.invalid("sharing_policy.max_memory_mb \(m) exceeds the pool (\(configuration.memoryPoolMB) MB)")
        }
        if let s = c.policy.minResourceShare, !(0...1).contains(s) || (Double(max(c.agents.count, 1)) * s > 1) {
            throw SubmitError.invalid("min_resource_share \(s) × \(max(c.agents.count, 1)) agents exceeds the whole pool")
        }
        for a in c.agents {
            var l = agentLimits[a] ?? Profile.Agent()
            if let m = limits.maxMemoryMB { l.maxMemoryMB = m; memoryLimits.set(a, bytes: m << 20) }
            if let n = limits.maxConcurrentTasks { l.maxConcurrentTasks = n }
            if let p = limits.maxComputePercent { l.maxComputePercent = p }
            agentLimits[a] = l
            if c.policy.computeIsolation, let p = l.maxComputePercent { gate.limitCompute(a, fraction: p / 100) }
        }
        inbox.setAgentMemoryLimits(agentLimits.compactMapValues(\.maxMemoryMB))
        // An exclusive lease carries over to a new exclusive coordination; any other change
        // ends what the old pattern gave out.
        if case .exclusive = coordination.spec, case .exclusive = c.spec {
        } else {
            for d in policy.retire(at: now, why: "pattern changed") { record(d) }
            policy = c.spec.makePolicy(sharing: c.policy)
        }
        coordination = c
        applyGate()
        record(
            PolicyDecision(
                kind: "pattern", agents: c.agents,
                reason: "coordination is now \(c.spec.pattern.rawValue)"
                    + (c.agents.isEmpty ? " among all agents" : " among " + c.agents.joined(separator: ", "))))
        schedule()
    }

    /// Ends `agent`'s exclusive lease now (its running tasks finish; it queues again for more).
    @discardableResult
    public func releaseLease(agent: String) -> Bool {
        absorbInbox()
        guard let out = policy.release(agent: agent, view: schedulerView(), at: now) else { return false }
        for d in out { record(d) }
        schedule()
        return true
    }

    public func currentCoordination() -> Coordination { coordination }

    /// Memory (MB) an agent's running tasks hold, excluding `except`.
    public func reservedMemoryMB(agent: String, except: TaskID? = nil) -> Int {
        absorbInbox()
        var held = state.holding(agent).memoryMB
        if let x = except, let e = entries[x], e.record.state == .running || e.draining, e.record.agent == agent {
            held -= e.record.memoryMB
        }
        return held
    }
    public func coordinationDecisions() -> [CoordinationDecision] { decisions }

    /// Per agent: tasks by state, waits, run time, reserved-memory high-water, step time.
    public func agentMetrics() -> [AgentMetrics] {
        absorbInbox()
        var by: [String: AgentMetrics] = [:]
        let steps = gate.stepSeconds(), longest = gate.longestWait()
        func count(_ r: TaskRecord) {
            let a = r.agent ?? "-"
            var m = by[a] ?? AgentMetrics(agent: a)
            m.tasks += 1
            m.states[r.state.rawValue, default: 0] += 1
            if let w = r.waitSeconds { m.waits.append(w) }
            if let s = r.runSeconds { m.runSeconds += s }
            by[a] = m
        }
        for e in entries.values { count(e.record) }
        finished.forEach { count($0.record) }
        for (a, var m) in by {
            m.stepSeconds = steps[a] ?? 0
            m.longestStepWaitS = longest[a] ?? 0
            m.peakReservedMB = state.peakHeldMB[a] ?? 0
            m.waits.sort()
            by[a] = m
        }
        return by.values.sorted { $0.agent < $1.agent }
    }

    private func start(_ id: TaskID) {
        guard let e = entries[id] else { return }
        dequeue(id)
        e.record.state = .running
        e.record.startedAt = now
        state.take(agent: agentName(e), memoryMB: e.record.memoryMB)
        if e.deviceWork { state.deviceTaskStarted(agent: agentName(e), memoryMB: e.record.memoryMB) }
        let context = TaskContext(
            id: id, name: e.record.name,
            dependencyResults: e.dependencies.map { entries[$0]?.result ?? finished[$0]?.result ?? .null })
        let work = e.work
        let inFlight = workInFlight
        inFlight.begin()
        e.workTask = Task.detached { [weak self] in
            defer { inFlight.end() }
            let outcome: TaskOutcome
            do {
                outcome = .success(try await work(context))
            } catch is CancellationError {
                outcome = .failure(TaskFailure(taskID: id, taskName: context.name, reason: .cancelled))
            } catch {
                outcome = .failure(TaskFailure(taskID: id, taskName: context.name, error: error))
            }
            await self?.finish(id, outcome)
        }
        if let timeout = e.timeoutS ?? configuration.defaultTimeoutS {
            e.timer = Task.detached { [weak self] in
                do { try await Task.sleep(nanoseconds: UInt64(timeout * 1e9)) } catch { return }
                await self?.timeOut(id, after: timeout)
            }
        }
        entries[id] = e
        logger.debug("started", metadata: ["task.id": "\(id)", "task.name": "\(e.record.name)"])
    }

    private func timeOut(_ id: TaskID, after seconds: Double) {
        guard let e = entries[id], e.record.state == .running else { return }
        e.workTask?.cancel()
        complete(id, .failure(TaskFailure(taskID: id, taskName: e.record.name, reason: .timedOut(seconds: seconds))), workStopped: false)
    }

    private func finish(_ id: TaskID, _ outcome: TaskOutcome) {
        guard let e = entries[id] else { return }
        if e.draining {  // cancelled or timed out earlier: its work has stopped only now
            e.draining = false
            state.draining -= 1
            state.give(agent: agentName(e), memoryMB: e.record.memoryMB)
            retire(e)
            policyTaskEnded(e)
            schedule()
            return
        }
        guard e.record.state == .running else { return }
        complete(id, outcome)
    }

    /// Ends a task: frees what it held, wakes waiters, releases or fails dependants.
    /// `workStopped` false: the task's work was told to stop but may still be running; its slot
    /// and memory stay taken until it returns (`finish`).
    private func complete(_ id: TaskID, _ outcome: TaskOutcome, workStopped: Bool = true) {
        guard let e = entries[id] else { return }
        let wasRunning = e.record.state == .running
        if wasRunning {
            if workStopped || e.workTask == nil {
                state.give(agent: agentName(e), memoryMB: e.record.memoryMB)
            } else {
                e.draining = true
                state.draining += 1
            }
        }
        if e.deviceWork { state.deviceTaskEnded(agent: agentName(e), memoryMB: e.record.memoryMB, wasRunning: wasRunning) }
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
        logger.debug(
            "finished",
            metadata: [
                "task.id": "\(id)", "task.name": "\(e.record.name)", "task.state": "\(e.record.state.rawValue)",
                "task.run_s": "\(e.record.runSeconds.map { String(format: "%.6f", $0) } ?? "-")",
            ])
        learning.observe(e.record)
        policyTaskEnded(e)
        for c in waiters.removeValue(forKey: id) ?? [] { c.resume(returning: outcome) }
        if let onEnd = e.onEnd {
            e.onEnd = nil
            onEnd(id, outcome)
        }
        if !e.draining { retire(e) }
        for d in e.dependents {
            guard let de = entries[d], !de.record.state.isFinal else { continue }
            if case .failure(let f) = outcome {
                fail(d, .dependencyFailed(id: id, name: e.record.name, cause: f.cause), kind: f.kind)
            } else {
                de.waitingOn.remove(id)
                if de.waitingOn.isEmpty {
                    de.record.state = .queued
                    entries[d] = de
                    enqueue(d)
                } else {
                    entries[d] = de
                }
            }
        }
        schedule()
    }

    /// A finished task keeps only its record and result (what waiters, dependants, status and
    /// feedback still ask for): its spec, closures and links go.
    private func retire(_ e: Entry) {
        entries[e.record.id] = nil
        finished.insert(
            FinishedTask(
                record: e.record, result: e.result, workloadKind: e.workload?.kind,
                model: e.workload?.parameters["model"]))
    }

    /// Fails a task that has not started (and so its dependants, transitively).
    private func fail(_ id: TaskID, _ reason: TaskFailure.Reason, kind: ErrorKind? = nil) {
        guard let e = entries[id], !e.record.state.isFinal else { return }
        dequeue(id)
        complete(id, .failure(TaskFailure(taskID: id, taskName: e.record.name, reason: reason, kind: kind)))
    }

    // MARK: Queries and control

    /// Waits, without polling, until the task ends.
    public func wait(_ id: TaskID) async -> TaskOutcome {
        absorbInbox()
        if let f = finished[id] {
            if let failure = f.record.failure { return .failure(failure) }
            return .success(f.result ?? .null)
        }
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
        absorbInbox()
        guard let e = entries[id], !e.record.state.isFinal else { return false }
        if e.record.state == .running {
            e.workTask?.cancel()
            complete(id, .failure(TaskFailure(taskID: id, taskName: e.record.name, reason: .cancelled)), workStopped: false)
        } else {
            fail(id, .cancelled)
        }
        return true
    }

    public func status(_ id: TaskID) -> TaskRecord? {
        absorbInbox()
        return recordOf(id)
    }

    /// Every task's record, in id order.
    public func records() -> [TaskRecord] { records(after: 0, limit: .max) }

    /// Up to `limit` records of the tasks after `after`, in id order: a page, so that a run of a
    /// million tasks is written to the store without a copy of all its records at once.
    public func records(after: TaskID, limit: Int) -> [TaskRecord] {
        absorbInbox()
        var page: [TaskRecord] = []
        page.reserveCapacity(min(limit, max(0, highestID - after)))
        var id = max(after, 0) + 1
        while id <= highestID, page.count < limit {
            if let r = recordOf(id) { page.append(r) }
            id += 1
        }
        return page
    }

    public func usage() -> PoolUsage {
        absorbInbox()
        var u = PoolUsage(
            runningTasks: state.running, queuedTasks: state.queuedCount, memoryInUseMB: state.memoryInUseMB,
            memoryPoolMB: configuration.memoryPoolMB, peakRunningTasks: state.peakRunning, peakMemoryMB: state.peakMemoryMB)
        u.drainingTasks = state.draining
        return u
    }

    // MARK: Learning

    /// Records a user's judgement of a finished task; later scheduling of its type changes by
    /// it, and of its kind and backend where the task ran GPU work (see `GPULearningEngine`).
    /// `durationRatio` is actual / expected duration where the user gave both.
    public func feedback(_ id: TaskID, satisfaction: Double, suggestions: [String], durationRatio: Double? = nil) throws {
        absorbInbox()
        let done: FinishedTask
        if let f = finished[id] {
            done = f
        } else if let e = entries[id] {
            guard e.record.state.isFinal else { throw SubmitError.invalid("task #\(id) has not finished; feedback needs a finished task") }
            done = FinishedTask(
                record: e.record, result: e.result, workloadKind: e.workload?.kind, model: e.workload?.parameters["model"])
        } else {
            throw SubmitError.unknownDependency("#\(id) (feedback)")
        }
        guard (0...1).contains(satisfaction) else {
            throw SubmitError.invalid("satisfaction must be between 0 and 1, got \(satisfaction)")
        }
        if let r = durationRatio, !(r > 0 && r.isFinite) {
            throw SubmitError.invalid("actual/expected duration must be positive numbers, got a ratio of \(r)")
        }
        var backend: String?
        if case .string(let b)? = done.result?["backend"] { backend = b }
        let f = FeedbackRecord(
            kind: done.workloadKind ?? done.record.typeName, backend: backend, model: done.model,
            satisfaction: satisfaction, suggestions: suggestions, durationRatio: durationRatio)
        learning.feedback(typeName: done.record.typeName, f)
    }

    /// The learning engine's kind for a task's work ("training", ...), nil for plain tasks.
    public func workloadKind(_ id: TaskID) -> String? {
        absorbInbox()
        return entries[id]?.workload?.kind ?? finished[id]?.workloadKind
    }

    public func insights() -> [Insight] { learning.insights(poolMB: configuration.memoryPoolMB) }

    public func learningBoost(for typeName: String) -> Int { learning.boost(for: typeName) }
}

/// What one agent did and waited for.
public struct AgentMetrics: Sendable {
    public let agent: String
    public var tasks = 0
    public var states: [String: Int] = [:]
    /// Seconds each started task waited, sorted.
    public var waits: [Double] = []
    public var runSeconds = 0.0
    /// Seconds of steps run (device time on every backend, measured at the step gate).
    public var stepSeconds = 0.0
    public var longestStepWaitS = 0.0
    /// Highest memory_mb the agent's running tasks held at once.
    public var peakReservedMB = 0
    public init(agent: String) { self.agent = agent }
}

/// The pool's occupancy and its high-water marks.
public struct PoolUsage: Sendable {
    /// Slots taken, draining tasks included.
    public let runningTasks: Int
    /// Cancelled or timed-out tasks whose work has not stopped yet (their slot and memory are
    /// still counted as in use).
    public var drainingTasks = 0
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
