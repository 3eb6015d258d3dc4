import Foundation
import GPUFlowStore

/// One stage (or sweep element) of a cluster run as `gpuflow status` shows it: what its own
/// process wrote in the run directory, merged with what Slurm says of its job.
public struct StageView: Sendable, Equatable {
    public var element: String
    public var stage: String
    public var job: String?
    /// pending, running, succeeded, failed, cancelled, timeout, out_of_memory, node_fail,
    /// preempted, not_submitted, unknown.
    public var state: String
    public var detail: String?
    public var elapsed: String?
    public var node: String?
    public var exitCode: String?
    public var tres: String?
}

public enum ClusterStatus {
    /// Every element of the plan, in the plan's order.
    public static func views(plan: ClusterPlan, directory: RunDirectory, jobs: [RunStore.ClusterJob], reading: SlurmJobStates.Reading)
        -> [StageView]
    {
        let byElement = Dictionary(jobs.map { ($0.stage, $0) }, uniquingKeysWith: { _, b in b })
        var out: [StageView] = []
        for s in plan.graph.stages {
            for element in s.elementNames {
                let row = byElement[element]
                let own = directory.status(element)
                var v = StageView(element: element, stage: s.name, job: row?.slurmID, state: "not_submitted")
                let slurm = row.flatMap { reading.states[$0.slurmID] }
                v.elapsed = slurm?.elapsed ?? row?.elapsed
                v.node = slurm?.node ?? row?.node ?? own?.host
                v.exitCode = slurm?.exitCode ?? row?.exitCode ?? own?.exitCode.map { "\($0):0" }
                v.tres = slurm?.tres ?? row?.tres
                if own?.state == "succeeded", directory.result(element) != nil {
                    v.state = "succeeded"
                } else if let slurm {
                    (v.state, v.detail) = state(slurm, own: own)
                } else if let own, own.state == "failed" {
                    v.state = "failed"
                    v.detail = own.error
                } else if let row {
                    // Slurm no longer knows the job and its process left no verdict.
                    v.state = row.state == "pending" || row.state == "running" || row.state == "submitted" ? "unknown" : row.state
                    v.detail =
                        row.state == "pending" || row.state == "running" || row.state == "submitted"
                        ? "Slurm no longer reports job \(row.slurmID) and the stage left no result" : row.reason
                }
                out.append(v)
            }
        }
        return out
    }

    private static func state(_ s: SlurmJobState, own: RunDirectory.StageStatus?) -> (String, String?) {
        switch s.state {
        case "PENDING", "REQUEUED": return ("pending", s.reason)
        case "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED": return ("running", nil)
        case "COMPLETED": return ("failed", own?.error ?? "the job ended without writing the stage's result")
        case "CANCELLED":
            if s.reason == "DependencyNeverSatisfied" { return ("cancelled", "Slurm cancelled it: a stage it depends on failed") }
            return ("cancelled", s.reason)
        case "FAILED": return ("failed", own?.error ?? s.reason)
        case "TIMEOUT", "DEADLINE": return ("timeout", "the job ran past its time limit")
        case "OUT_OF_MEMORY": return ("out_of_memory", "the job exceeded its memory limit")
        case "NODE_FAIL", "BOOT_FAIL": return ("node_fail", s.reason)
        case "PREEMPTED": return ("preempted", s.reason)
        default: return (s.state.lowercased(), s.reason)
        }
    }

    /// The run's state from its stages': running while any can still run; then succeeded,
    /// failed (a stage failed, timed out or lost its node), cancelled, or incomplete (some
    /// stages were never submitted). Returns whether the run has ended.
    public static func runState(_ views: [StageView]) -> (status: String, ended: Bool) {
        let states = Set(views.map(\.state))
        if states.contains("running") { return ("running", false) }
        if states.contains("pending") { return (views.contains { $0.state == "succeeded" } ? "running" : "submitted", false) }
        if states == ["succeeded"] { return ("succeeded", true) }
        if !states.isDisjoint(with: ["failed", "timeout", "out_of_memory", "node_fail", "preempted"]) { return ("failed", true) }
        if states.contains("cancelled") { return ("cancelled", true) }
        return ("incomplete", true)
    }

    /// Elements whose jobs can still run (pending or running): a resume waits for them.
    public static func live(_ views: [StageView]) -> [String: String] {
        var refs: [String: String] = [:]
        for v in views where v.state == "pending" || v.state == "running" { if let j = v.job { refs[v.element] = j } }
        return refs
    }
}
