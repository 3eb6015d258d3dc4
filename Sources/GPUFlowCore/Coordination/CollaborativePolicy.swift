/// Collaborative: when the agents' next tasks do not all fit (memory or slots), the declared
/// negotiation (`Negotiation.decide`) orders them and the rest of the queue follows; a changed
/// outcome is recorded with its reason.
public struct CollaborativePolicy: CoordinationPolicy {
    public let rules: CoordinationSpec.NegotiationRules
    public let maxStarvationS: Double?
    private var last: [Int] = []
    /// Seeds the random tie-break: one more for every negotiation recorded.
    private var negotiations: UInt64 = 0

    public init(rules: CoordinationSpec.NegotiationRules, maxStarvationS: Double? = nil) {
        self.rules = rules
        self.maxStarvationS = maxStarvationS
    }

    public var sharesByRule: Bool { true }

    public mutating func arrange(_ queue: [QueuedTask], view: SchedulerView, at t: Double) -> Arrangement {
        var heads: [QueuedTask] = []
        var seen = Set<String>()
        for task in queue where task.coordinated && seen.insert(task.agent).inserted { heads.append(task) }
        guard heads.count > 1 else { return Arrangement() }
        let needMB = heads.reduce(0) { $0 + $1.memoryMB }
        guard view.memoryInUseMB + needMB > view.poolMB || view.running + heads.count > view.slots else { return Arrangement() }
        let contenders = heads.map { h in
            Negotiation.Contender(
                agent: h.agent, taskID: h.id, priority: h.priority, waitS: t - h.submittedAt, predictedS: view.predictedS(h.id),
                memoryMB: h.memoryMB, usedS: view.stepSeconds[h.agent] ?? 0)
        }
        let outcome = Negotiation.decide(
            contenders, negotiation: rules.negotiation, conflict: rules.conflictResolution, maxStarvationS: maxStarvationS,
            seed: negotiations)
        let key = outcome.order.map { $0.taskID }
        var decisions: [PolicyDecision] = []
        if key != last {
            last = key
            negotiations += 1
            decisions.append(
                PolicyDecision(
                    kind: "negotiation", agents: contenders.map(\.agent), winner: outcome.order.first?.agent,
                    reason: "\(rules.negotiation.rawValue)/\(rules.conflictResolution.rawValue): " + outcome.reason))
        }
        let negotiated = Set(key)
        return Arrangement(order: key + queue.map(\.id).filter { !negotiated.contains($0) }, decisions: decisions)
    }
}
