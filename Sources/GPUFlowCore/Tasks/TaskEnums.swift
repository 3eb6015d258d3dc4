/// Small closed vocabularies of the task model. Raw values are the snake_case names scripts
/// and profiles use, so one table serves parsing, printing and error messages.
public protocol NamedChoice: CaseIterable, RawRepresentable, Codable, Sendable, Hashable where RawValue == String {}

extension NamedChoice {
    /// "a | b | c": used in every "expected one of" message.
    public static var choices: String { allCases.map(\.rawValue).joined(separator: " | ") }
}

public enum ComputeIntensity: String, NamedChoice { case light, moderate, heavy, extreme }

public enum BackendKind: String, NamedChoice { case auto, vulkan, simd, cpu }

public enum OptimizationTarget: String, NamedChoice {
    case latency, throughput, memory, memory_efficiency, power_efficiency, accuracy, multi_objective
}

public enum OptimizationStrategy: String, NamedChoice {
    case grid, random, greedy, genetic, simulated_annealing, bayesian, multi_armed_bandit
}

/// The original design's memory operations; `stats` reads the pool. (Names as issue 6 fixes them.)
public enum MemoryOperation: String, NamedChoice { case allocate, deallocate, optimize, transfer, garbage_collection, stats }

public enum CleanupStrategy: String, NamedChoice { case immediate, lazy, scheduled, smart }

public enum AllocationStrategy: String, NamedChoice { case best_fit, first_fit, worst_fit, next_fit }

public enum PoolGrowth: String, NamedChoice { case fixed, linear, exponential, adaptive }

public enum CoordinationPattern: String, NamedChoice {
    case exclusive, time_sliced, space_partitioned, pipeline, collaborative
}

public enum PolicyType: String, NamedChoice { case policy_gradient, actor_critic, q_network }
public enum RewardShaping: String, NamedChoice { case sparse, dense, shaped }
public enum Exploration: String, NamedChoice { case epsilon_greedy, boltzmann, ucb }
public enum FreezingStrategy: String, NamedChoice { case early_layers, late_layers, alternating }
public enum SelectionMethod: String, NamedChoice { case tournament, roulette, elitist }
/// cross_entropy: softmax over the outputs against a class index; mse, l1, huber: regression
/// (a class index becomes a one-hot target); bce_with_logits: a sigmoid per output against 0/1.
public enum LossKind: String, NamedChoice { case cross_entropy, mse, l1, huber, bce_with_logits }

/// The constants some losses take; the defaults are PyTorch's.
public struct LossOptions: Codable, Sendable, Equatable {
    /// Cross-entropy against (1 − ε)·one-hot + ε/K (0: none).
    public var labelSmoothing: Double = 0
    /// Where the Huber loss turns from quadratic to linear.
    public var huberDelta: Double = 1
    public init(labelSmoothing: Double = 0, huberDelta: Double = 1) {
        self.labelSmoothing = labelSmoothing
        self.huberDelta = huberDelta
    }
}
