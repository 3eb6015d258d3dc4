import Foundation

/// How the learning rate changes over epochs (a factor applied to the algorithm's rate).
public enum LearningRateSchedule: Codable, Sendable, Equatable {
    case constant
    /// × gamma every `every` epochs.
    case step(every: Int, gamma: Double)
    /// Cosine from 1 down to `minFactor` over the run.
    case cosine(minFactor: Double)

    /// The factor for 1-based `epoch` of `epochs`.
    public func factor(epoch: Int, of epochs: Int) -> Double {
        switch self {
        case .constant: return 1
        case .step(let every, let gamma): return pow(gamma, Double((epoch - 1) / max(every, 1)))
        case .cosine(let minFactor):
            let progress = epochs > 1 ? Double(epoch - 1) / Double(epochs - 1) : 0
            return minFactor + (1 - minFactor) * 0.5 * (1 + cos(Double.pi * progress))
        }
    }
}

/// Stop when the validation loss has not improved by `minDelta` for `patience` epochs.
public struct EarlyStopping: Codable, Sendable, Equatable {
    public var patience: Int
    public var minDelta: Double
    /// Return the model of the best epoch rather than the last one.
    public var restoreBest: Bool
    public init(patience: Int = 5, minDelta: Double = 0, restoreBest: Bool = true) {
        self.patience = patience
        self.minDelta = minDelta
        self.restoreBest = restoreBest
    }
}

public struct TrainingTask: Codable, Sendable, Equatable {
    public var algorithm: TrainingAlgorithm
    public var epochs: Int
    public var batchSize: Int
    public var loss: LossKind
    /// Seconds the submitter expects; compared with the real duration in the result.
    public var durationEstimate: Double?
    public var memoryRequirementMB: Int
    public var computeIntensity: ComputeIntensity
    public var validationSplit: Double
    public var seed: UInt64?
    /// Scale gradients so their global L2 norm is at most this.
    public var gradientClipNorm: Double?
    public var earlyStopping: EarlyStopping?
    public var schedule: LearningRateSchedule
    /// Write a checkpoint every this many epochs to `checkpointPath`.
    public var checkpointEvery: Int?
    public var checkpointPath: String?
    /// Continue from a checkpoint: same result as an uninterrupted run with the same seed.
    public var resumeFrom: String?
    /// The loss's constants (label smoothing, Huber's delta); nil: the defaults.
    public var lossOptions: LossOptions?
    /// Layers of a graph model whose parameters stay as they are (fine-tuning), by name.
    public var frozenLayers: [String]?
    /// Linear warm-up over the first N optimizer steps (the rate times step/N), on top of the
    /// epoch schedule; nil: none.
    public var warmupSteps: Int?
    /// true: the schedule runs over optimizer steps (a cosine from the first step to the last,
    /// `every` counting steps), as PyTorch's per-step schedulers do; nil or false: over epochs.
    public var schedulePerStep: Bool?
    /// Seeded crops and flips of image samples as each training batch is built; nil: none.
    public var augmentation: ImageAugmentation?

    /// The learning-rate factor at optimizer step `step` (1-based) of epoch `epoch`, with
    /// `stepsPerEpoch` steps in an epoch (used when the schedule runs per step).
    public func rateFactor(epoch: Int, step: Int, stepsPerEpoch: Int = 1) -> Double {
        let e =
            schedulePerStep == true
            ? schedule.factor(epoch: step, of: epochs * max(stepsPerEpoch, 1)) : schedule.factor(epoch: epoch, of: epochs)
        guard let w = warmupSteps, w > 0, step < w else { return e }
        return e * Double(step) / Double(w)
    }
    public init(
        algorithm: TrainingAlgorithm, epochs: Int = 10, batchSize: Int = 32, loss: LossKind = .cross_entropy,
        durationEstimate: Double? = nil, memoryRequirementMB: Int = 0,
        computeIntensity: ComputeIntensity = .moderate, validationSplit: Double = 0, seed: UInt64? = nil,
        gradientClipNorm: Double? = nil, earlyStopping: EarlyStopping? = nil, schedule: LearningRateSchedule = .constant
    ) {
        self.algorithm = algorithm
        self.epochs = epochs
        self.batchSize = batchSize
        self.loss = loss
        self.durationEstimate = durationEstimate
        self.memoryRequirementMB = memoryRequirementMB
        self.computeIntensity = computeIntensity
        self.validationSplit = validationSplit
        self.seed = seed
        self.gradientClipNorm = gradientClipNorm
        self.earlyStopping = earlyStopping
        self.schedule = schedule
    }
}
