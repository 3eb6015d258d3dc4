import Foundation

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
