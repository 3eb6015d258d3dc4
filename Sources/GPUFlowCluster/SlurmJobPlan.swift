import GPUFlowCore
import GPUFlowStore

/// One Slurm job to submit: a stage, a sweep (a job array, one element per value), or several
/// independent stages with the same prerequisites and resources (a job array, one stage per
/// element), with what it asks for and the stages it must wait for.
public struct SlurmJobSpec: Sendable, Equatable {
    public var name: String
    /// The stage of each array element in order (one entry for a plain stage).
    public var stages: [String]
    /// Elements to run: sweep indices (1-based), or positions in `stages` for a group.
    public var indices: [Int]
    public var isSweep: Bool
    public var isArray: Bool { isSweep || stages.count > 1 }
    public var throttle: Int?
    public var gpus: Int
    public var memoryMB: Int?
    public var cpus: Int?
    public var timeMinutes: Int?
    public var prerequisites: [String]

    /// The run's element names this job produces, with their array index (nil: not an array).
    public var elements: [(element: String, stage: String, index: Int?)] {
        if isSweep { return indices.map { ("\(stages[0])[\($0)]", stages[0], $0) } }
        if stages.count == 1 { return [(stages[0], stages[0], nil)] }
        return indices.map { (stages[$0 - 1], stages[$0 - 1], $0) }
    }

    /// sbatch --array: "1-4%2", "2,5".
    public var arraySpec: String? {
        guard isArray else { return nil }
        let sorted = indices.sorted()
        var s = sorted.map(String.init).joined(separator: ",")
        if let first = sorted.first, let last = sorted.last, sorted.count > 1, last - first == sorted.count - 1 { s = "\(first)-\(last)" }
        if let t = throttle, t > 0, t < sorted.count { s += "%\(t)" }
        return s
    }
}

/// Turns a stage graph into Slurm jobs, for the elements still to run.
public enum SlurmJobPlanner {
    /// `toSubmit`: the element names to submit (all of them for a new run; what did not finish for a
    /// resume). Jobs come in an order where every job's prerequisites come before it.
    public static func jobs(_ graph: StageGraph, settings: Profile.Cluster, toSubmit: Set<String>) -> [SlurmJobSpec] {
        var out: [SlurmJobSpec] = []
        var grouped = Set<String>()
        let order = graph.topologicalOrder
        for s in order where !grouped.contains(s.name) {
            let base = spec(s, settings)
            if let n = s.count {
                let left = (1...n).filter { toSubmit.contains("\(s.name)[\($0)]") }
                guard !left.isEmpty else { continue }
                var j = base
                j.indices = left
                j.isSweep = true
                j.throttle = s.throttle ?? (settings.arrayThrottle > 0 ? settings.arrayThrottle : nil)
                out.append(j)
                continue
            }
            guard toSubmit.contains(s.name) else { continue }
            // Independent siblings: same prerequisites and resources, none a sweep, all to run.
            let siblings = order.filter { o in
                o.count == nil && !grouped.contains(o.name) && toSubmit.contains(o.name)
                    && Set(o.prerequisites) == Set(s.prerequisites) && spec(o, settings).sameResources(base)
            }
            if siblings.count > 1 {
                var j = base
                j.name = siblings.map(\.name).joined(separator: "+")
                if j.name.count > 64 { j.name = "\(s.name)+\(siblings.count - 1)" }
                j.stages = siblings.map(\.name)
                j.indices = Array(1...siblings.count)
                j.throttle = settings.arrayThrottle > 0 ? settings.arrayThrottle : nil
                j.prerequisites = s.prerequisites
                for o in siblings { grouped.insert(o.name) }
                out.append(j)
            } else {
                out.append(base)
            }
        }
        return out
    }

    private static func spec(_ s: StageSpec, _ settings: Profile.Cluster) -> SlurmJobSpec {
        SlurmJobSpec(
            name: s.name, stages: [s.name], indices: [1], isSweep: false, throttle: nil, gpus: s.gpus ?? settings.gpusPerStage,
            memoryMB: s.memoryMB, cpus: s.cpus, timeMinutes: (s.time ?? settings.time).flatMap(SlurmTime.minutes),
            prerequisites: s.prerequisites)
    }
}

extension SlurmJobSpec {
    func sameResources(_ o: SlurmJobSpec) -> Bool {
        gpus == o.gpus && memoryMB == o.memoryMB && cpus == o.cpus && timeMinutes == o.timeMinutes
    }
}
