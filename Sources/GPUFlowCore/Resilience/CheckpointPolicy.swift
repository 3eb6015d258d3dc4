/// When a training writes its checkpoint to the run store (the profile's `store:` keys).
///
/// The first write comes once the training has run `firstWriteAfter` seconds (a killed run
/// loses at most that much; a short training writes nothing only to drop it at its end), then
/// whenever the time since the last write is long enough that writing again keeps the share of
/// time spent on checkpoints under `maxOverhead`. A fast epoch is never paid for with a
/// database write each (which made training with a store 2.5–4× slower than without).
public struct CheckpointPolicy: Codable, Sendable, Equatable {
    /// The share of training time writes may take (1: every epoch).
    public var maxOverhead: Double
    /// Seconds of training before the first write (0: after the first epoch).
    public var firstWriteAfter: Double
    /// Checkpoints kept per task, newest first.
    public var keepLast: Int
    /// Keep the task's last checkpoint after it succeeds (default: drop it).
    public var keepOnSuccess: Bool

    public init(maxOverhead: Double = 0.02, firstWriteAfter: Double = 1, keepLast: Int = 1, keepOnSuccess: Bool = false) {
        self.maxOverhead = maxOverhead
        self.firstWriteAfter = firstWriteAfter
        self.keepLast = keepLast
        self.keepOnSuccess = keepOnSuccess
    }

    /// `sinceStart`: seconds since the training started; `sinceLastWrite`: since the last
    /// write ended (nil: none yet); `lastCost`: how long that write took.
    public func due(sinceStart: Double, sinceLastWrite: Double?, lastCost: Double) -> Bool {
        if maxOverhead >= 1 { return true }
        guard let since = sinceLastWrite else { return sinceStart >= firstWriteAfter }
        return since * maxOverhead >= lastCost * (1 - maxOverhead)
    }
}
