import Foundation
import GPUFlowTesting
import Testing

/// Whether a Slurm cluster answers here: scripts/test starts one with scripts/slurm-local and
/// exports SLURM_CONF; without it these tests are skipped, saying so.
enum SlurmCluster {
    static let ready: Bool = {
        guard let conf = ProcessInfo.processInfo.environment["SLURM_CONF"], FileManager.default.fileExists(atPath: conf) else {
            return false
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["sinfo", "-h"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }()
}

/// A real Slurm cluster (one node, gres gpu:2) running gpuflow workflows: the example's
/// train → infer → optimize stages and its sweep, cancel, a failed stage and its resume,
/// sbatch failing half-way, and a stage asking for more GPUs than the partition has.
@Suite(
    .serialized,
    .enabled(
        if: SlurmCluster.ready, "no Slurm cluster: scripts/test starts one with scripts/slurm-local start; set SLURM_CONF to run these"))
struct SlurmClusterTests {

    struct CLIError: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    /// Stages with a switch: "sleep" makes `slow` spin for five minutes; a path makes `check`
    /// fail while that file exists. `check` and `audit` have the same inputs and resources, so
    /// they are one job array of two elements.
    private let workflow = """
        local workflow = require "workflow"
        local switch = arg[1] or ""
        local a = workflow.stage("prepare", {}, function() return 20 end, {gpus = 0})
        local slow = workflow.stage("slow", {a, switch}, function(n, s)
          if s == "sleep" then local t = os.time() while os.time() < t + 300 do end end
          return n + 1
        end, {gpus = 1})
        local checked = workflow.stage("check", {slow, switch}, function(n, s)
          local h = s ~= "sleep" and s ~= "" and io.open(s, "r")
          if h then h:close(); error("check failed on purpose: " .. s .. " exists") end
          return n * 2
        end, {gpus = 1})
        workflow.stage("audit", {slow, switch}, function(n) return n + 100 end, {gpus = 1})
        workflow.stage("final", {checked}, function(n) print("final " .. n) return n end, {gpus = 0})
        """

    @Test func theExampleWorkflowAndItsSweepRunOnSlurm() throws {
        let b = try CLISandbox()
        let example = TestPaths.repository.appendingPathComponent("examples/slurm_workflow.lua").path
        let out = try b.run(["submit", example, "--slurm", "--time", "10", "--", "--epochs", "3"])
        #expect(out.status == 0, "\(out.stderr)")
        let run = b.runID(out)
        let s = try b.wait(run) { $0.status != "submitted" && $0.status != "running" }
        #expect(s.status == "succeeded", "\(s.stages.map { "\($0.stage)=\($0.state) \($0.detail ?? "")" })")
        #expect(s.stages.map(\.stage) == ["prepare", "train", "infer", "finetune[1]", "finetune[2]", "finetune[3]", "optimize"])
        // The sweep ran as one job array; --gres=gpu:1 was allocated for the GPU stages, none for prepare.
        let sweepJobs = Set(s.stages.filter { $0.stage.hasPrefix("finetune") }.compactMap { $0.job?.split(separator: "_").first })
        #expect(sweepJobs.count == 1)
        #expect(s.stages.first { $0.stage == "train" }?.tres?.contains("gres/gpu=1") == true)
        #expect(s.stages.first { $0.stage == "prepare" }?.tres?.contains("gpu") == false)
        // This cluster has no slurmdbd: sacct says so and finished jobs come from scontrol.
        let raw = try b.run(["status", run, "--json"]).stdout
        #expect(raw.contains("scontrol") && raw.contains("sacct unavailable"))
        // The run store has the run, succeeded; the optimize stage printed into its log.
        let shown = try b.run(["runs", "show", run])
        #expect(shown.stdout.contains("succeeded"), "\(shown.stdout)")
        let replay = try b.run(["replay", run])
        #expect(replay.status == 2 && replay.firstErrorLine.contains("ran on Slurm"), "\(replay.stderr)")
        let logs = b.dir.appendingPathComponent("gpuflow-runs/\(run)/logs").path
        let optimizeLog = try FileManager.default.contentsOfDirectory(atPath: logs).first { $0.hasPrefix("optimize-") }
        let text = try String(contentsOfFile: logs + "/" + (optimizeLog ?? "missing"), encoding: .utf8)
        #expect(text.contains("optimize: batch"), "\(text)")
    }

    @Test func cancellingARunStopsItsRunningJobAndItsDependants() throws {
        let b = try CLISandbox()
        let script = try b.write("w.lua", workflow)
        let out = try b.run(["submit", script, "--slurm", "--", "sleep"])
        #expect(out.status == 0, "\(out.stderr)")
        let run = b.runID(out)
        _ = try b.wait(run) { $0.state("slow") == "running" }
        let cancel = try b.run(["cancel", run])
        #expect(cancel.status == 0, "\(cancel.stderr)")
        let s = try b.wait(run, timeout: 30) { $0.status != "running" && $0.status != "submitted" }
        #expect(s.status == "cancelled")
        #expect(s.state("prepare") == "succeeded")
        #expect(s.state("slow") == "cancelled" && s.state("check") == "cancelled" && s.state("final") == "cancelled")
        #expect(try b.run(["cancel", run]).stdout.contains("nothing left to cancel"))
    }

    @Test func aFailedStageCancelsItsDependantsAndResumeRunsOnlyWhatDidNotFinish() throws {
        let b = try CLISandbox()
        let script = try b.write("w.lua", workflow)
        let flag = try b.write("fail-check", "1")
        let out = try b.run(["submit", script, "--slurm", "--", flag])
        #expect(out.status == 0, "\(out.stderr)")
        let run = b.runID(out)
        let failed = try b.wait(run) { $0.status != "running" && $0.status != "submitted" }
        #expect(failed.status == "failed")
        #expect(failed.state("prepare") == "succeeded" && failed.state("slow") == "succeeded")
        #expect(failed.state("check") == "failed")
        #expect(failed.stages.first { $0.stage == "check" }?.detail?.contains("check failed on purpose") == true)
        #expect(failed.state("final") == "cancelled")
        // check and audit ran as elements 1 and 2 of one array; audit's success is kept.
        #expect(failed.state("audit") == "succeeded")
        let checkJob = failed.stages.first { $0.stage == "check" }?.job ?? "",
            auditJob = failed.stages.first { $0.stage == "audit" }?.job ?? ""
        #expect(
            checkJob.hasSuffix("_1") && auditJob.hasSuffix("_2") && checkJob.dropLast(2) == auditJob.dropLast(2), "\(checkJob) \(auditJob)")
        #expect(failed.stages.first { $0.stage == "final" }?.detail?.contains("depends on failed") == true)
        let table = try b.run(["status", run])
        #expect(table.stdout.contains("run \(run): failed"))

        // A cluster run is resumed on the cluster, not here.
        let local = try b.run(["run", "--resume", run])
        #expect(local.status == 2 && local.firstErrorLine.contains("ran on Slurm: gpuflow run --resume \(run) --slurm"), "\(local.stderr)")
        try FileManager.default.removeItem(atPath: flag)
        let resumed = try b.run(["run", "--resume", run, "--slurm"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("check") && resumed.stdout.contains("final"))
        #expect(!resumed.stdout.contains("prepare") && !resumed.stdout.contains("slow") && !resumed.stdout.contains("audit"))
        let done = try b.wait(run) { $0.status != "running" && $0.status != "submitted" }
        #expect(done.status == "succeeded", "\(done.stages.map { "\($0.stage)=\($0.state)" })")
        // The finished stages kept their jobs: nothing of them ran again.
        #expect(done.stages.first { $0.stage == "slow" }?.job == failed.stages.first { $0.stage == "slow" }?.job)
        #expect(try b.run(["run", "--resume", run, "--slurm"]).status == 2)
    }

    @Test func sbatchFailingHalfWayKeepsWhatWasSubmittedAndResumeSubmitsTheRest() throws {
        let b = try CLISandbox()
        let script = try b.write("w.lua", workflow)
        let real = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let wrappers = b.dir.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: wrappers, withIntermediateDirectories: true)
        let count = b.dir.appendingPathComponent("sbatch-calls").path
        let sbatch = wrappers.appendingPathComponent("sbatch").path
        try """
        #!/bin/bash
        n=$(cat \(count) 2>/dev/null || echo 0); n=$((n + 1)); echo $n > \(count)
        if [ "$n" -ge 3 ]; then echo "sbatch: error: Batch job submission failed: Job violates accounting/QOS policy" >&2; exit 1; fi
        PATH='\(real)' exec sbatch "$@"
        """.write(toFile: sbatch, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: sbatch)
        let out = try b.run(["submit", script, "--slurm"], extra: ["PATH": wrappers.path + ":" + real])
        #expect(out.status == 5)
        #expect(out.stderr.contains("submitting stage job 'check+audit'"), "\(out.stderr)")
        #expect(out.stderr.contains("Job violates accounting/QOS policy"))
        #expect(out.stderr.contains("already submitted, and left to run"))
        // "error: submitting stage job 'check' of run RUN: ..."
        let run = String(out.stderr.components(separatedBy: " of run ").dropFirst().first?.split(separator: ":").first ?? "")
        let partial = try b.wait(run) { $0.status != "running" && $0.status != "submitted" }
        #expect(partial.status == "incomplete")
        #expect(partial.state("prepare") == "succeeded" && partial.state("slow") == "succeeded")
        #expect(
            partial.state("check") == "not_submitted" && partial.state("audit") == "not_submitted"
                && partial.state("final") == "not_submitted")
        let resumed = try b.run(["run", "--resume", run, "--slurm"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let done = try b.wait(run) { $0.status != "running" && $0.status != "submitted" }
        #expect(done.status == "succeeded")
    }

    @Test func aStageAskingForMoreGPUsThanThePartitionHasIsRefused() throws {
        let b = try CLISandbox()
        let script = try b.write(
            "big.lua",
            """
            local workflow = require "workflow"
            workflow.stage("small", {}, function() return 1 end, {gpus = 1})
            workflow.stage("huge", {}, function() return 1 end, {gpus = 8})
            """)
        let out = try b.run(["submit", script, "--slurm"])
        #expect(out.status == 2)
        #expect(
            out.firstErrorLine.contains(
                "big.lua:3: stage 'huge' asks for 8 GPUs, but no node of partition gpu has more than 2; nothing was submitted"),
            "\(out.stderr)")
        #expect(try b.run(["runs", "list"]).stdout.split(separator: "\n").count <= 1)
    }
}

private extension CLISandbox {
    /// The run id `gpuflow submit` printed.
    func runID(_ out: CLIRunner.Output) -> String {
        String(out.stdout.split(separator: "\n").first { $0.hasPrefix("run ") }?.dropFirst(4).split(separator: ":").first ?? "")
    }
    struct Status: Decodable {
        struct Stage: Decodable {
            var stage: String; var job: String?; var state: String; var detail: String?; var tres: String?; var node: String?
        }
        var status: String
        var stages: [Stage]
        func state(_ name: String) -> String? { stages.first { $0.stage == name }?.state }
    }
    func status(_ run: String) throws -> Status {
        let out = try self.run(["status", run, "--json"])
        guard out.status == 0 else { throw SlurmClusterTests.CLIError(message: out.stderr) }
        return try JSONDecoder().decode(Status.self, from: Data(out.stdout.utf8))
    }
    /// Polls `gpuflow status` until `done` holds (or fails the test after `timeout` seconds).
    func wait(_ run: String, timeout: Double = 240, until done: (Status) -> Bool) throws -> Status {
        let end = Date().addingTimeInterval(timeout)
        var last = try status(run)
        while !done(last) {
            guard Date() < end else {
                throw SlurmClusterTests.CLIError(
                    message: "timed out waiting; last status \(last.status): \(last.stages.map { "\($0.stage)=\($0.state)" })")
            }
            Thread.sleep(forTimeInterval: 0.5)
            last = try status(run)
        }
        return last
    }
}
