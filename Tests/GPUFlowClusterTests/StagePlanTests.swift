import Foundation
import GPUFlowCluster
import GPUFlowCore
import GPUFlowStore
import GPUFlowTesting
import Testing

/// The stage graph's checks, the jobs it becomes and the batch scripts they get, without Slurm.
@Suite struct StagePlanTests {
    private func graph(_ stages: [StageSpec]) throws -> StageGraph { try StageGraph(stages: stages) }

    @Test func aCycleIsRefusedWithItsPath() throws {
        let e = #expect(throws: StageGraphError.self) {
            try graph([
                StageSpec(name: "a", location: "w.lua:3", after: ["c"]), StageSpec(name: "b", location: "w.lua:4", dependencies: ["a"]),
                StageSpec(name: "c", location: "w.lua:5", dependencies: ["b"]),
            ])
        }
        #expect(e?.message.contains("stage cycle: a → c → b → a (each waits for the next)") == true)
        #expect(e?.message.hasPrefix("w.lua:") == true)
    }

    @Test func unknownPrerequisitesDuplicatesAndBadNamesAreRefused() throws {
        #expect(throws: StageGraphError.self) { try graph([StageSpec(name: "a", location: "w.lua:1", after: ["nope"])]) }
        let dup = #expect(throws: StageGraphError.self) {
            try graph([StageSpec(name: "a", location: "w.lua:1"), StageSpec(name: "a", location: "w.lua:9")])
        }
        #expect(dup?.message == "w.lua:9: stage 'a' is declared twice (first at w.lua:1)")
        #expect(throws: StageGraphError.self) { try graph([StageSpec(name: "a b", location: "w.lua:1")]) }
        #expect(throws: StageGraphError.self) { try graph([StageSpec(name: "x/../y", location: "w.lua:1")]) }
    }

    @Test func slurmTimesParseAndRender() {
        #expect(SlurmTime.minutes("90") == 90)
        #expect(SlurmTime.minutes("01:30:00") == 90)
        #expect(SlurmTime.minutes("00:00:30") == 1)
        #expect(SlurmTime.minutes("1-00:00:00") == 1440)
        #expect(SlurmTime.minutes("2-3") == 2 * 1440 + 180)
        #expect(SlurmTime.minutes("soon") == nil)
        #expect(SlurmTime.minutes("1:2:3:4") == nil)
        #expect(SlurmTime.render(minutes: 90) == "01:30:00")
        #expect(SlurmTime.render(minutes: 1441) == "1-00:01:00")
    }

    /// prepare → (train_a, train_b: same inputs and resources) → sweep tune[1..4] → report.
    private func workflow() throws -> StageGraph {
        try graph([
            StageSpec(name: "prepare", location: "w.lua:1", gpus: 0),
            StageSpec(name: "train_a", location: "w.lua:2", dependencies: ["prepare"], gpus: 1),
            StageSpec(name: "train_b", location: "w.lua:3", dependencies: ["prepare"], gpus: 1),
            StageSpec(name: "tune", location: "w.lua:4", dependencies: ["train_a"], gpus: 1, count: 4, throttle: 2),
            StageSpec(name: "report", location: "w.lua:5", dependencies: ["tune", "train_b"], gpus: 0),
        ])
    }

    @Test func independentStagesAndSweepsBecomeJobArrays() throws {
        let g = try workflow()
        let all = Set(g.stages.flatMap(\.elementNames))
        let jobs = SlurmJobPlanner.jobs(g, settings: Profile.Cluster(), toSubmit: all)
        #expect(jobs.map(\.name) == ["prepare", "train_a+train_b", "tune", "report"])
        #expect(jobs[1].arraySpec == "1-2")
        #expect(jobs[1].elements.map(\.element) == ["train_a", "train_b"])
        #expect(jobs[2].arraySpec == "1-4%2")
        #expect(jobs[2].elements.map(\.element) == ["tune[1]", "tune[2]", "tune[3]", "tune[4]"])
        #expect(jobs[0].arraySpec == nil)
        // A resume submits only what is left: two sweep elements, then the report.
        let left = SlurmJobPlanner.jobs(g, settings: Profile.Cluster(), toSubmit: ["tune[2]", "tune[4]", "report"])
        #expect(left.map(\.name) == ["tune", "report"])
        #expect(left[0].arraySpec == "2,4")
    }

    @Test func batchScriptsCarryResourcesDependenciesAndTheStageCommand() throws {
        let g = try workflow()
        let dir = RunDirectory(path: try TestPaths.temporaryDirectory().path + "/r1")
        let plan = ClusterPlan(
            run: "r1", script: "/shared/w.lua", scriptHash: "x", arguments: ["--epochs", "3"], seed: 7, backend: nil,
            workdir: "/shared/work dir", gpuflow: "/opt/gpuflow", graph: g)
        var settings = Profile.Cluster()
        settings.partition = "gpu"
        settings.account = "ml"
        settings.time = "01:00:00"
        settings.sbatchOptions = ["--qos=high"]
        let sub = SlurmSubmitter(
            commands: SlurmCommands(), settings: settings, template: try SbatchTemplate(file: nil), plan: plan, directory: dir)
        let jobs = SlurmJobPlanner.jobs(g, settings: settings, toSubmit: Set(g.stages.flatMap(\.elementNames)))
        let tune = sub.script(for: jobs[2])
        #expect(tune.contains("#SBATCH --partition=gpu\n"))
        #expect(tune.contains("#SBATCH --account=ml\n"))
        #expect(tune.contains("#SBATCH --time=01:00:00\n"))
        #expect(tune.contains("#SBATCH --gres=gpu:1\n"))
        #expect(tune.contains("#SBATCH --array=1-4%2\n"))
        #expect(tune.contains("#SBATCH --qos=high\n"))
        #expect(tune.contains("#SBATCH --kill-on-invalid-dep=yes\n"))
        #expect(tune.contains("cd '/shared/work dir'\n"))
        #expect(tune.contains("exec /opt/gpuflow run /shared/w.lua --stage tune --index \"$SLURM_ARRAY_TASK_ID\" --run r1"))
        #expect(tune.contains("-- --epochs 3"))
        let group = sub.script(for: jobs[1])
        #expect(group.contains("STAGES=(train_a train_b)"))
        #expect(group.contains("--stage \"$STAGE\""))
        #expect(!sub.script(for: jobs[0]).contains("--gres"))  // prepare asks for no GPU
        // Dependencies: tune waits for train_a's element of the group; report for every tune
        // element and train_b.
        let refs = [
            "prepare": "10", "train_a": "11_1", "train_b": "11_2", "tune[1]": "12_1", "tune[2]": "12_2", "tune[3]": "12_3",
            "tune[4]": "12_4",
        ]
        #expect(sub.dependency(for: jobs[2], refs: refs) == "afterok:11_1")
        #expect(sub.dependency(for: jobs[3], refs: refs) == "afterok:12_1:12_2:12_3:12_4:11_2")
        #expect(sub.dependency(for: jobs[0], refs: refs) == nil)
        // A prerequisite that already finished (absent from refs) is not waited for.
        #expect(sub.dependency(for: jobs[2], refs: [:]) == nil)
    }

    @Test func slurmOutputsParse() {
        let q = SlurmJobStates.parseSqueue("12_1|RUNNING|0:05|node1|None|gres/gpu:1\n12_2|PENDING|0:00||Dependency|N/A\n")
        #expect(q.map(\.id) == ["12_1", "12_2"])
        #expect(q[0].node == "node1" && q[1].reason == "Dependency")
        let a = SlurmJobStates.parseSacct(
            """
            10|COMPLETED|00:00:03|node1|0:0|billing=1,cpu=1,gres/gpu=1,mem=512M,node=1|None
            11_1|FAILED|00:00:01|node1|1:0|billing=1,cpu=1,mem=512M,node=1|NonZeroExitCode
            12|CANCELLED by 0|00:00:00|None assigned|0:0||DependencyNeverSatisfied
            13_[1-4]|PENDING|00:00:00|None assigned|0:0||Dependency
            """)
        #expect(a.map(\.id) == ["10", "11_1", "12"])
        #expect(a[0].tres?.contains("gres/gpu=1") == true)
        #expect(a[1].exitCode == "1:0")
        #expect(a[2].state == "CANCELLED" && a[2].reason == "DependencyNeverSatisfied" && a[2].node == nil)
        let c = SlurmJobStates.parseScontrol(
            """
            JobId=5 ArrayJobId=2 ArrayTaskId=1 JobName=a JobState=COMPLETED Reason=None ExitCode=0:0 RunTime=00:00:02 NodeList=localhost TRES=cpu=1,mem=512M,node=1 TresPerNode=gres:gpu:1
            JobId=2 ArrayJobId=2 ArrayTaskId=3-4 JobState=PENDING Reason=Dependency
            JobId=7 JobName=b JobState=CANCELLED Reason=DependencyNeverSatisfied ExitCode=0:0 RunTime=00:00:00 NodeList=(null)
            """)
        #expect(c.map(\.id) == ["2_1", "2_3", "2_4", "7"])
        #expect(c[1].state == "PENDING" && c[1].reason == "Dependency")
        #expect(c[0].tres == "cpu=1,mem=512M,node=1,gres/gpu=1")
        #expect(c[3].node == nil && c[3].reason == "DependencyNeverSatisfied")
    }

    @Test func stageStatesMergeTheRunDirectoryAndSlurm() throws {
        let g = try graph([
            StageSpec(name: "train", location: "w.lua:1"), StageSpec(name: "infer", location: "w.lua:2", dependencies: ["train"]),
        ])
        let dir = try RunDirectory.create(base: try TestPaths.temporaryDirectory().path, run: "r2")
        let plan = ClusterPlan(
            run: "r2", script: "w.lua", scriptHash: "x", arguments: [], seed: 0, backend: nil, workdir: "/", gpuflow: "gpuflow", graph: g)
        var failed = RunDirectory.StageStatus(state: "failed", host: "node1", job: "20", startedAt: 0)
        failed.error = "w.lua:7: boom"
        try dir.putStatus("train", failed)
        let jobs = [
            RunStore.ClusterJob(stage: "train", jobID: "20", arrayIndex: nil, submittedAt: 0, state: "submitted"),
            RunStore.ClusterJob(stage: "infer", jobID: "21", arrayIndex: nil, submittedAt: 0, state: "submitted"),
        ]
        var reading = SlurmJobStates.Reading()
        reading.states["20"] = SlurmJobState(id: "20", state: "FAILED")
        var cancelled = SlurmJobState(id: "21", state: "CANCELLED")
        cancelled.reason = "DependencyNeverSatisfied"
        reading.states["21"] = cancelled
        let v = ClusterStatus.views(plan: plan, directory: dir, jobs: jobs, reading: reading)
        #expect(v.map(\.state) == ["failed", "cancelled"])
        #expect(v[0].detail == "w.lua:7: boom")
        #expect(v[1].detail?.contains("depends on failed") == true)
        #expect(ClusterStatus.runState(v) == ("failed", true))
        // Once train has written its result and succeeded, it counts as done whatever Slurm says.
        try dir.putResult("train", json: "1")
        try dir.putStatus("train", RunDirectory.StageStatus(state: "succeeded", host: "node1", job: "20", startedAt: 0))
        reading.states["21"] = SlurmJobState(id: "21", state: "RUNNING")
        let w = ClusterStatus.views(plan: plan, directory: dir, jobs: jobs, reading: reading)
        #expect(w.map(\.state) == ["succeeded", "running"])
        #expect(ClusterStatus.runState(w) == ("running", false))
        #expect(ClusterStatus.live(w) == ["infer": "21"])
    }
}
