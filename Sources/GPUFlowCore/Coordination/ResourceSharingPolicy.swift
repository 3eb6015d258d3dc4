/// How agents share the device, enforced by the orchestrator (admission) and the device gate
/// (steps), never advisory.
public struct ResourceSharingPolicy: Codable, Sendable, Equatable {
    public enum PriorityStrategy: String, NamedChoice {
        /// Task priority first, across agents.
        case strict
        /// Agents take turns: among equal priorities the agent with the least GPU time goes first.
        case fair_share
    }
    public var priorityStrategy: PriorityStrategy = .strict
    /// A queued task of an agent that has waited this long goes ahead of everything else (and,
    /// when time-slicing with preemption, ends the running slice). nil: no guard.
    public var maxStarvationS: Double?
    /// The fraction of the memory pool and of the concurrency each participating agent is
    /// guaranteed: other agents may not take it while this one has work waiting. nil: none.
    public var minResourceShare: Double?
    /// Each agent's tensors are charged to its memory partition or limit; past it, allocation
    /// fails with a typed error in that agent's task only.
    public var memoryIsolation = true
    /// max_compute_percent is enforced: an agent over its share of step time is held back.
    public var computeIsolation = true
    /// No agent may hold more than its equal share of the concurrent slots while others wait.
    public var performanceIsolation = false
    public init() {}
}

/// The active coordination: a pattern among some agents, with its policy.
public struct Coordination: Sendable, Equatable {
    public var spec: CoordinationSpec
    /// Agents taking part; empty: every agent that submits.
    public var agents: [String]
    public var policy: ResourceSharingPolicy

    public init(spec: CoordinationSpec, agents: [String] = [], policy: ResourceSharingPolicy = .init()) {
        self.spec = spec
        self.agents = agents
        self.policy = policy
    }

    /// The profile's default coordination.
    public init(profile: Profile) {
        self.init(spec: profile.coordination.spec, agents: profile.coordination.agents, policy: profile.coordination.sharingPolicy)
    }
}

extension ResourceSharingPolicy {
    public static let starvationRangeS: ClosedRange<Double> = 0.001...31_536_000
    /// Every parameter's name, as profiles and scripts spell it; `max_starvation_time` is kept
    /// as another name for `max_starvation_time_s` (scripts written before it had its unit).
    public static let parameterNames = [
        "priority_strategy", "max_starvation_time_s", "max_starvation_time", "min_resource_share", "memory_isolation",
        "compute_isolation", "performance_isolation",
    ]

    /// Reads the policy from a profile's `sharing_policy` mapping or a Lua table.
    public static func read(from p: some ParameterSource) throws -> ResourceSharingPolicy {
        var s = ResourceSharingPolicy()
        if let k: PriorityStrategy = try p.choice("priority_strategy") { s.priorityStrategy = k }
        let seconds = try p.number("max_starvation_time_s", in: starvationRangeS)
        let alias = try p.number("max_starvation_time", in: starvationRangeS)
        if seconds != nil, alias != nil {
            throw p.invalid("max_starvation_time", "give max_starvation_time_s or its older name max_starvation_time, not both")
        }
        s.maxStarvationS = seconds ?? alias
        s.minResourceShare = try p.number("min_resource_share", in: 0...1)
        if let b = try p.flag("memory_isolation") { s.memoryIsolation = b }
        if let b = try p.flag("compute_isolation") { s.computeIsolation = b }
        if let b = try p.flag("performance_isolation") { s.performanceIsolation = b }
        return s
    }

    /// The guarantees every pattern keeps: participating agents' minimum shares of the pool
    /// and the slots are not given to others while they have work waiting, and under
    /// performance isolation no agent takes more than its equal share of the slots.
    /// `waiting`: the agents with queued tasks.
    public func admits(_ task: QueuedTask, waiting: Set<String>, view: SchedulerView) -> Bool {
        let me = view.load(task.agent)
        if let share = minResourceShare, share > 0 {
            let guaranteeMB = Int(Double(view.poolMB) * share)
            let guaranteeSlots = max(1, Int(Double(view.slots) * share))
            var owedMB = 0, owedSlots = 0
            for other in waiting where other != task.agent {
                let st = view.load(other)
                owedMB += max(0, guaranteeMB - st.memoryMB)
                owedSlots += max(0, guaranteeSlots - st.running)
            }
            if view.memoryInUseMB + task.memoryMB + owedMB > view.poolMB, me.memoryMB >= guaranteeMB { return false }
            if view.running + 1 + owedSlots > view.slots, me.running >= guaranteeSlots { return false }
        }
        if performanceIsolation {
            let others = waiting.subtracting([task.agent]).count
            if others > 0, me.running >= max(1, Int((Double(view.slots) / Double(others + 1)).rounded(.up))) { return false }
        }
        return true
    }
}

/// One decision the coordination took, with its reason, for the record and for tests.
public struct CoordinationDecision: Sendable, Equatable {
    public let at: Double
    public let pattern: String
    /// "lease", "negotiation", "partition", "starvation", "slice".
    public let kind: String
    public let agents: [String]
    public let winner: String?
    public let reason: String
}
