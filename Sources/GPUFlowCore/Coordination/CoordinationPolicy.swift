/// One coordination pattern's rules as a value: it orders the queue, decides whether a task of
/// a participating agent may start, and reacts to task ends — by returning decisions, which
/// the orchestrator carries out and records. Each pattern owns its state (a lease queue,
/// partitions, the last negotiation), so a new pattern is one file and one case of
/// `CoordinationSpec`, and its rules are tested by calling these methods, without sleeps.
public protocol CoordinationPolicy: Sendable {
    /// Coordinated tasks get slots of their agent's own (the device gate then shares the
    /// device between agents); otherwise all tasks share the pool's slots.
    var slotsPerAgent: Bool { get }
    /// A coordinated task that does not fit the pool lets another agent's task try (agents share
    /// by rule); otherwise strict priority holds every lower task back.
    var sharesByRule: Bool { get }
    /// Whether the order of the queue is this policy's to decide, given whether any device work
    /// is queued (without it, submission order is kept and the queue is not sorted). When it
    /// is, the policy also decides while every slot is taken.
    func rulesOrder(deviceWorkQueued: Bool) -> Bool
    /// Looks at the queue in priority order and returns the order to admit in and what it decided.
    mutating func arrange(_ queue: [QueuedTask], view: SchedulerView, at t: Double) -> Arrangement
    /// Whether `task` of a participating agent may start now, by this pattern's rule.
    func admits(_ task: QueuedTask, view: SchedulerView) -> Bool
    /// After a participating agent's task ended (its slot freed or not yet).
    mutating func taskEnded(agent: String, view: SchedulerView, at t: Double) -> [PolicyDecision]
    /// An agent gives up what the pattern gave it (an exclusive lease); nil: it held nothing.
    mutating func release(agent: String, view: SchedulerView, at t: Double) -> [PolicyDecision]?
    /// The pattern is being replaced by another.
    mutating func retire(at t: Double, why: String) -> [PolicyDecision]
}

extension CoordinationPolicy {
    public var slotsPerAgent: Bool { false }
    public var sharesByRule: Bool { false }
    public func rulesOrder(deviceWorkQueued: Bool) -> Bool { deviceWorkQueued }
    public mutating func arrange(_ queue: [QueuedTask], view: SchedulerView, at t: Double) -> Arrangement { Arrangement() }
    public func admits(_ task: QueuedTask, view: SchedulerView) -> Bool { true }
    public mutating func taskEnded(agent: String, view: SchedulerView, at t: Double) -> [PolicyDecision] { [] }
    public mutating func release(agent: String, view: SchedulerView, at t: Double) -> [PolicyDecision]? { nil }
    public mutating func retire(at t: Double, why: String) -> [PolicyDecision] { [] }
}

/// What a policy sees of a queued task.
public struct QueuedTask: Sendable, Equatable {
    public let id: Int
    public let agent: String
    /// 0 (low) … 3 (critical).
    public let priority: Int
    public let memoryMB: Int
    public let submittedAt: Double
    /// Device work of a participating agent: the tasks the pattern rules.
    public let coordinated: Bool
    public init(id: Int, agent: String, priority: Int, memoryMB: Int, submittedAt: Double, coordinated: Bool) {
        self.id = id
        self.agent = agent
        self.priority = priority
        self.memoryMB = memoryMB
        self.submittedAt = submittedAt
        self.coordinated = coordinated
    }
}

/// Device work of one participating agent, as the scheduler counts it.
public struct AgentLoad: Sendable, Equatable {
    public var running = 0
    public var memoryMB = 0
    /// Queued or waiting on a dependency.
    public var pending = 0
    /// Memory its unfinished tasks hold or wait for (at least 1 MB each), for adaptive partitions.
    public var demandMB = 0
    public init(running: Int = 0, memoryMB: Int = 0, pending: Int = 0, demandMB: Int = 0) {
        self.running = running
        self.memoryMB = memoryMB
        self.pending = pending
        self.demandMB = demandMB
    }
}

/// The scheduler's state as policies read it: the pool, the slots, and each participating
/// agent's device work.
public struct SchedulerView: Sendable {
    public var poolMB: Int
    public var slots: Int
    public var memoryInUseMB: Int
    public var running: Int
    /// Participating agents' device work; an agent absent here has none.
    public var loads: [String: AgentLoad]
    /// The coordination's named agents (empty: every agent that submits).
    public var participants: [String]
    /// Seconds of device steps each agent has run (for fairness).
    public var stepSeconds: [String: Double]
    /// Each agent's max_memory_mb, where it has one.
    public var agentMemoryLimitMB: [String: Int]
    /// A task's predicted run time (the learning engine's, else its estimate, else 1 s).
    public var predictedS: @Sendable (Int) -> Double

    public init(
        poolMB: Int, slots: Int, memoryInUseMB: Int = 0, running: Int = 0, loads: [String: AgentLoad] = [:],
        participants: [String] = [], stepSeconds: [String: Double] = [:], agentMemoryLimitMB: [String: Int] = [:],
        predictedS: @escaping @Sendable (Int) -> Double = { _ in 1 }
    ) {
        self.poolMB = poolMB
        self.slots = slots
        self.memoryInUseMB = memoryInUseMB
        self.running = running
        self.loads = loads
        self.participants = participants
        self.stepSeconds = stepSeconds
        self.agentMemoryLimitMB = agentMemoryLimitMB
        self.predictedS = predictedS
    }

    public func load(_ agent: String) -> AgentLoad { loads[agent] ?? AgentLoad() }

    /// Agents with unfinished device work.
    public var activeAgents: [String] {
        loads.filter { $0.value.running + $0.value.pending > 0 }.keys.sorted()
    }
}

/// A decision for the record (`gpu.coordination_log()`), without its time and pattern, which
/// the orchestrator adds.
public struct PolicyDecision: Sendable, Equatable {
    /// "lease", "negotiation", "partition", "starvation".
    public let kind: String
    public let agents: [String]
    public let winner: String?
    public let reason: String
    public init(kind: String, agents: [String], winner: String? = nil, reason: String) {
        self.kind = kind
        self.agents = agents
        self.winner = winner
        self.reason = reason
    }
}

/// What `arrange` returns.
public struct Arrangement: Sendable, Equatable {
    /// Task ids in the order to admit; nil: the priority order as given.
    public var order: [Int]?
    public var decisions: [PolicyDecision] = []
    /// New tensor-memory limits (MB) for agents' allocators, where the policy changed them.
    public var memoryLimitsMB: [String: Int]?
    public init(order: [Int]? = nil, decisions: [PolicyDecision] = [], memoryLimitsMB: [String: Int]? = nil) {
        self.order = order
        self.decisions = decisions
        self.memoryLimitsMB = memoryLimitsMB
    }
}

extension CoordinationSpec {
    /// The policy that carries out this pattern, with fresh state.
    public func makePolicy(sharing: ResourceSharingPolicy) -> any CoordinationPolicy {
        switch self {
        case .exclusive: return ExclusivePolicy(maxStarvationS: sharing.maxStarvationS)
        case .timeSliced: return TimeSlicedPolicy()
        case .spacePartitioned(let p): return SpacePartitionedPolicy(partitions: p, sharing: sharing)
        case .pipeline(let p): return PipelinePolicy(stages: p)
        case .collaborative(let n): return CollaborativePolicy(rules: n, maxStarvationS: sharing.maxStarvationS)
        }
    }
}
