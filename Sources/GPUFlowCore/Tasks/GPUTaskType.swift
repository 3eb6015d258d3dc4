import Foundation

/// The six GPU task types of the original design. Plain values: what the task is, not the
/// objects (model, data) it works on, which travel beside it as `TaskValue`s.
public enum GPUTaskType: Codable, Sendable, Equatable {
    case training(TrainingTask)
    case inference(InferenceTask)
    case optimization(OptimizationTask)
    case memoryManagement(MemoryManagementTask)
    case resourceCoordination(ResourceCoordinationTask)
    case hybridCompute(HybridComputeTask)

    /// The snake_case name used by Lua constructors, metrics and the learning engine.
    public var name: String {
        switch self {
        case .training: return "training"
        case .inference: return "inference"
        case .optimization: return "optimization"
        case .memoryManagement: return "memory_management"
        case .resourceCoordination: return "resource_coordination"
        case .hybridCompute: return "hybrid_compute"
        }
    }

    /// Whether the task is device work that coordination patterns arbitrate (setting up a
    /// coordination is not).
    public var isDeviceWork: Bool {
        if case .resourceCoordination = self { return false }
        if case .memoryManagement(let m) = self, m.operation == .stats { return false }
        return true
    }

    /// Device memory the task asks the pool to reserve before it may start.
    public var memoryRequirementMB: Int {
        switch self {
        case .training(let t): return t.memoryRequirementMB
        case .inference(let t): return t.memoryRequirementMB
        case .optimization(let t): return t.constraints.maxMemoryMB ?? 0
        case .memoryManagement(let t): return t.operation == .allocate ? max(t.poolConfig.sizeMB, (t.sizeBytes + (1 << 20) - 1) >> 20) : 0
        case .resourceCoordination: return 0
        case .hybridCompute(let t): return t.memoryRequirementMB
        }
    }
}

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

public struct InferenceTask: Codable, Sendable, Equatable {
    public var modelID: String
    public var batchSize: Int
    public var maxLatencyMS: Double?
    public var minThroughputPerSec: Double?
    public var memoryRequirementMB: Int
    /// A request stream served by a dynamic batcher, rather than the data set in fixed batches.
    public var stream: StreamSettings?
    /// Where batchSize came from: "given", "default", or "learned" (a batch_size=N suggestion
    /// fed back for this model through gpu.optimize_scheduling).
    public var batchSizeSource = "given"
    /// Text generation from a prompt (a language model), in place of serving a data set.
    public var generation: GenerationSettings?
    /// A layer whose outputs the result also carries, row by row (`embeddings`): a graph
    /// layer's name ("linear1"; an MLP's layers are "dense1", "dense2", ...).
    public var layer: String?

    /// What `gpu.inference{prompt = ...}` generates: sampled from the model's distribution
    /// over the next token, divided by `temperature` (0: always the likeliest token) and cut to
    /// the `topK` likeliest, with uniforms from Philox(seed), so a replay writes the same text.
    public struct GenerationSettings: Codable, Sendable, Equatable {
        /// The prompt as text for records and messages (U+FFFD where its bytes are not UTF-8).
        public var prompt: String
        /// The prompt's bytes as the script gave them, which a byte-level model reads unchanged
        /// (absent in records written before they were kept: then the prompt's UTF-8).
        public var promptBytes: [UInt8]?
        public var maxTokens: Int
        public var temperature: Double
        public var topK: Int?
        public var seed: UInt64?
        public var bytes: [UInt8] { promptBytes ?? Array(prompt.utf8) }
        public init(prompt: [UInt8], maxTokens: Int = 200, temperature: Double = 1, topK: Int? = nil, seed: UInt64? = nil) {
            self.init(
                prompt: String(decoding: prompt, as: UTF8.self), maxTokens: maxTokens, temperature: temperature, topK: topK, seed: seed)
            self.promptBytes = prompt
        }
        public init(prompt: String, maxTokens: Int = 200, temperature: Double = 1, topK: Int? = nil, seed: UInt64? = nil) {
            self.prompt = prompt
            self.maxTokens = maxTokens
            self.temperature = temperature
            self.topK = topK
            self.seed = seed
        }
    }

