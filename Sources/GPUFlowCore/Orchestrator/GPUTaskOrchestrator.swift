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

    private struct Entry {
        var record: TaskRecord
        let spec: TaskSpec
        let sequence: Int
        var waitingOn: Set<TaskID>
        var dependents: [TaskID] = []
        var result: TaskValue?
        var workTask: Task<Void, Never>?
        var timer: Task<Void, Never>?
        /// Cancelled or timed out while its work still runs: it has ended for its waiters, but
        /// keeps its slot and memory until the work returns, so admission never counts them
        /// free while they are still in use.
        var draining = false
    }

    public let configuration: Configuration
    private let logger: Logger
    private let epoch = Date()
    private var entries: [TaskID: Entry] = [:]
    private var queued: Set<TaskID> = []
    /// Queued ids in ascending order (ids are submission order), skipped lazily once they leave
    /// the queue; and how many queued tasks share each ordering signature. While every queued
    /// task has the same signature, the scheduling order is submission order, and a flood of
    /// tasks is scheduled without sorting the queue at every start and end.
    private var fifo: [TaskID] = []
    private var fifoHead = 0
    private struct Signature: Hashable { let base: Int; let type: String; let agent: String; let workload: Bool }
    private var signatures: [Signature: Int] = [:]
    /// How many queued tasks are device work (the only ones coordination rules order).
    private var queuedDeviceWork = 0
    /// Running tasks and their memory per agent, kept as tasks start and end (entries keep every
    /// task ever submitted, so counting them there on each start grew with the run).
    private var agentRunning: [String: (tasks: Int, memoryMB: Int)] = [:]
    /// Ids and submissions from `enqueue`, absorbed before any other work of the actor.
    private nonisolated let inbox = SubmissionInbox()
    /// Callbacks of enqueued tasks, called once when the task ends.
    private var endCallbacks: [TaskID: @Sendable (TaskID, TaskOutcome) -> Void] = [:]
    private var running = 0
    /// Workloads whose code is still running, cancelled ones included (a cancelled task's
    /// outcome is reported at once, its work stops at its next check): a process waits for
    /// these before it exits, since a workload inside a library call (OpenBLAS) crashed when the
    /// process tore the library down under it.
    public nonisolated let workInFlight = WorkInFlight()
    private var memoryInUse = 0
    private var peakRunning = 0
    private var peakMemory = 0
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
    private var decisions: [CoordinationDecision] = []
    private var leaseHolder: String?
    private var leaseStart = 0.0
    private var leaseRevoked = false
    private var leaseQueue: [String] = []
    private var leases: [(agent: String, start: Double, end: Double)] = []
    private var lastNegotiation: [Int] = []
    private var partitionShares: [String: Partitioning.Share] = [:]
    private var agentPeakMemory: [String: Int] = [:]
    /// Per-agent limits: the profile's `agents:`, then whatever coordinations set.
    private var agentLimits: [String: Profile.Agent]

    public init(configuration: Configuration, learning: GPULearningEngine? = nil, breakers: CircuitBreakerBoard? = nil,
                logger: Logger = Logger(label: "gpuflow.orchestrator")) {
        self.configuration = configuration
        self.logger = logger
        self.learning = learning ?? GPULearningEngine(enabled: configuration.learningEnabled)
        self.breakers = breakers ?? CircuitBreakerBoard()
        coordination = configuration.coordination
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
        let settings = CircuitBreaker.Settings(failureThreshold: profile.fallback.failureThreshold,
                                               cooldownS: Double(profile.fallback.cooldownMS) / 1000)
        self.init(configuration: Configuration(profile: profile),
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
        for dep in spec.dependencies where entries[dep] == nil {
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
        for p in pending {
            if let onEnd = p.onEnd { endCallbacks[p.id] = onEnd }
            _ = insert(p.spec, id: p.id)
        }
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

    private func insert(_ spec: TaskSpec, id: TaskID) -> TaskID {
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
            enqueue(id)
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

    private func agentUsage(_ agent: String) -> (tasks: Int, memoryMB: Int) { agentRunning[agent] ?? (0, 0) }

    private func signature(_ e: Entry) -> Signature {
        Signature(base: e.spec.priority.rank * TaskPriority.step + e.spec.boost, type: e.record.typeName, agent: agentName(e),
                  workload: e.spec.workload != nil)
    }

    private func enqueue(_ id: TaskID) {
        guard let e = entries[id], queued.insert(id).inserted else { return }
        signatures[signature(e), default: 0] += 1
        if Self.isDeviceWork(e) { queuedDeviceWork += 1 }
        if let last = fifo.last, id < last {
            let i = fifo[fifoHead...].firstIndex { $0 > id } ?? fifo.count
            fifo.insert(id, at: i)
        } else {
            fifo.append(id)
        }
    }

    private func dequeue(_ id: TaskID) {
        guard queued.remove(id) != nil, let e = entries[id] else { return }
        if Self.isDeviceWork(e) { queuedDeviceWork -= 1 }
        let sig = signature(e)
        signatures[sig, default: 1] -= 1
        if signatures[sig] == 0 { signatures[sig] = nil }
        while fifoHead < fifo.count, !queued.contains(fifo[fifoHead]) { fifoHead += 1 }
    }

    /// Whether any queued task is device work (what coordination rules decide on).
    private func deviceWorkQueued() -> Bool { queuedDeviceWork > 0 }

    private static func isDeviceWork(_ e: Entry) -> Bool {
        guard case .gpu(let type) = e.spec.kind else { return false }
        return type.isDeviceWork
    }

    private func schedule() {
        let t = now
        let c = coordination
        // Nothing can start while every slot is taken: skip the ordering, which a flood of queued
        // tasks makes the costliest thing here. Not under the patterns whose leases, partitions,
        // negotiations or per-agent slices are decided on the ordered queue as it changes.
        if running >= configuration.maxConcurrentTasks, c.spec.pattern != .time_sliced {
            if [.exclusive, .space_partitioned, .collaborative].allSatisfy({ $0 != c.spec.pattern }) { return }
            // The coordinated patterns decide on the queue's device work; plain tasks (Lua
            // functions) alone leave them nothing to decide.
            if !deviceWorkQueued() { return }
        }
        if fifoHead > 1024, fifoHead * 2 > fifo.count {
            fifo.removeFirst(fifoHead)
            fifoHead = 0
        }
        let starvation = c.policy.maxStarvationS
        func starving(_ e: Entry) -> Bool { starvation.map { t - e.record.submittedAt >= $0 } ?? false }
        /// Starts `e` if everything allows it; false once nothing more can start.
        func consider(_ e: Entry, order: () -> [Entry]) -> Bool {
            let coordinated = isCoordinated(e)
            // Time slicing runs one agent's steps at a time, so the slots are each agent's: every
            // agent gets tasks admitted and the gate shares the device between them.
            if coordinated && c.spec.pattern == .time_sliced {
                if agentState(agentName(e)).running >= configuration.maxConcurrentTasks { return true }
            } else if runningOutsideSlices() >= configuration.maxConcurrentTasks {
                return false
            }
            if coordinated, !coordinationAllows(e, order: order(), at: t) { return true }
            if memoryInUse + e.record.memoryMB > configuration.memoryPoolMB {
                // Strict priority holds lower tasks back, except between agents that share by
                // rule (partitions, negotiation), where another agent's task may fit.
                if coordinated, [.space_partitioned, .collaborative].contains(c.spec.pattern) { return true }
                return false
            }
            if let agent = e.record.agent, let limits = agentLimits[agent] {
                let use = agentUsage(agent)
                if let n = limits.maxConcurrentTasks, use.tasks >= n { return true }
                if let m = limits.maxMemoryMB, use.memoryMB + e.record.memoryMB > m { return true }
            }
            if starving(e) {
                record("starvation", agents: [agentName(e)], winner: agentName(e),
                       reason: String(format: "task #%d of %@ waited %.3f s ≥ max_starvation_time %.3f s: it goes first",
                                      e.record.id, agentName(e), t - e.record.submittedAt, starvation ?? 0))
            }
            start(e.record.id)
            return true
        }
        // One signature queued and no coordination rule to apply: submission order is the order
        // (equal base priority, type and agent: aging and starvation favour the older task).
        let ruled: Bool
        switch c.spec.pattern {
        case .time_sliced: ruled = true
        case .exclusive, .space_partitioned, .collaborative: ruled = deviceWorkQueued()
        case .pipeline: ruled = false
        }
        // (Work with sizes is ordered by its learned duration, which differs task by task.)
        if signatures.count <= 1, signatures.keys.first?.workload != true, !ruled, c.policy.priorityStrategy != .fair_share {
            var i = fifoHead
            while i < fifo.count {
                let id = fifo[i]
                i += 1
                guard queued.contains(id), let e = entries[id] else { continue }
                if !consider(e, order: { [] }) { return }
            }
            return
        }
        let used = c.policy.priorityStrategy == .fair_share ? gate.stepSeconds() : [:]
        // Starving tasks first; then highest effective priority; among equals (fair share) the
        // agent with the least step time, then the shorter predicted run, then FIFO. Each key is
        // computed once per task (the learned ones are lookups), not once per comparison.
        struct Key { let id: TaskID; let starving: Bool; let priority: Int; let used: Double; let predicted: Double; let sequence: Int }
        var typeSeconds: [String: Double] = [:]  // a type's learned mean, looked up once per pass
        let keys = queued.compactMap { id -> Key? in
            guard let e = entries[id] else { return nil }
            let predicted: Double
            if e.spec.workload == nil {
                if let known = typeSeconds[e.record.typeName] {
                    predicted = known
                } else {
                    predicted = predictedSeconds(e)
                    typeSeconds[e.record.typeName] = predicted
                }
            } else {
                predicted = predictedSeconds(e)
            }
            return Key(id: id, starving: starving(e), priority: effectivePriority(e, at: t), used: used.isEmpty ? 0 : used[agentName(e)] ?? 0,
                       predicted: predicted, sequence: e.sequence)
        }
        // Sorting the small keys, not the entries (each holds its spec, record and closures).
        var ids = keys.sorted { a, b in
            if a.starving != b.starving { return a.starving }
            if a.priority != b.priority { return a.priority > b.priority }
            if a.used != b.used { return a.used < b.used }
            if a.predicted != b.predicted { return a.predicted < b.predicted }
            return a.sequence < b.sequence
        }.map(\.id)
        switch c.spec.pattern {
        case .exclusive: updateLease(ids.compactMap { entries[$0] }, at: t)
        case .collaborative: ids = negotiate(ids.compactMap { entries[$0] }, at: t).map(\.record.id)
        case .space_partitioned: updatePartitions(ids.compactMap { entries[$0] })
        default: break
        }
        // The whole ordered queue, only where a coordination rule looks at it.
        lazy var order = ids.compactMap { entries[$0] }
        for id in ids {
            guard let e = entries[id] else { continue }
            if !consider(e, order: { order }) { return }
        }
    }

    // MARK: Coordination

    private func agentName(_ e: Entry) -> String { e.record.agent ?? "-" }

    /// Running tasks that hold a slot: all of them, except coordinated ones under time slicing.
    private func runningOutsideSlices() -> Int {
        guard coordination.spec.pattern == .time_sliced else { return running }
        return entries.values.filter { $0.record.state == .running && !isCoordinated($0) }.count
    }

    /// GPU tasks of participating agents are coordinated; plain tasks (Lua functions) are not device work.
    private func isCoordinated(_ e: Entry) -> Bool {
        guard case .gpu(let type) = e.spec.kind, type.isDeviceWork else { return false }
        return coordination.agents.isEmpty || coordination.agents.contains(agentName(e))
    }

    private func agentState(_ agent: String) -> (running: Int, memoryMB: Int, pending: Int) {
        var r = 0, m = 0, p = 0
        for e in entries.values where agentName(e) == agent && isCoordinated(e) {
            switch e.record.state {
            case .running:
                r += 1
                m += e.record.memoryMB
            case .queued, .blocked: p += 1
            default: break
            }
        }
        return (r, m, p)
    }

    private func coordinationAllows(_ e: Entry, order: [Entry], at t: Double) -> Bool {
        let c = coordination
        let agent = agentName(e)
        let me = agentState(agent)
        switch c.spec.pattern {
        case .exclusive:
            if agent != leaseHolder || leaseRevoked { return false }
        case .space_partitioned:
            guard let share = partitionShares[agent] else { return true }
            let fitsShare = me.memoryMB + e.record.memoryMB <= share.memoryMB && me.running < share.slots
            if !fitsShare {
                // Dynamic rebalancing: borrow what others leave unused, but never what an agent
                // with waiting work is owed (it takes its share back on demand).
                guard c.spec.dynamicRebalancing ?? (c.spec.partitionStrategy == .dynamic) else { return false }
                var owedMB = 0, owedSlots = 0
                for (other, s) in partitionShares where other != agent {
                    let st = agentState(other)
                    if st.pending > 0 {
                        owedMB += max(0, s.memoryMB - st.memoryMB)
                        owedSlots += max(0, s.slots - st.running)
                    }
                }
                let freeMB = configuration.memoryPoolMB - memoryInUse - owedMB
                let freeSlots = configuration.maxConcurrentTasks - running - owedSlots
                guard e.record.memoryMB <= freeMB, freeSlots > 0 else { return false }
            }
        default:
            break
        }
        // Guaranteed minimum shares of agents with waiting work are not given to others.
        if let minShare = c.policy.minResourceShare, minShare > 0 {
            let guaranteeMB = Int(Double(configuration.memoryPoolMB) * minShare)
            let guaranteeSlots = max(1, Int(Double(configuration.maxConcurrentTasks) * minShare))
            var owedMB = 0, owedSlots = 0
            for other in Set(order.map(agentName)) where other != agent {
                let st = agentState(other)
                owedMB += max(0, guaranteeMB - st.memoryMB)
                owedSlots += max(0, guaranteeSlots - st.running)
            }
            if memoryInUse + e.record.memoryMB + owedMB > configuration.memoryPoolMB, me.memoryMB >= guaranteeMB { return false }
            if running + 1 + owedSlots > configuration.maxConcurrentTasks, me.running >= guaranteeSlots { return false }
        }
        if c.policy.performanceIsolation {
            let waitingAgents = Set(order.map(agentName)).subtracting([agent]).count
            if waitingAgents > 0 {
                let fair = max(1, Int((Double(configuration.maxConcurrentTasks) / Double(waitingAgents + 1)).rounded(.up)))
                if me.running >= fair { return false }
            }
        }
        return true
    }

    /// Exclusive: the lease passes, in the order agents asked, when the holder has no task
    /// left (running, queued or waiting on a dependency) or released it.
    private func updateLease(_ order: [Entry], at t: Double) {
        for e in order where isCoordinated(e) {
            let a = agentName(e)
            if a != leaseHolder, !leaseQueue.contains(a) { leaseQueue.append(a) }
        }
        if let h = leaseHolder {
            let st = agentState(h)
            if let limit = coordination.policy.maxStarvationS, !leaseRevoked,
               let starved = order.first(where: { isCoordinated($0) && agentName($0) != h && t - $0.record.submittedAt >= limit }) {
                leaseRevoked = true
                record("lease", agents: [h, agentName(starved)], winner: agentName(starved),
                       reason: String(format: "%@ has waited %.3f s ≥ max_starvation_time: %@'s lease ends when its running tasks do",
                                      agentName(starved), t - starved.record.submittedAt, h))
            }
            if st.running + st.pending == 0 || (leaseRevoked && st.running == 0) { endLease(at: t, why: leaseRevoked ? "revoked" : "its tasks ended") }
        }
        if leaseHolder == nil, !leaseQueue.isEmpty {
            let next = leaseQueue.removeFirst()
            leaseHolder = next
            leaseStart = t
            leaseRevoked = false
            record("lease", agents: [next] + leaseQueue, winner: next,
                   reason: "\(next) holds the device" + (leaseQueue.isEmpty ? "" : "; waiting in order: " + leaseQueue.joined(separator: ", ")))
        }
    }

    private func endLease(at t: Double, why: String) {
        guard let h = leaseHolder else { return }
        leases.append((h, leaseStart, t))
        record("lease", agents: [h], winner: nil, reason: "\(h)'s lease ended (\(why)) after \(String(format: "%.3f", t - leaseStart)) s")
        leaseHolder = nil
        leaseRevoked = false
    }

    /// Space partitioned: each participating agent's share of the pool and the slots, and the
    /// allocator's limit for its tensors.
    private func updatePartitions(_ order: [Entry]) {
        var agents = coordination.agents
        if agents.isEmpty {
            agents = Array(Set(entries.values.filter { isCoordinated($0) && !$0.record.state.isFinal }.map(agentName))).sorted()
        }
        var demand: [String: Int] = [:]
        for e in entries.values where isCoordinated(e) && !e.record.state.isFinal { demand[agentName(e), default: 0] += max(1, e.record.memoryMB) }
        let shares = Partitioning.shares(agents: agents, poolMB: configuration.memoryPoolMB, slots: configuration.maxConcurrentTasks,
                                         strategy: coordination.spec.partitionStrategy ?? .static, demand: demand,
                                         minShare: coordination.policy.minResourceShare)
        if shares != partitionShares {
            partitionShares = shares
            if coordination.policy.memoryIsolation {
                for (a, s) in shares { memoryLimits.set(a, bytes: min(s.memoryMB, agentLimits[a]?.maxMemoryMB ?? .max) << 20) }
            }
            record("partition", agents: agents, winner: nil,
                   reason: shares.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value.memoryMB) MB, \($0.value.slots) slots" }.joined(separator: "; "))
        }
    }

    /// Collaborative: when the agents' next tasks do not all fit, the declared negotiation
    /// orders them; the rest of the queue follows.
    private func negotiate(_ order: [Entry], at t: Double) -> [Entry] {
        var heads: [Entry] = []
        var seen = Set<String>()
        for e in order where isCoordinated(e) && !seen.contains(agentName(e)) {
            seen.insert(agentName(e))
            heads.append(e)
        }
        guard heads.count > 1 else { return order }
        let needMB = heads.reduce(0) { $0 + $1.record.memoryMB }
        let contended = memoryInUse + needMB > configuration.memoryPoolMB || running + heads.count > configuration.maxConcurrentTasks
        guard contended else { return order }
        let used = gate.stepSeconds()
        let contenders = heads.map { e in
            Negotiation.Contender(agent: agentName(e), taskID: e.record.id, priority: e.spec.priority.rank, waitS: t - e.record.submittedAt,
                                  predictedS: e.spec.workload.flatMap { learning.predictedSeconds(kind: $0.kind, features: $0.features) }
                                      ?? e.record.durationEstimateS ?? 1,
                                  memoryMB: e.record.memoryMB, usedS: used[agentName(e)] ?? 0)
        }
        let outcome = Negotiation.decide(contenders, negotiation: coordination.negotiation, conflict: coordination.conflictResolution,
                                         maxStarvationS: coordination.policy.maxStarvationS, seed: UInt64(decisions.count))
        let key = outcome.order.map(\.taskID)
        if key != lastNegotiation {
            lastNegotiation = key
            record("negotiation", agents: contenders.map(\.agent), winner: outcome.order.first?.agent,
                   reason: "\(coordination.negotiation.rawValue)/\(coordination.conflictResolution.rawValue): " + outcome.reason)
        }
        let ids = Set(key)
        let negotiated = key.compactMap { id in heads.first { $0.record.id == id } }
        return negotiated + order.filter { !ids.contains($0.record.id) }
    }

    private func record(_ kind: String, agents: [String], winner: String?, reason: String) {
        decisions.append(CoordinationDecision(at: now, pattern: coordination.spec.pattern.rawValue, kind: kind, agents: agents, winner: winner,
                                              reason: reason))
        logger.debug("coordination", metadata: ["kind": "\(kind)", "reason": "\(reason)"])
    }

    private func applyGate() { Self.apply(coordination, to: gate) }

    private static func apply(_ c: Coordination, to gate: DeviceGate) {
        if c.spec.pattern == .time_sliced {
            gate.timeSlice((c.spec.timeSliceMS ?? 50) / 1000, preemptive: c.spec.preemptionAllowed ?? true, maxStarvationS: c.policy.maxStarvationS)
        } else {
            gate.timeSlice(nil)
        }
    }

    /// Replaces the coordination (pattern, agents, policy) for tasks not yet started; `limits`
    /// apply to each participating agent (memory at admission and in the allocator, concurrent
    /// tasks, compute share at the step gate).
    public func coordinate(_ c: Coordination, limits: SharingPolicy = .init()) throws {
        absorbInbox()
        if let m = limits.maxMemoryMB, m > configuration.memoryPoolMB {
            throw SubmitError.invalid("sharing_policy.max_memory_mb \(m) exceeds the pool (\(configuration.memoryPoolMB) MB)")
        }
        for a in c.agents {
            var l = agentLimits[a] ?? Profile.Agent()
            if let m = limits.maxMemoryMB { l.maxMemoryMB = m; memoryLimits.set(a, bytes: m << 20) }
            if let n = limits.maxConcurrentTasks { l.maxConcurrentTasks = n }
            if let p = limits.maxComputePercent { l.maxComputePercent = p }
            agentLimits[a] = l
            inbox.setAgentMemoryLimits(agentLimits.compactMapValues(\.maxMemoryMB))
            if c.policy.computeIsolation, let p = l.maxComputePercent { gate.limitCompute(a, fraction: p / 100) }
        }
        if let s = c.policy.minResourceShare, !(0...1).contains(s) || (Double(max(c.agents.count, 1)) * s > 1) {
            throw SubmitError.invalid("min_resource_share \(s) × \(max(c.agents.count, 1)) agents exceeds the whole pool")
        }
        if c.spec.pattern == .pipeline, (c.spec.stages ?? []).count < 2 {
            throw SubmitError.invalid("pipeline needs at least two stages")
        }
        if coordination.spec.pattern == .exclusive, c.spec.pattern != .exclusive { endLease(at: now, why: "pattern changed") }
        coordination = c
        partitionShares = [:]
        lastNegotiation = []
        applyGate()
        record("pattern", agents: c.agents, winner: nil, reason: "coordination is now \(c.spec.pattern.rawValue)"
               + (c.agents.isEmpty ? " among all agents" : " among " + c.agents.joined(separator: ", ")))
        schedule()
    }

    /// Ends `agent`'s exclusive lease now (its running tasks finish; it queues again for more).
    @discardableResult
    public func releaseLease(agent: String) -> Bool {
        absorbInbox()
        guard leaseHolder == agent else { return false }
        leaseRevoked = true
        if agentState(agent).running == 0 { endLease(at: now, why: "released") }
        schedule()
        return true
    }

    public func currentCoordination() -> Coordination { coordination }

    /// Memory (MB) an agent's running tasks hold, excluding `except`.
    public func reservedMemoryMB(agent: String, except: TaskID? = nil) -> Int {
        absorbInbox()
        return entries.values.filter { $0.record.agent == agent && $0.record.state == .running && $0.record.id != except }
            .reduce(0) { $0 + $1.record.memoryMB }
    }
    public func coordinationDecisions() -> [CoordinationDecision] { decisions }
    public func exclusiveLeases() -> [(agent: String, start: Double, end: Double)] { leases }

    /// Per agent: tasks by state, waits, run time, reserved-memory high-water, step time.
    public func agentMetrics() -> [AgentMetrics] {
        absorbInbox()
        var by: [String: AgentMetrics] = [:]
        let steps = gate.stepSeconds(), longest = gate.longestWait()
        for e in entries.values {
            let a = agentName(e)
            var m = by[a] ?? AgentMetrics(agent: a)
            m.tasks += 1
            m.states[e.record.state.rawValue, default: 0] += 1
            if let w = e.record.waitSeconds { m.waits.append(w) }
            if let r = e.record.runSeconds { m.runSeconds += r }
            by[a] = m
        }
        for (a, var m) in by {
            m.stepSeconds = steps[a] ?? 0
            m.longestStepWaitS = longest[a] ?? 0
            m.peakReservedMB = agentPeakMemory[a] ?? 0
            m.waits.sort()
            by[a] = m
        }
        return by.values.sorted { $0.agent < $1.agent }
    }

    private func start(_ id: TaskID) {
        guard var e = entries[id] else { return }
        dequeue(id)
        e.record.state = .running
        e.record.startedAt = now
        running += 1
        memoryInUse += e.record.memoryMB
        let a = agentName(e)
        let before = agentRunning[a] ?? (0, 0)
        agentRunning[a] = (before.tasks + 1, before.memoryMB + e.record.memoryMB)
        agentPeakMemory[a] = max(agentPeakMemory[a] ?? 0, before.memoryMB + e.record.memoryMB)
        peakRunning = max(peakRunning, running)
        peakMemory = max(peakMemory, memoryInUse)
        let context = TaskContext(id: id, name: e.spec.name,
                                  dependencyResults: e.spec.dependencies.map { entries[$0]?.result ?? .null })
        let work = e.spec.work
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
                outcome = .failure(TaskFailure(taskID: id, taskName: context.name, reason: .error("\(error)")))
            }
            await self?.finish(id, outcome)
        }
        if let timeout = e.spec.timeoutS ?? configuration.defaultTimeoutS {
            e.timer = Task.detached { [weak self] in
                do { try await Task.sleep(nanoseconds: UInt64(timeout * 1e9)) } catch { return }
                await self?.timeOut(id, after: timeout)
            }
        }
        entries[id] = e
        logger.debug("started", metadata: ["task.id": "\(id)", "task.name": "\(e.spec.name)"])
    }

    private func timeOut(_ id: TaskID, after seconds: Double) {
        guard let e = entries[id], e.record.state == .running else { return }
        e.workTask?.cancel()
        complete(id, .failure(TaskFailure(taskID: id, taskName: e.spec.name, reason: .timedOut(seconds: seconds))), workStopped: false)
    }

    private func finish(_ id: TaskID, _ outcome: TaskOutcome) {
        guard var e = entries[id] else { return }
        if e.draining {  // cancelled or timed out earlier: its work has stopped only now
            e.draining = false
            entries[id] = e
            release(e)
            endLeaseIfDone(after: e)
            schedule()
            return
        }
        guard e.record.state == .running else { return }
        complete(id, outcome)
    }

    /// An exclusive lease ends once its holder has nothing running (draining work included).
    private func endLeaseIfDone(after e: Entry) {
        if coordination.spec.pattern == .exclusive, let h = leaseHolder, agentName(e) == h, agentState(h).running == 0,
           leaseRevoked || agentState(h).pending == 0 {
            endLease(at: now, why: leaseRevoked ? "released" : "its tasks ended")
        }
    }

    /// Gives back a running task's slot and memory.
    private func release(_ e: Entry) {
        running -= 1
        memoryInUse -= e.record.memoryMB
        let a = agentName(e), held = agentRunning[a] ?? (1, e.record.memoryMB)
        agentRunning[a] = (held.tasks - 1, held.memoryMB - e.record.memoryMB)
    }

    /// Ends a running task: frees what it held, wakes waiters, releases or fails dependants.
    /// `workStopped` false: the task's work was told to stop but may still be running; its slot
    /// and memory stay taken until it returns (`finish`).
    private func complete(_ id: TaskID, _ outcome: TaskOutcome, workStopped: Bool = true) {
        guard var e = entries[id] else { return }
        if e.record.state == .running {
            if workStopped || e.workTask == nil { release(e) } else { e.draining = true }
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
        endLeaseIfDone(after: e)
        for c in waiters.removeValue(forKey: id) ?? [] { c.resume(returning: outcome) }
        endCallbacks.removeValue(forKey: id)?(id, outcome)
        for d in e.dependents {
            guard var de = entries[d], !de.record.state.isFinal else { continue }
            if case .failure(let f) = outcome {
                fail(d, .dependencyFailed(id: id, name: e.record.name, cause: f.cause))
            } else {
                de.waitingOn.remove(id)
                if de.waitingOn.isEmpty {
                    de.record.state = .queued
                    enqueue(d)
                }
                entries[d] = de
            }
        }
        schedule()
    }

    /// Fails a task that has not started (and so its dependants, transitively).
    private func fail(_ id: TaskID, _ reason: TaskFailure.Reason) {
        guard let e = entries[id], !e.record.state.isFinal else { return }
        dequeue(id)
        complete(id, .failure(TaskFailure(taskID: id, taskName: e.spec.name, reason: reason)))
    }

    // MARK: Queries and control

    /// Waits, without polling, until the task ends.
    public func wait(_ id: TaskID) async -> TaskOutcome {
        absorbInbox()
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
            complete(id, .failure(TaskFailure(taskID: id, taskName: e.spec.name, reason: .cancelled)), workStopped: false)
        } else {
            fail(id, .cancelled)
        }
        return true
    }

    public func status(_ id: TaskID) -> TaskRecord? {
        absorbInbox()
        return entries[id]?.record
    }

    public func records() -> [TaskRecord] {
        absorbInbox()
        return entries.values.map(\.record).sorted { $0.id < $1.id }
    }

    public func usage() -> PoolUsage {
        absorbInbox()
        var u = PoolUsage(runningTasks: running, queuedTasks: queued.count, memoryInUseMB: memoryInUse,
                          memoryPoolMB: configuration.memoryPoolMB, peakRunningTasks: peakRunning, peakMemoryMB: peakMemory)
        u.drainingTasks = entries.values.filter(\.draining).count
        return u
    }

    // MARK: Learning

    /// Records a user's judgement of a finished task; later scheduling of its type changes by
    /// it, and of its kind and backend where the task ran GPU work (see `GPULearningEngine`).
    /// `durationRatio` is actual / expected duration where the user gave both.
    public func feedback(_ id: TaskID, satisfaction: Double, suggestions: [String], durationRatio: Double? = nil) throws {
        absorbInbox()
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
    public func workloadKind(_ id: TaskID) -> String? {
        absorbInbox()
        return entries[id]?.spec.workload?.kind
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
