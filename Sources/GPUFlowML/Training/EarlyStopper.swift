import GPUFlowCore

/// Early stopping's bookkeeping as a value both trainers share: it takes each epoch's
/// validation loss and says whether the epoch is the new best (keep its weights), whether to
/// stop, or neither. Its three numbers go into a checkpoint and come back on resume.
struct EarlyStopper {
    let rule: EarlyStopping
    private(set) var bestLoss: Double?
    private(set) var bestEpoch: Int?
    private(set) var sinceBest = 0

    enum Decision: Equatable {
        /// A new best: keep this epoch's weights when `restoreBest`.
        case best
        /// No improvement, patience left.
        case wait
        /// No improvement for `patience` epochs.
        case stop
    }

    init(_ rule: EarlyStopping, bestLoss: Double? = nil, bestEpoch: Int? = nil, sinceBest: Int = 0) {
        self.rule = rule
        self.bestLoss = bestLoss
        self.bestEpoch = bestEpoch
        self.sinceBest = sinceBest
    }

    mutating func observe(validationLoss v: Double, epoch: Int) -> Decision {
        if bestLoss == nil || v < (bestLoss ?? .infinity) - rule.minDelta {
            bestLoss = v
            bestEpoch = epoch
            sinceBest = 0
            return .best
        }
        sinceBest += 1
        return sinceBest >= rule.patience ? .stop : .wait
    }
}
