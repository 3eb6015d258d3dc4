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
