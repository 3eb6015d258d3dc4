/// Space partitioned: the memory pool and the concurrent slots are split among the agents
/// (`Partitioning.shares`); each agent's tasks are admitted within its share, and its tensor
/// allocations are limited to it. With rebalancing an agent may borrow what others leave
/// unused, but never what an agent with waiting work is owed.
public struct SpacePartitionedPolicy: CoordinationPolicy {
    public let partitions: CoordinationSpec.Partitions
    public let minShare: Double?
    public let memoryIsolation: Bool
    public private(set) var shares: [String: Partitioning.Share] = [:]

    public init(partitions: CoordinationSpec.Partitions, sharing: ResourceSharingPolicy = .init()) {
        self.partitions = partitions
        minShare = sharing.minResourceShare
        memoryIsolation = sharing.memoryIsolation
    }

    public var sharesByRule: Bool { true }

    public mutating func arrange(_ queue: [QueuedTask], view: SchedulerView, at t: Double) -> Arrangement {
        let agents = view.participants.isEmpty ? view.activeAgents : view.participants
        let fresh = Partitioning.shares(
            agents: agents, poolMB: view.poolMB, slots: view.slots, strategy: partitions.strategy,
            demand: view.loads.mapValues(\.demandMB), minShare: minShare)
        guard fresh != shares else { return Arrangement() }
        shares = fresh
        var limits: [String: Int]?
        if memoryIsolation {
            limits = fresh.mapValues(\.memoryMB)
            for (a, s) in fresh { limits?[a] = min(s.memoryMB, view.agentMemoryLimitMB[a] ?? .max) }
        }
        let reason = fresh.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value.memoryMB) MB, \($0.value.slots) slots" }
        return Arrangement(
            decisions: [PolicyDecision(kind: "partition", agents: agents, reason: reason.joined(separator: "; "))], memoryLimitsMB: limits)
    }

    public func admits(_ task: QueuedTask, view: SchedulerView) -> Bool {
        guard let share = shares[task.agent] else { return true }
        let me = view.load(task.agent)
        if me.memoryMB + task.memoryMB <= share.memoryMB && me.running < share.slots { return true }
        guard partitions.rebalances else { return false }
        var owedMB = 0, owedSlots = 0
        for (other, s) in shares where other != task.agent {
            let st = view.load(other)
            if st.pending > 0 {
                owedMB += max(0, s.memoryMB - st.memoryMB)
                owedSlots += max(0, s.slots - st.running)
            }
        }
        return task.memoryMB <= view.poolMB - view.memoryInUseMB - owedMB && view.slots - view.running - owedSlots > 0
    }
}
