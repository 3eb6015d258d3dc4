import ArgumentParser
import Foundation
import GPUFlowCluster
import GPUFlowCore
import GPUFlowStore
import Logging

struct Submit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Submit a workflow's stages to Slurm, one job (or job array) per stage.",
        discussion: """
            The script runs once in plan mode to find its stages (workflow.stage, workflow.sweep) and what \
            each asks for; then each becomes an sbatch job that waits (afterok) for the jobs of its inputs. \
            Every job runs `gpuflow run SCRIPT --stage NAME --run RUN` on its node, reading its inputs and \
            writing its result in the run directory, which must be on a filesystem every node shares.
            """)

    @Argument(help: "The Lua workflow script, then -- and its arguments.")
    var script: [String] = []

    @Flag(help: "Submit to Slurm (implied by the profile's cluster.scheduler: slurm).")
    var slurm = false

    @Option(help: "Slurm partition (else the profile's cluster.partition, else Slurm's default).")
    var partition: String?

    @Option(help: "Slurm account to charge.")
    var account: String?

    @Option(help: "Time limit for stages that name none: minutes, HH:MM:SS or D-HH:MM:SS.")
    var time: String?

    @Option(help: "GPUs for stages that name none (--gres=gpu:N); default 1.")
    var gpusPerStage: Int?

    @Option(help: "Where runs live (RUN_DIR/RUN_ID), on a shared filesystem; default: the profile's cluster.run_dir, else ./gpuflow-runs.")
    var runDir: String?

    @OptionGroup var profileOption: ProfileOption
    var profile: String? { profileOption.profile }

    @OptionGroup var seedBackend: SeedBackendOptions
    var seed: UInt64 { seedBackend.seed }
    var backend: BackendKind? { seedBackend.backend }

    @OptionGroup var storeOption: StoreOption
    var store: String? { storeOption.store }

    @Flag(help: "Print the stage graph and every batch script; submit nothing, write nothing.")
    var dryRun = false

    private var split: (script: String?, arguments: [String]) {
        splitAtDoubleDash(script).map { ($0.before.first, $0.after) } ?? (script.first, Array(script.dropFirst()))
    }

    func run() throws {
        LoggingSystem.bootstrapQuietly()
        var resolved = Profile()
        if let profile {
            do { resolved = try ProfileLoader.load(path: profile) } catch { fail("\(error)", code: ExitStatus.badInput) }
        }
        guard slurm || resolved.cluster.scheduler == .slurm else {
            fail(
                "gpuflow submit needs --slurm (or cluster: {scheduler: slurm} in the profile): Slurm is the only scheduler it submits to",
                code: ExitStatus.badInput)
        }
        resolved.cluster.scheduler = .slurm
        if let partition { resolved.cluster.partition = partition }
        if let account { resolved.cluster.account = account }
        if let time {
            guard SlurmTime.minutes(time) != nil else {
                fail("--time \(time): expected minutes, HH:MM:SS or D-HH:MM:SS", code: ExitStatus.badInput)
            }
            resolved.cluster.time = time
        }
        if let gpusPerStage {
            guard gpusPerStage >= 0 else { fail("--gpus-per-stage must be 0 or more", code: ExitStatus.badInput) }
            resolved.cluster.gpusPerStage = gpusPerStage
        }
        if let backend { resolved.device.backend = backend }
        let (scriptArg, arguments) = split
        guard let scriptArg else { fail("no script given (gpuflow submit SCRIPT --slurm [-- ARGS])", code: ExitStatus.badInput) }
        let scriptPath = URL(fileURLWithPath: scriptArg).standardizedFileURL.path
        let base = URL(fileURLWithPath: runDir ?? resolved.cluster.runDir ?? "gpuflow-runs").standardizedFileURL.path

        // Everything that can be known before submitting is checked before submitting.
        let graph = StagePlanning.graph(script: scriptPath, arguments: arguments, profile: resolved, seed: seed)
        do { try RunDirectory.checkWritable(base: base) } catch { fail("\(error)", code: ExitStatus.badInput) }
        let template: SbatchTemplate
        do { template = try SbatchTemplate(file: resolved.cluster.template) } catch { fail("\(error)", code: ExitStatus.badInput) }
        let text = FileManager.default.contents(atPath: scriptPath).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let run = RunStore.newRunID()
        let gpuflow =
            resolved.cluster.gpuflow ?? URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.resolvingSymlinksInPath().path
        let plan = ClusterPlan(
            run: run, script: scriptPath, scriptHash: ContentHash.of(text), arguments: arguments, seed: seed,
            backend: backend?.rawValue, workdir: FileManager.default.currentDirectoryPath, gpuflow: gpuflow, graph: graph)
        let directory = RunDirectory(path: base + "/" + run)
        let commands = SlurmCommands()
        let submitter = SlurmSubmitter(commands: commands, settings: resolved.cluster, template: template, plan: plan, directory: directory)
        let all = Set(graph.stages.flatMap(\.elementNames))
        let jobs = SlurmJobPlanner.jobs(graph, settings: resolved.cluster, toSubmit: all)

        if dryRun {
            print(StagePlanning.describe(graph), terminator: "")
            var refs: [String: String] = [:]
            for job in jobs {
                let dep = submitter.dependency(for: job, refs: refs)
                print("\n# job \(job.name)" + (dep.map { ": sbatch --dependency=\($0)" } ?? ": no dependency"))
                print(submitter.script(for: job), terminator: "")
                for e in job.elements { refs[e.element] = "<\(job.name)" + (e.index.map { "_\($0)" } ?? "") + ">" }
            }
            return
        }
        for tool in ["sbatch", "sinfo"] where commands.locate(tool) == nil {
            fail("\(SlurmError.missing(tool: tool)); nothing was submitted", code: ExitStatus.scheduler)
        }
        do { try submitter.checkResources() } catch let e as ClusterError {
            if case .slurm = e { fail("\(e); nothing was submitted", code: ExitStatus.scheduler) }
            fail("\(e)", code: ExitStatus.badInput)
        } catch {
            fail("\(error); nothing was submitted", code: ExitStatus.scheduler)
        }
        guard let st = RunExecutor.openStore(flag: store, profile: resolved) else {
            fail("gpuflow submit records the run in a run store; --store none is not allowed", code: ExitStatus.badInput)
        }
        do {
            let dir = try RunDirectory.create(base: base, run: run)
            try dir.write(ProfileRenderer.yaml(resolved), to: dir.profilePath)
            try dir.writePlan(plan)
            var manifest = Manifest(
                scripts: [Manifest.Script(path: scriptPath, agent: nil, text: text)], profile: ProfileRenderer.yaml(resolved),
                profilePath: profile, seed: seed, arguments: arguments, backend: "slurm",
                backendReason: "each stage job chooses its backend on its node" + (backend.map { " (--backend \($0.rawValue))" } ?? ""),
                device: "Slurm partition \(resolved.cluster.partition ?? "default")",
                driver: "n/a", gpuflowVersion: GPUFlowVersion.string, build: RunExecutor.build)
            manifest.pid = 0
            _ = try st.beginRun(manifest, id: run)
            try st.recordParams(
                run,
                [
                    "seed": String(seed), "run_dir": dir.path, "scheduler": "slurm", "arguments": arguments.joined(separator: " "),
                    "scripts": scriptPath, "partition": resolved.cluster.partition ?? "default",
                ])
        } catch {
            fail("\(error)", code: ExitStatus.badInput)
        }
        let submitted = ClusterRuns(store: st).submit(
            run: run, plan: plan, directory: directory, settings: resolved.cluster, toSubmit: all, refs: [:])
        print("run \(run): \(graph.stages.count) stages, \(submitted.count) Slurm jobs/elements submitted; run directory \(directory.path)")
        for j in submitted { print("  \(j.stage)\t\(j.slurmID)") }
        print("follow it with: gpuflow status \(run)")
    }
}
