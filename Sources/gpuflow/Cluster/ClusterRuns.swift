import Foundation
import GPUFlowCluster
import GPUFlowCore
import GPUFlowStore

/// The cluster side of a run's life, shared by `submit`, `status`, `cancel` and
/// `run --resume --slurm`: the run store on the submitting host keeps the run, its jobs and
/// their last known states; the run directory keeps the plan and what each stage's own
/// process wrote; Slurm says what its jobs are doing.
struct ClusterRuns {
    let store: RunStore
    let commands = SlurmCommands()

    /// The run's directory, as recorded at submission.
    func directory(_ run: String) throws -> RunDirectory {
        guard let path = try store.params(run)["run_dir"],
            !(try store.clusterJobs(run)).isEmpty || FileManager.default.fileExists(atPath: path + "/plan.json")
        else {
            throw ClusterError.notACluster(run: run)
        }
        return RunDirectory(path: path)
    }

    /// Asks Slurm about every job of the run, merges, stores the states and the run's status.
    func refresh(_ run: String) throws -> (views: [StageView], reading: SlurmJobStates.Reading, plan: ClusterPlan) {
        let dir = try directory(run)
        let plan = try dir.plan()
        let jobs = try store.clusterJobs(run)
        let reading = SlurmJobStates(commands: commands).read(jobs.map(\.slurmID))
        let views = ClusterStatus.views(plan: plan, directory: dir, jobs: jobs, reading: reading)
        var rows: [RunStore.ClusterJob] = []
        for v in views {
            guard var row = jobs.first(where: { $0.stage == v.element }) else { continue }
            row.state = v.state
            row.node = v.node
            row.elapsed = v.elapsed
            row.exitCode = v.exitCode
            row.tres = v.tres
            row.reason = v.detail
            if row != jobs.first(where: { $0.stage == v.element }) { rows.append(row) }
        }
        try store.putClusterJobs(run, rows)
        let (status, ended) = ClusterStatus.runState(views)
        let failedExit = views.contains { $0.state != "succeeded" } && ended ? 1 : 0
        try store.setRunStatus(run, status: status, exitCode: ended ? failedExit : nil, ended: ended)
        return (views, reading, plan)
    }

    /// Submits `toSubmit` (element names) of a run whose plan and directory exist, waiting on
    /// `refs` (elements still queued or running from before). Exits 5 when sbatch fails, with
    /// what was submitted kept and the run marked incomplete.
    func submit(
        run: String, plan: ClusterPlan, directory: RunDirectory, settings: Profile.Cluster, toSubmit: Set<String>,
        refs: [String: String]
    ) -> [RunStore.ClusterJob] {
        let template: SbatchTemplate
        do { template = try SbatchTemplate(file: settings.template) } catch { fail("\(error)", code: ExitStatus.badInput) }
        let submitter = SlurmSubmitter(commands: commands, settings: settings, template: template, plan: plan, directory: directory)
        let jobs = SlurmJobPlanner.jobs(plan.graph, settings: settings, toSubmit: toSubmit)
        let outcome = submitter.submit(jobs, refs: refs) { rows in try store.putClusterJobs(run, rows) }
        let ids = outcome.submitted.map(\.slurmID).joined(separator: " ")
        if let failure = outcome.failure {
            try? store.recordEvent(
                run, kind: "submit_failed",
                body: TaskValueJSON.encode(
                    .table([
                        ("job", .string(failure.job)), ("error", .string("\(failure.error)")),
                    ]), indent: nil))
            try? store.setRunStatus(run, status: "incomplete", exitCode: nil, ended: false)
            let code = failure.error is SlurmError ? ExitStatus.scheduler : ExitStatus.badInput
            fail(
                "submitting stage job '\(failure.job)' of run \(run): \(failure.error)\n"
                    + (outcome.submitted.isEmpty ? "nothing was submitted" : "already submitted, and left to run: \(ids)")
                    + "; gpuflow run --resume \(run) --slurm submits the rest", code: code)
        }
        try? store.recordEvent(
            run, kind: "submitted",
            body: TaskValueJSON.encode(
                .table([
                    ("jobs", .array(outcome.submitted.map { .string($0.slurmID) }))
                ]), indent: nil))
        try? store.setRunStatus(run, status: "submitted", exitCode: nil, ended: false)
        return outcome.submitted
    }

    /// `gpuflow run --resume RUN --slurm`: submits again only what did not finish, waiting on
    /// what is still queued or running.
    func resume(_ run: String) -> [RunStore.ClusterJob] {
        do {
            let (views, _, plan) = try refresh(run)
            let dir = try directory(run)
            let text = FileManager.default.contents(atPath: plan.script).map { String(decoding: $0, as: UTF8.self) } ?? ""
            guard ContentHash.of(text) == plan.scriptHash else { throw ClusterError.scriptChanged(script: plan.script, run: run) }
            let profile = try ProfileLoader.load(path: dir.profilePath)
            let live = ClusterStatus.live(views)
            let unfinished = Set(views.filter { $0.state != "succeeded" && live[$0.element] == nil }.map(\.element))
            guard !unfinished.isEmpty else {
                fail(
                    live.isEmpty
                        ? "run \(run) has no stage left to run (gpuflow status \(run))"
                        : "every unfinished stage of run \(run) is still queued or running (gpuflow status \(run))",
                    code: ExitStatus.badInput)
            }
            try store.recordEvent(
                run, kind: "resumed", body: TaskValueJSON.encode(.array(unfinished.sorted().map { .string($0) }), indent: nil))
            return submit(run: run, plan: plan, directory: dir, settings: profile.cluster, toSubmit: unfinished, refs: live)
        } catch let e as ClusterError {
            if case .slurm = e { fail("\(e)", code: ExitStatus.scheduler) }
            fail("\(e)", code: ExitStatus.badInput)
        } catch {
            fail("\(error)", code: ExitStatus.badInput)
        }
    }

    static func table(_ views: [StageView]) -> String {
        var rows = [["STAGE", "JOB", "STATE", "ELAPSED", "NODE", "EXIT", "TRES", "DETAIL"]]
        for v in views {
            rows.append([
                v.element, v.job ?? "-", v.state, v.elapsed ?? "-", v.node ?? "-", v.exitCode ?? "-", v.tres ?? "-", v.detail ?? "",
            ])
        }
        let widths = (0..<8).map { c in rows.map { $0[c].count }.max() ?? 0 }
        return rows.map { r in
            r.enumerated().map { i, cell in i == 7 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n") + "\n"
    }
}
