/// When a training writes its checkpoint to the run store.
///
/// After its first epoch, then whenever the time since the last write is long enough that writing again keeps the share of
/// time spent on checkpoints under `maxOverhead`. A fast epoch is never paid for with a
/// database write each (which made training with a store 2.5–4× slower than without), and a
/// killed run still loses only a small share of its work.
public struct CheckpointPolicy: Sendable, Equatable {
    /// The share of training time writes may take (1: every epoch).
    public var maxOverhead: Double
    /// Checkpoints kept per task.
    public var keepLast: Int
    /// Keep the last checkpoint after the task succeeds.
    public var keepOnSuccess: Bool

    public init(maxOverhead: Double = 0.02, keepLast: Int = 1, keepOnSuccess: Bool = false) {
        self.maxOverhead = maxOverhead
        self.keepLast = keepLast
        self.keepOnSuccess = keepOnSuccess
    }

    /// `sinceLastWrite`: seconds since the last write ended (nil: none yet); `lastCost`: how
    /// long that write took.
    public func due(sinceLastWrite: Double?, lastCost: Double) -> Bool {
        guard let since = sinceLastWrite, maxOverhead < 1 else { return true }
        return since * maxOverhead >= lastCost * (1 - maxOverhead)
    }
}
