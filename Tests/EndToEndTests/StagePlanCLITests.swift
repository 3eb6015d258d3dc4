import Foundation
import GPUFlowTesting
import Testing

/// Plan mode, stage options and the bad inputs of `gpuflow submit` that are refused before
/// Slurm is asked anything — so these need no cluster.
@Suite struct StagePlanCLITests {
    private var example: String { TestPaths.repository.appendingPathComponent("examples/slurm_workflow.lua").path }

    @Test func planShowsStagesTheirInputsResourcesAndSweepElements() throws {
        let b = try CLISandbox()
        let out = try b.run(["run", example, "--plan", "--json"])
        #expect(out.status == 0, "\(out.stderr)")
        struct Graph: Decodable {
            struct Stage: Decodable {
                var name: String; var dependencies: [String]; var gpus: Int?; var memoryMB: Int?; var time: String?; var count: Int?;
                var throttle: Int?
            }
            var stages: [Stage]
        }
        let g = try JSONDecoder().decode(Graph.self, from: Data(out.stdout.utf8))
        #expect(g.stages.map(\.name) == ["prepare", "train", "infer", "finetune", "optimize"])
        #expect(
            g.stages[1].dependencies == ["prepare"] && g.stages[1].gpus == 1 && g.stages[1].memoryMB == 2048
                && g.stages[1].time == "00:20:00")
        #expect(Set(g.stages[2].dependencies) == ["train", "prepare"])
        #expect(g.stages[3].count == 3 && g.stages[3].throttle == 2)
        #expect(Set(g.stages[4].dependencies) == ["train", "prepare", "infer", "finetune"])
        // Nothing ran: no run was recorded.
        #expect(try b.run(["runs", "list"]).stdout.split(separator: "\n").count <= 1)
    }

    @Test func aSweepRunsLocallyAsCachedStages() throws {
        let b = try CLISandbox()
        let s = try b.write(
            "sweep.lua",
            """
            local workflow = require "workflow"
            local base = workflow.stage("base", {10}, function(n) return n * 2 end)
            local r = workflow.sweep("square", {values = {1, 2, 3}, inputs = {base}}, function(v, b) return v * v + b end)
            print(table.concat(r, ","))
            """)
        let first = try b.run(["run", s, "--quiet"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout == "21,24,29\n")
        let again = try b.run(["run", s, "--quiet", "--json"])
        #expect(again.stdout.contains("21,24,29"))
        let events = try b.run(["runs", "show", "last"])
        #expect(events.status == 0)
        // In plan mode the results are placeholders, so the top-level concat is refused, saying why.
        let plan = try b.run(["run", s, "--plan"])
        #expect(plan.status == 1 && plan.firstErrorLine.contains("plan mode:"))
    }

    @Test func usingAPlaceholderOutsideAStageIsAClearPlanError() throws {
        let b = try CLISandbox()
        let s = try b.write(
            "misuse.lua",
            """
            local workflow = require "workflow"
            local r = workflow.stage("train", {}, function() return {accuracy = 0.9} end)
            if r.accuracy > 0.5 then print("good") end
            """)
        let out = try b.run(["run", s, "--plan"])
        #expect(out.status == 1)
        #expect(out.firstErrorLine.contains("plan mode:"))
        #expect(out.firstErrorLine.contains("<result of stage 'train'.accuracy> is not available here"))
        // The same script runs normally.
        #expect(try b.run(["run", s, "--quiet"]).stdout == "good\n")
    }

    @Test func aStageCycleIsRefusedBeforeAnythingIsSubmitted() throws {
        let b = try CLISandbox()
        let s = try b.write(
            "cycle.lua",
            """
            local workflow = require "workflow"
            local a = workflow.stage("a", {}, function() return 1 end, {after = "c"})
            local bb = workflow.stage("b", {a}, function(x) return x end)
            local c = workflow.stage("c", {bb}, function(x) return x end)
            """)
        let out = try b.run(["submit", s, "--slurm"], extra: ["PATH": b.dir.path])
        #expect(out.status == 2)
        #expect(out.firstErrorLine.contains("cycle.lua:2: stage cycle: a → c → b → a"), "\(out.stderr)")
        #expect(try b.run(["runs", "list"]).stdout.split(separator: "\n").count <= 1)
    }

    @Test func badStageOptionsNameTheStageAndTheLine() throws {
        let b = try CLISandbox()
        let cases: [(String, String)] = [
            ("{gpus = -1}", "gpus must be a whole number from 0 to 1024, got -1"),
            ("{memory = \"lots\"}", "memory must be megabytes"),
            ("{time = \"soon\"}", "time must be minutes or a time such as"),
            ("{gpu = 1}", "unknown option 'gpu'"),
        ]
        for (options, message) in cases {
            let s = try b.write(
                "opts.lua", "local workflow = require \"workflow\"\n\nworkflow.stage(\"train\", {}, function() return 1 end, \(options))\n")
            let out = try b.run(["run", s, "--quiet"])
            #expect(out.status == 1, "\(options)")
            #expect(out.firstErrorLine.contains("opts.lua:3: workflow.stage 'train': \(message)"), "\(out.stderr)")
        }
        let s = try b.write("name.lua", "require('workflow').stage('has space', {}, function() return 1 end)\n")
        #expect(try b.run(["run", s, "--plan"]).firstErrorLine.contains("stage name \"has space\" must be"))
    }

    @Test func submitRefusesWhatItCanKnowIsWrongBeforeSubmitting() throws {
        let b = try CLISandbox()
        // No --slurm and no cluster.scheduler.
        let noSlurm = try b.run(["submit", example])
        #expect(noSlurm.status == 2 && noSlurm.firstErrorLine.contains("needs --slurm"))
        // sbatch missing: exit 5, nothing recorded.
        let missing = try b.run(["submit", example, "--slurm"], extra: ["PATH": b.dir.path])
        #expect(missing.status == 5)
        #expect(missing.firstErrorLine.contains("sbatch is not on PATH"), "\(missing.stderr)")
        #expect(try b.run(["runs", "list"]).stdout.split(separator: "\n").count <= 1)
        // A run directory that cannot be created.
        let unwritable = try b.run(["submit", example, "--slurm", "--run-dir", "/dev/null/runs"], extra: ["PATH": b.dir.path])
        #expect(unwritable.status == 2)
        #expect(unwritable.firstErrorLine.contains("run directory /dev/null/runs: it must be a writable directory"), "\(unwritable.stderr)")
        // A bad --time.
        #expect(try b.run(["submit", example, "--slurm", "--time", "later"]).status == 2)
        // A profile with a malformed cluster section.
        let profile = try b.write("p.yaml", "cluster:\n  scheduler: slurm\n  time: tomorrow\n")
        let bad = try b.run(["submit", example, "--profile", profile])
        #expect(bad.status == 2 && bad.firstErrorLine.contains("p.yaml:3:"), "\(bad.stderr)")
    }

    @Test func dryRunPrintsEveryBatchScriptWithoutSlurm() throws {
        let b = try CLISandbox()
        let out = try b.run(
            ["submit", example, "--slurm", "--dry-run", "--partition", "gpu", "--account", "ml", "--time", "30", "--", "--epochs", "2"],
            extra: ["PATH": b.dir.path])
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.stdout.components(separatedBy: "#!/bin/bash").count - 1 == 5)
        #expect(out.stdout.contains("# job finetune: sbatch --dependency=afterok:<train>:<prepare>"))
        #expect(out.stdout.contains("#SBATCH --array=1-3%2"))
        #expect(out.stdout.contains("#SBATCH --partition=gpu") && out.stdout.contains("#SBATCH --account=ml"))
        #expect(out.stdout.contains("#SBATCH --time=00:30:00"))  // optimize names no time: --time applies
        #expect(out.stdout.contains("-- --epochs 2"))
        #expect(!FileManager.default.fileExists(atPath: b.dir.appendingPathComponent("gpuflow-runs").path))
    }

    @Test func aStageJobNeedsItsRunAndRefusesAnEditedScript() throws {
        let b = try CLISandbox()
        let noRun = try b.run(["run", example, "--stage", "train"])
        #expect(noRun.status == 2 && noRun.firstErrorLine.contains("--stage needs --run RUN and --run-dir DIR"))
    }
}
