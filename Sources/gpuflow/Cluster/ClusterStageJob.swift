import Foundation
import GPUFlowCluster
import GPUFlowCompute
import GPUFlowCore
import GPUFlowLua
import GPUFlowStore

/// What one Slurm job of a cluster run does on its node (`gpuflow run SCRIPT --stage NAME
/// --run RUN --run-dir DIR`): checks the script is the one submitted, marks the stage running
/// in the run directory, runs the script with earlier stages' results read from there, and
/// leaves the stage succeeded (with its result) or failed (with the error). The stage's own
/// tasks and metrics go to a small run store of its own in the run directory.
struct ClusterStageJob {
    let stage: String
    let index: Int?
    let run: String?
    let runDir: String?
    let scripts: [String]
    let arguments: [String]
    let profile: String?
    let seed: UInt64
    let backend: BackendKind?
    let store: String?
    let progress: ProgressDisplay.Mode

    func execute() -> Int32 {
        guard let run, let runDir else {
            fail("--stage needs --run RUN and --run-dir DIR (gpuflow submit writes both into each job)", code: ExitStatus.badInput)
        }
        guard scripts.count == 1, let script = scripts.first else { fail("--stage runs one script", code: ExitStatus.badInput) }
        let dir = RunDirectory(path: runDir)
        let plan: ClusterPlan
        do { plan = try dir.plan() } catch { fail("\(error)", code: ExitStatus.badInput) }
        let element = index.map { "\(stage)[\($0)]" } ?? stage
        let env = ProcessInfo.processInfo.environment
        let job = env["SLURM_ARRAY_JOB_ID"].flatMap { a in env["SLURM_ARRAY_TASK_ID"].map { "\(a)_\($0)" } } ?? env["SLURM_JOB_ID"]
        var status = RunDirectory.StageStatus(
            state: "running", host: ProcessInfo.processInfo.hostName, job: job, startedAt: Date().timeIntervalSince1970)
        func end(_ code: Int32, _ error: String?, shown: Bool = false) -> Int32 {
            status.state = code == 0 ? "succeeded" : "failed"
            status.endedAt = Date().timeIntervalSince1970
            status.exitCode = code
            status.error = error
            do { try dir.putStatus(element, status) } catch { FileHandle.standardError.write(Data("warning: \(error)\n".utf8)) }
            if let error, !shown { FileHandle.standardError.write(Data("error: \(error)\n".utf8)) }
            return code
        }
        guard plan.run == run else { return end(ExitStatus.badInput, "run directory \(runDir) holds run \(plan.run), not \(run)") }
        guard let spec = plan.graph[stage] else {
            return end(
                ExitStatus.badInput, "run \(run) has no stage '\(stage)' (stages: \(plan.graph.stages.map(\.name).joined(separator: ", ")))"
            )
        }
        if let n = spec.count {
            guard let i = index, (1...n).contains(i) else {
                return end(ExitStatus.badInput, "sweep '\(stage)' has elements 1...\(n); --index \(index.map(String.init) ?? "missing")")
            }
        } else if index != nil {
            return end(ExitStatus.badInput, "stage '\(stage)' is not a sweep; --index does not apply")
        }
        let path = URL(fileURLWithPath: script).standardizedFileURL.path
        let text = FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } ?? ""
        guard ContentHash.of(text) == plan.scriptHash else {
            return end(ExitStatus.badInput, "\(ClusterError.scriptChanged(script: path, run: run))")
        }
        do { try dir.putStatus(element, status) } catch { fail("\(error)", code: ExitStatus.badInput) }

        var resolved = Profile()
        if let profile {
            do { resolved = try ProfileLoader.load(path: profile) } catch { return end(ExitStatus.badInput, "\(error)") }
        }
        if let backend { resolved.device.backend = backend }
        var executor = RunExecutor(progress: progress, metricsOut: nil, storePath: store ?? dir.storePath(element), resumedFrom: nil)
        executor.stageMode = .cluster(ClusterStageTarget(directory: dir, stage: stage, index: index))
        let outcome = executor.execute(RunPlan(scripts: [path], agents: [nil], arguments: arguments, profile: resolved, seed: seed))
        if outcome.exitCode != 0 { return end(outcome.exitCode, outcome.message ?? "the stage's script failed", shown: true) }
        guard dir.result(element) != nil else {
            return end(ExitStatus.badInput, "\(path) never reached stage '\(element)' (is it declared only under a condition?)")
        }
        return end(0, nil)
    }
}
