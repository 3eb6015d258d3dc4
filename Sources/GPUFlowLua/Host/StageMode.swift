import Foundation
import GPUFlowStore

/// How `workflow.stage` behaves in a run. `normal`: every stage runs (or comes from the cache)
/// in script order. `plan`: no stage runs; each is recorded with what it takes and asks for,
/// and returns a placeholder, so `gpuflow submit` learns the stage graph. `cluster`: one stage
/// of a submitted run, on a Slurm node: earlier stages' results come from the run directory,
/// the target runs and writes its result there, and the script stops.
public enum StageMode: Sendable {
    case normal
    case plan(StagePlanRecorder)
    case cluster(ClusterStageTarget)
}

/// The stages a script declares in plan mode, in order.
public final class StagePlanRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var specs: [StageSpec] = []
    public init() {}

    func record(_ s: StageSpec) {
        lock.lock()
        defer { lock.unlock() }
        specs.append(s)
    }

    public var stages: [StageSpec] {
        lock.lock()
        defer { lock.unlock() }
        return specs
    }
}

/// The one stage (or sweep element) a Slurm job runs, and where the run keeps its results.
public struct ClusterStageTarget: Sendable {
    public let directory: RunDirectory
    public let stage: String
    /// The sweep element (1-based, SLURM_ARRAY_TASK_ID), nil for a plain stage.
    public let index: Int?
    public init(directory: RunDirectory, stage: String, index: Int?) {
        self.directory = directory
        self.stage = stage
        self.index = index
    }
    public var element: String { index.map { "\(stage)[\($0)]" } ?? stage }
}
