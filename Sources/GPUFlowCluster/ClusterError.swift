/// Why a workflow cannot be submitted, or a cluster run not followed: each names what was
/// wrong and where, and is raised before anything is submitted where that can be known.
public enum ClusterError: Error, CustomStringConvertible, Equatable {
    case noStages(script: String)
    case tooManyGPUs(stage: String, location: String, asked: Int, partition: String, most: Int)
    case template(file: String, detail: String)
    case scriptChanged(script: String, run: String)
    case notACluster(run: String)
    case slurm(SlurmError)

    public var description: String {
        switch self {
        case .noStages(let s):
            return "\(s) declares no workflow.stage or workflow.sweep: there is nothing to submit (run it with gpuflow run)"
        case .tooManyGPUs(let s, let l, let a, let p, let m):
            return
                "\(l): stage '\(s)' asks for \(a) GPU\(a == 1 ? "" : "s"), but no node of partition \(p) has more than \(m); nothing was submitted"
        case .template(let f, let d):
            return "sbatch template \(f) \(d)"
        case .scriptChanged(let s, let r):
            return "\(s) changed since run \(r) was submitted (its hash differs from the plan's); submit it again as a new run"
        case .notACluster(let r):
            return "run \(r) was not submitted to a cluster (gpuflow runs show \(r))"
        case .slurm(let e):
            return e.description
        }
    }
}
