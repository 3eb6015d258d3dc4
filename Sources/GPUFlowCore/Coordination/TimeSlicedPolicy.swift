/// Time sliced: every participating agent gets tasks admitted on slots of its own, and the
/// device gate runs one agent's steps at a time (round robin, slices of `time_slice_ms`,
/// preempted at step boundaries): admission here is only that each agent's slots are its own.
public struct TimeSlicedPolicy: CoordinationPolicy {
    public init() {}
    public var slotsPerAgent: Bool { true }
    /// Slices are per agent, so the queue is always ordered by the rules (fair share, starvation).
    public func rulesOrder(deviceWorkQueued: Bool) -> Bool { true }
}
