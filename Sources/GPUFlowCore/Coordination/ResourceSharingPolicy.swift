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
    public var negotiation: Profile.Coordination.Negotiation
    public var conflictResolution: Profile.Coordination.ConflictResolution
    public var policy: ResourceSharingPolicy

    public init(spec: CoordinationSpec, agents: [String] = [], negotiation: Profile.Coordination.Negotiation = .consensus,
                conflictResolution: Profile.Coordination.ConflictResolution = .fairness, policy: ResourceSharingPolicy = .init()) {
        self.spec = spec
        self.agents = agents
        self.negotiation = negotiation
        self.conflictResolution = conflictResolution
        self.policy = policy
    }

    /// The profile's default coordination.
    public init(profile: Profile) {
        let c = profile.coordination
        self.init(spec: CoordinationSpec(pattern: c.pattern, timeSliceMS: c.timeSliceMS, preemptionAllowed: c.preemptionAllowed,
                                         partitionStrategy: c.partitionStrategy, dynamicRebalancing: c.dynamicRebalancing,
                                         stages: c.stages, bufferSizes: c.bufferSizes),
                  agents: c.agents, negotiation: c.negotiation, conflictResolution: c.conflictResolution, policy: c.sharingPolicy)
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
