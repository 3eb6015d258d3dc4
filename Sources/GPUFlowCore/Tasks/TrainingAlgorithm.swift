/// The five training algorithms of the original design, each with all of its parameters, and
/// RMSprop beside SGD and Adam among the gradient optimizers.
public enum TrainingAlgorithm: Codable, Sendable, Equatable {
    case backpropagation(Backpropagation)
    case adam(Adam)
    case rmsprop(RMSprop)
    case reinforcement(ReinforcementLearning)
    case transfer(TransferLearning)
    case evolutionary(Evolutionary)

    public var name: String {
        switch self {
        case .backpropagation: return "backprop"
        case .adam: return "adam"
        case .rmsprop: return "rmsprop"
        case .reinforcement: return "reinforcement"
        case .transfer: return "transfer"
        case .evolutionary: return "evolutionary"
        }
    }
}

public struct Backpropagation: Codable, Sendable, Equatable {
    public var learningRate: Double
    public var batchSize: Int?
    public var momentum: Double
    /// L2 weight decay added to the gradient (PyTorch's `weight_decay`); nil: none.
    public var weightDecay: Double?
    /// Nesterov momentum (the step uses g + μ·v); nil: plain momentum.
    public var nesterov: Bool?
    public init(
        learningRate: Double = 0.01, batchSize: Int? = nil, momentum: Double = 0.9, weightDecay: Double? = nil, nesterov: Bool? = nil
    ) {
        self.learningRate = learningRate
        self.batchSize = batchSize
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.nesterov = nesterov
    }
}

public struct Adam: Codable, Sendable, Equatable {
    public var learningRate: Double
    public var beta1: Double
    public var beta2: Double
    public var epsilon: Double
    /// AdamW's decoupled weight decay; 0 is plain Adam.
    public var weightDecay: Double
    public init(
        learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8,
        weightDecay: Double = 0
    ) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }
}

/// PyTorch's RMSprop (not centered): g += wd·p; s = α·s + (1 − α)·g²; with momentum μ > 0,
/// b = μ·b + g / (√s + ε) and p −= lr·b, else p −= lr·g / (√s + ε).
public struct RMSprop: Codable, Sendable, Equatable {
    public var learningRate: Double
    public var alpha: Double
    public var epsilon: Double
    public var weightDecay: Double
    public var momentum: Double
    public init(learningRate: Double = 1e-2, alpha: Double = 0.99, epsilon: Double = 1e-8, weightDecay: Double = 0, momentum: Double = 0) {
        self.learningRate = learningRate
        self.alpha = alpha
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.momentum = momentum
    }
}

public struct ReinforcementLearning: Codable, Sendable, Equatable {
    public var policyType: PolicyType
    public var rewardShaping: RewardShaping
    public var exploration: Exploration
    public var learningRate: Double
    public var discount: Double
    /// Episodes to run at most.
    public var episodes: Int
    /// Episodes run side by side, batched on the backend.
    public var parallelEpisodes: Int
    /// Stop when the 100-episode average return reaches this.
    public var solveThreshold: Double?
    public init(
        policyType: PolicyType = .policy_gradient, rewardShaping: RewardShaping = .dense,
        exploration: Exploration = .epsilon_greedy, learningRate: Double = 1e-2, discount: Double = 0.99,
        episodes: Int = 500, parallelEpisodes: Int = 16, solveThreshold: Double? = nil
    ) {
        self.policyType = policyType
        self.rewardShaping = rewardShaping
        self.exploration = exploration
        self.learningRate = learningRate
        self.discount = discount
        self.episodes = episodes
        self.parallelEpisodes = parallelEpisodes
        self.solveThreshold = solveThreshold
    }
}

public struct TransferLearning: Codable, Sendable, Equatable {
    public var baseModel: String
    public var fineTuningLayers: Int
    public var freezingStrategy: FreezingStrategy
    public var learningRate: Double
    public init(
        baseModel: String, fineTuningLayers: Int = 1, freezingStrategy: FreezingStrategy = .early_layers,
        learningRate: Double = 1e-3
    ) {
        self.baseModel = baseModel
        self.fineTuningLayers = fineTuningLayers
        self.freezingStrategy = freezingStrategy
        self.learningRate = learningRate
    }
}

public struct Evolutionary: Codable, Sendable, Equatable {
    public var populationSize: Int
    public var mutationRate: Double
    public var selection: SelectionMethod
    public init(populationSize: Int = 32, mutationRate: Double = 0.05, selection: SelectionMethod = .tournament) {
        self.populationSize = populationSize
        self.mutationRate = mutationRate
        self.selection = selection
    }
}
