import Foundation

/// One finished piece of GPU work as the learning engine remembers it: what ran where, how big
/// it was, and what it cost. Persisted one JSON object per line in the history file.
public struct ExecutionRecord: Codable, Sendable, Equatable {
    /// "training", "inference", "optimization", ...
    public var kind: String
    /// "cpu", "simd", "vulkan".
    public var backend: String
    public var device: String
    /// Sizes the cost depends on, all positive: rows, params, flops, epochs, batch_size, ...
    public var features: [String: Double]
    /// Categorical facts: algorithm, model (layer widths), strategy, configuration, ...
    public var parameters: [String: String]
    public var durationS: Double
    /// Bytes of tensors held at once on the backend, where counted.
    public var peakMemoryBytes: Double?
    /// Samples (or rows) per second, where the work has a natural unit.
    public var throughput: Double?
    /// Joules the metered device used, where a meter exists.
    public var energyJ: Double?
    /// What the work achieved (accuracy, loss), for comparing algorithms on the same model.
    public var outcomes: [String: Double] = [:]
    /// False for a run that ended in a device fault.
    public var succeeded: Bool
    /// Seconds since 1970.
    public var at: Double

    public init(
        kind: String, backend: String, device: String, features: [String: Double], parameters: [String: String] = [:],
        durationS: Double, peakMemoryBytes: Double? = nil, throughput: Double? = nil, energyJ: Double? = nil,
        succeeded: Bool = true, at: Double = Date().timeIntervalSince1970
    ) {
        self.kind = kind
        self.backend = backend
        self.device = device
        self.features = features
        self.parameters = parameters
        self.durationS = durationS
        self.peakMemoryBytes = peakMemoryBytes
        self.throughput = throughput
        self.energyJ = energyJ
        self.succeeded = succeeded
        self.at = at
    }

    /// Floating-point operations of the work, the size that best separates "small" from "big".
    public var flops: Double? { features["flops"] }

    /// Power-of-four bucket of the work's FLOPs, so insights compare like with like.
    public var sizeClass: SizeClass? { flops.map(SizeClass.init(flops:)) }
}

/// "≤ 4^k FLOP": coarse enough to gather evidence, fine enough that a 128² GEMM and a 2048²
/// GEMM are not averaged together.
public struct SizeClass: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let exponent: Int
    public init(flops: Double) { exponent = max(0, Int((log(max(flops, 1)) / log(4)).rounded(.up))) }
    public var upperBound: Double { pow(4, Double(exponent)) }
    public static func < (a: SizeClass, b: SizeClass) -> Bool { a.exponent < b.exponent }
    public var description: String {
        let v = upperBound
        for (unit, scale) in [("TFLOP", 1e12), ("GFLOP", 1e9), ("MFLOP", 1e6), ("kFLOP", 1e3)] where v >= scale {
            return String(format: "≤ %.3g %@", v / scale, unit)
        }
        return String(format: "≤ %.0f FLOP", v)
    }
}

/// A user's judgement of a finished task, kept in the history so the next run acts on it too.
public struct FeedbackRecord: Codable, Sendable, Equatable {
    public var kind: String
    public var backend: String?
    /// The model's layer widths ("64-128-10"), for per-model defaults such as batch size.
    public var model: String?
    public var satisfaction: Double
    public var suggestions: [String]
    /// actual / expected duration, where both were given.
    public var durationRatio: Double?
    public var at: Double

    public init(
        kind: String, backend: String?, model: String?, satisfaction: Double, suggestions: [String],
        durationRatio: Double?, at: Double = Date().timeIntervalSince1970
    ) {
        self.kind = kind
        self.backend = backend
        self.model = model
        self.satisfaction = satisfaction
        self.suggestions = suggestions
        self.durationRatio = durationRatio
        self.at = at
    }
}

/// One measured configuration of an optimization task, for warm-starting later searches.
public struct TrialRecord: Codable, Sendable, Equatable {
    /// The model's layer widths ("64-128-10").
    public var model: String
    public var target: String
    /// Dimension name → value, as text ("batch_size" → "64").
    public var configuration: [String: String]
    /// Higher is better, in the target's own units.
    public var score: Double
    public var at: Double

    public init(
        model: String, target: String, configuration: [String: String], score: Double,
        at: Double = Date().timeIntervalSince1970
    ) {
        self.model = model
        self.target = target
        self.configuration = configuration
        self.score = score
        self.at = at
    }
}