    public struct StreamSettings: Codable, Sendable, Equatable {
        public var requests: Int
        public var arrivalRate: Double
        public init(requests: Int = 1000, arrivalRate: Double = 5000) {
            self.requests = requests
            self.arrivalRate = arrivalRate
        }
    }
    public init(
        modelID: String, batchSize: Int = 64, maxLatencyMS: Double? = nil, minThroughputPerSec: Double? = nil,
        memoryRequirementMB: Int = 0
    ) {
        self.modelID = modelID
        self.batchSize = batchSize
        self.maxLatencyMS = maxLatencyMS
        self.minThroughputPerSec = minThroughputPerSec
        self.memoryRequirementMB = memoryRequirementMB
    }
}

public struct OptimizationConstraints: Codable, Sendable, Equatable {
    public var maxMemoryMB: Int?
    public var maxLatencyMS: Double?
    public var minThroughputPerSec: Double?
    public var maxPowerW: Double?
    public init(maxMemoryMB: Int? = nil, maxLatencyMS: Double? = nil, minThroughputPerSec: Double? = nil, maxPowerW: Double? = nil) {
        self.maxMemoryMB = maxMemoryMB
        self.maxLatencyMS = maxLatencyMS
        self.minThroughputPerSec = minThroughputPerSec
        self.maxPowerW = maxPowerW
    }
}

/// The values one dimension of a search may take.
public enum SearchValues: Codable, Sendable, Equatable {
    case numbers([Double])
    case names([String])

    public var count: Int {
        switch self {
        case .numbers(let v): return v.count
        case .names(let v): return v.count
        }
    }
}

public struct OptimizationTask: Codable, Sendable, Equatable {
    public var target: OptimizationTarget
    public var constraints: OptimizationConstraints
    public var strategy: OptimizationStrategy
    /// Evaluations the strategy may spend (each one a real measured run).
    public var budget: Int
    public var seed: UInt64?
    /// Dimensions to search (batch_size, backend, learning_rate, hidden); empty: batch sizes 1…1024.
    public var space: [String: SearchValues] = [:]
    /// multi_objective: weight of each metric (latency, throughput, memory, accuracy, power).
    public var weights: [String: Double] = [:]
    /// Epochs a trial trains for when the space holds training dimensions or the target is accuracy.
    public var trainingEpochs = 5
    /// Start from the best configurations of similar past searches (same model and target).
    public var warmStart = true
    /// Those configurations (dimension → value as text), filled in from the learning history.
    public var warmStartConfigurations: [[String: String]] = []
    public init(
        target: OptimizationTarget, constraints: OptimizationConstraints = .init(),
        strategy: OptimizationStrategy = .grid, budget: Int = 8, seed: UInt64? = nil
    ) {
        self.target = target
        self.constraints = constraints
        self.strategy = strategy
        self.budget = budget
        self.seed = seed
    }
}

public struct PoolConfig: Codable, Sendable, Equatable {
    /// For `allocate`: the memory to reserve; for a pool: its initial size.
    public var sizeMB: Int
    public var maxSizeMB: Int?
    public var growth: PoolGrowth
    public var allocationStrategy: AllocationStrategy
    public init(sizeMB: Int = 0, maxSizeMB: Int? = nil, growth: PoolGrowth = .fixed, allocationStrategy: AllocationStrategy = .best_fit) {
        self.sizeMB = sizeMB
        self.maxSizeMB = maxSizeMB
        self.growth = growth
        self.allocationStrategy = allocationStrategy
    }
}

public enum MemoryAlignment: String, NamedChoice {
    case byte, word, cache_line, page
    public var bytes: Int {
        switch self {
        case .byte: return 1
        case .word: return 8
        case .cache_line: return 64
        case .page: return 4096
        }
    }
}

