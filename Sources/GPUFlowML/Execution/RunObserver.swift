import Foundation
import GPUFlowCore

/// Hears what the workloads do while they do it: the run recorder (the store) and the progress
/// display both listen here. Called on workload threads; implementations synchronize.
public protocol RunObserver: AnyObject, Sendable {
    func taskStarted(id: Int?, name: String, kind: String, agent: String?, epochs: Int?)
    func epoch(id: Int?, name: String, metrics: EpochMetrics, of total: Int)
    func taskFinished(id: Int?, name: String, kind: String, agent: String?, backend: String, result: TaskValue)
    /// A `workflow.stage` returned its stored result instead of running (`fromRun`: the run that
    /// computed it; nil: earlier in this run).
    func stageCached(name: String, fromRun: String?)
}

extension RunObserver {
    public func stageCached(name: String, fromRun: String?) {}
}

/// Where training keeps its checkpoints beyond the process, so a run killed mid-way resumes
/// from its last written epoch (`gpuflow run --resume`). Keyed by a hash of the task, its
/// model, its data and its seed.
public protocol CheckpointStore: AnyObject, Sendable {
    var policy: CheckpointPolicy { get }
    func save(key: String, checkpoint: Data)
    func load(key: String) -> Data?
    /// The task succeeded: its checkpoints are no longer needed.
    func drop(key: String)
}
