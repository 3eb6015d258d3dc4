import Foundation

public struct SharingPolicy: Codable, Sendable, Equatable {
    public var maxMemoryMB: Int?
    public var maxConcurrentTasks: Int?
    public var maxComputePercent: Double?
    public init(maxMemoryMB: Int? = nil, maxConcurrentTasks: Int? = nil, maxComputePercent: Double? = nil) {
        self.maxMemoryMB = maxMemoryMB
        self.maxConcurrentTasks = maxConcurrentTasks
        self.maxComputePercent = maxComputePercent
    }
}

public struct ResourceCoordinationTask: Codable, Sendable, Equatable {
    public var pattern: CoordinationSpec
    public var participatingAgents: [String]
    /// Limits applied to each participating agent.
    public var sharingPolicy: SharingPolicy
    /// Priority strategy, fairness constraints and isolation guarantees.
    public var policy: ResourceSharingPolicy
    public init(
        pattern: CoordinationSpec, participatingAgents: [String], sharingPolicy: SharingPolicy = .init(),
        policy: ResourceSharingPolicy = .init()
    ) {
        self.pattern = pattern
        self.participatingAgents = participatingAgents
        self.sharingPolicy = sharingPolicy
        self.policy = policy
    }
}
