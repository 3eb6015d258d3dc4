import Foundation

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
