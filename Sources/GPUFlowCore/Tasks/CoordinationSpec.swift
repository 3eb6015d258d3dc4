public enum PartitionStrategy: String, NamedChoice { case `static`, dynamic, adaptive, hierarchical }

/// A coordination pattern with its parameters, as `gpu.time_sliced{...}` and friends build it.
public struct CoordinationSpec: Codable, Sendable, Equatable {
    public var pattern: CoordinationPattern
    public var timeSliceMS: Double?
    public var preemptionAllowed: Bool?
    public var partitionStrategy: PartitionStrategy?
    public var dynamicRebalancing: Bool?
    public var stages: [String]?
    public var bufferSizes: [Int]?
    /// Collaborative: how contenders are ordered, and how ties are broken (the profile's when nil).
    public var negotiation: Profile.Coordination.Negotiation?
    public var conflictResolution: Profile.Coordination.ConflictResolution?

    public init(pattern: CoordinationPattern, timeSliceMS: Double? = nil, preemptionAllowed: Bool? = nil,
                partitionStrategy: PartitionStrategy? = nil, dynamicRebalancing: Bool? = nil,
                stages: [String]? = nil, bufferSizes: [Int]? = nil) {
        self.pattern = pattern
        self.timeSliceMS = timeSliceMS
        self.preemptionAllowed = preemptionAllowed
        self.partitionStrategy = partitionStrategy
        self.dynamicRebalancing = dynamicRebalancing
        self.stages = stages
        self.bufferSizes = bufferSizes
    }
}