/// Who reads and writes an allocated buffer: kernels only, or the host as well.
public enum AccessPattern: String, NamedChoice { case device_local, host_to_device, device_to_host }

public enum TransferDirection: String, NamedChoice { case cpu_to_gpu, gpu_to_cpu, gpu_to_gpu }

public struct MemoryManagementTask: Codable, Sendable, Equatable {
    public var operation: MemoryOperation
    public var poolConfig: PoolConfig
    public var cleanupStrategy: CleanupStrategy
    /// allocate: bytes, alignment, access pattern; transfer: bytes and direction.
    public var sizeBytes = 0
    public var alignment: MemoryAlignment = .cache_line
    public var accessPattern: AccessPattern = .device_local
    public var direction: TransferDirection = .cpu_to_gpu
    /// deallocate: the buffers, and whether unknown ids and other agents' buffers are allowed.
    public var bufferIDs: [Int] = []
    public var force = false
    /// optimize: compact only when fragmentation (1 − largest free range / free bytes) reaches this.
    public var consolidationThreshold = 0.2
    /// garbage_collection: return every idle block now; keep one idle block per tier as a cache.
    public var aggressive = false
    public var preserveCache = true
    /// lazy cleanup: free idle blocks once the pool is this full, and only those idle this long.
    public var pressureThreshold = 0.8
    public var delayS = 1.0
    /// scheduled cleanup: every interval, free this percentage of the idle blocks.
    public var intervalS = 1.0
    public var percentage = 50.0

    public init(operation: MemoryOperation, poolConfig: PoolConfig = .init(), cleanupStrategy: CleanupStrategy = .lazy) {
        self.operation = operation
        self.poolConfig = poolConfig
        self.cleanupStrategy = cleanupStrategy
    }
}

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

/// What to do when the primary backend cannot run a task.
public enum FallbackStrategy: Codable, Sendable, Equatable {
    case fail
    case fallback(BackendKind)
    case cascade([BackendKind])
    /// Rank the candidates by the task's selection criteria on learned predictions and take the
    /// best; the others, in score order, are the fallback cascade.
    case adaptive(AdaptiveSelection)
}

public struct AdaptiveSelection: Codable, Sendable, Equatable {
    /// Backends considered beside the primary.
    public var candidates: [BackendKind]
    /// Leave the primary only for a candidate whose score beats it by more than this fraction.
    public var threshold: Double
    /// Chance of trying a backend other than the best once each has history (ε-greedy), so the
    /// predictions keep being checked against reality.
    public var exploration: Double
    public init(candidates: [BackendKind] = [.vulkan, .simd, .cpu], threshold: Double = 0.1, exploration: Double = 0.05) {
        self.candidates = candidates
        self.threshold = threshold
        self.exploration = exploration
    }
}

/// Weights used to rank backends when more than one can run a task.
public struct SelectionCriteria: Codable, Sendable, Equatable {
    public var performance: Double
    public var memory: Double
    public var power: Double
    public var availability: Double
    public var historyWindow: Int
    public init(
        performance: Double = 0.4, memory: Double = 0.2, power: Double = 0.1, availability: Double = 0.3,
        historyWindow: Int = 20
    ) {
        self.performance = performance
        self.memory = memory
        self.power = power
        self.availability = availability
        self.historyWindow = historyWindow
    }
}

public struct HybridComputeTask: Codable, Sendable, Equatable {
    public var primaryBackend: BackendKind
    public var fallbackStrategy: FallbackStrategy
    public var selectionCriteria: SelectionCriteria
    public var memoryRequirementMB: Int
    public init(
        primaryBackend: BackendKind = .auto, fallbackStrategy: FallbackStrategy = .cascade([.vulkan, .simd, .cpu]),
        selectionCriteria: SelectionCriteria = .init(), memoryRequirementMB: Int = 0
    ) {
        self.primaryBackend = primaryBackend
        self.fallbackStrategy = fallbackStrategy
        self.selectionCriteria = selectionCriteria
        self.memoryRequirementMB = memoryRequirementMB
    }
}
