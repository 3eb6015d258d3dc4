import ArgumentParser
import Foundation
import GPUFlowCompute
import GPUFlowCore
import GPUFlowLua
import GPUFlowML
import Logging

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run Lua workflow scripts.",
        discussion: """
            Arguments after -- reach every script as its `arg` table and as `...`, as with the lua command. \
            Several scripts run at once in one process, each in its own Lua state, contending for the \
            device as agents: each is the agent given by the matching --agent (in order), or else, when \
            there are several, the agent named after its file.
            """)

    @Argument(help: "The Lua scripts to run (several run concurrently as agents), then -- and their arguments.")
    var scripts: [String] = []

    @OptionGroup var profileOption: ProfileOption
    var profile: String? { profileOption.profile }

    @OptionGroup var seedBackend: SeedBackendOptions
    var seed: UInt64 { seedBackend.seed }
    var backend: BackendKind? { seedBackend.backend }

    @Option(help: "Run the script as this agent (tasks are submitted under its name and limits); repeat once per script.")
    var agent: [String] = []

    @Option(help: "Write every measured figure to this file when the run ends: JSON, or the Prometheus text format if it ends in .prom.")
    var metricsOut: String?

    @Flag(help: "Log scheduling decisions to stderr.")
    var verbose = false

    /// Everything after `--` (ArgumentParser hands it over as further positionals).
    private var split: (scripts: [String], arguments: [String]) {
        splitAtDoubleDash(scripts).map { ($0.before, $0.after) } ?? (scripts, [])
    }

    @OptionGroup var storeOption: StoreOption
    var store: String? { storeOption.store }

    @Option(
        help: ArgumentHelp(
            "Rerun a failed or interrupted run (an id, a unique prefix, or last) from its last good stage, with its recorded scripts' settings.",
            discussion:
                "With it, --profile replaces the recorded profile, --sandbox and --agent hold as for a new run, and scripts given replace the recorded ones' paths, one for one."
        ))
    var resume: String?

    @Option(
        help:
            "Record the run under this id (letters, digits, '.', '_', '-'; at most 64) instead of a new one: how the job server names its jobs' runs."
    )
    var runID: String?

    @Option(help: "A name for the run, shown by gpuflow runs list and kept in the store (as MLflow's run name).")
    var name: String?

    @Option(help: "The experiment the run belongs to (gpuflow runs list --experiment E lists only its runs).")
    var experiment: String?

    @Flag(
        help:
            "Run the scripts as untrusted: no io, os (but clock/time/date), debug or bytecode, read-only gpu modules, and the profile's sandbox limits (with defaults)."
    )
    var sandbox = false

    @Flag(help: "Print the script's stage graph (workflow.stage and workflow.sweep: inputs, resources, lines) without running any stage.")
    var plan = false

    @Option(help: "Run one stage of a submitted cluster run (what each Slurm job does); needs --run and --run-dir.")
    var stage: String?

    @Option(help: "With --stage: the sweep element to run (1-based; SLURM_ARRAY_TASK_ID).")
    var index: Int?

    @Option(name: .customLong("run"), help: "With --stage: the cluster run's id.")
    var clusterRun: String?

    @Option(help: "With --stage: the cluster run's directory (RUN_DIR/RUN_ID, shared by every node).")
    var runDir: String?

    @Flag(help: "With --resume: resubmit a cluster run's unfinished stages to Slurm.")
    var slurm = false

    @Flag(help: "No progress display.")
    var quiet = false

    @Flag(help: "Progress and script output as newline-delimited JSON events on stdout.")
    var json = false

    func run() throws {
        // A job server's worker dies with its server (no orphan keeps computing for nobody).
        ServerLifeline.watch()
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = verbose ? .debug : .warning
            return h
        }
        if slurm {
            guard let resume else {
                fail("--slurm goes with --resume RUN; gpuflow submit SCRIPT --slurm starts a cluster run", code: ExitStatus.badInput)
            }
            guard let st = RunExecutor.openStore(flag: store, profile: Profile()) else {
                fail("--resume needs a run store", code: ExitStatus.badInput)
            }
            let id: String
            do { id = try st.resolve(resume) } catch { fail("\(error)", code: ExitStatus.badInput) }
            let jobs = ClusterRuns(store: st).resume(id)
            print("run \(id): resubmitted \(jobs.count) Slurm jobs/elements")
            for j in jobs { print("  \(j.stage)\t\(j.slurmID)") }
            return
        }
        if self.plan {
            let (scripts, arguments) = split
            guard scripts.count == 1 else { fail("--plan takes one script", code: ExitStatus.badInput) }
            var resolved = Profile()
            if let profile {
                do { resolved = try ProfileLoader.load(path: profile) } catch { fail("\(error)", code: ExitStatus.badInput) }
            }
            let graph = StagePlanning.graph(script: scripts[0], arguments: arguments, profile: resolved, seed: seed)
            if json {
                let e = JSONEncoder()
                e.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: (try? e.encode(graph)) ?? Data(), as: UTF8.self))
            } else {
                print(StagePlanning.describe(graph), terminator: "")
            }
            return
        }
        if let stage {
            throw ExitCode(
                ClusterStageJob(
                    stage: stage, index: index, run: clusterRun, runDir: runDir, scripts: split.scripts,
                    arguments: split.arguments, profile: profile, seed: seed, backend: backend, store: store,
                    progress: ProgressDisplay.mode(quiet: quiet, json: json)
                ).execute())
        }
        let plan: RunPlan
        var resumedFrom: String?
        if let resume {
            (plan, resumedFrom) = resumePlan(resume)
        } else {
            var resolved = Profile()
            if let profile {
                do { resolved = try ProfileLoader.load(path: profile) } catch { fail("\(error)", code: ExitStatus.badInput) }
            }
            if let backend { resolved.device.backend = backend }
            if sandbox { resolved.sandbox.enabled = true }
            let (scripts, scriptArguments) = split
            guard !scripts.isEmpty else { fail("no script given (gpuflow run SCRIPT... [-- ARGS])", code: ExitStatus.badInput) }
            let agents: [String?]
            if agent.isEmpty {
                agents = scripts.count == 1 ? [nil] : scripts.map { URL(fileURLWithPath: $0).deletingPathExtension().lastPathComponent }
            } else if agent.count == scripts.count {
                agents = agent
            } else {
                fail(
                    "\(agent.count) --agent names for \(scripts.count) scripts: give one per script, in order, or none",
                    code: ExitStatus.badInput)
            }
            for case let a? in agents where !resolved.agents.isEmpty && resolved.agents[a] == nil {
                fail(
                    "agent '\(a)' is not defined in profile \(resolved.source) (agents: \(resolved.agents.keys.sorted().joined(separator: ", ")))",
                    code: ExitStatus.badInput)
            }
            plan = RunPlan(scripts: scripts, agents: agents, arguments: scriptArguments, profile: resolved, seed: seed)
        }
        // A script that is not there is an error before anything is recorded: no failed run
        // of a typo in the store.
        for (i, path) in plan.scripts.enumerated() where plan.texts?[i] == nil {
            var isDirectory: ObjCBool = false
            if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
                fail("cannot open script \(path): no such file", code: ExitStatus.badInput)
            }
            if isDirectory.boolValue || !FileManager.default.isReadableFile(atPath: path) {
                fail("cannot open script \(path): \(isDirectory.boolValue ? "a directory" : "not readable")", code: ExitStatus.badInput)
            }
        }
        let executor = RunExecutor(
            progress: ProgressDisplay.mode(quiet: quiet, json: json), metricsOut: metricsOut, storePath: store,
            resumedFrom: resumedFrom, runID: runID, name: name, experiment: experiment)
        let outcome = executor.execute(plan)
        if outcome.workStillRunning {
            FileHandle.standardError.write(
                Data("warning: a cancelled task was still running when the run ended; exiting without teardown\n".utf8))
            fflush(nil)
            _exit(outcome.exitCode)
        }
        // The run id always goes to stderr (a script or CI log needs it as much as a terminal
        // does), except under --json, whose events carry it.
        if let id = outcome.runID, !json {
            let line =
                outcome.exitCode == 0
                ? "gpuflow: run \(id) recorded (gpuflow runs show \(id))"
                : "gpuflow: run \(id) recorded, exit \(outcome.exitCode) (gpuflow runs show \(id); gpuflow run --resume \(id) goes on from its last good stage)"
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
        if outcome.exitCode != 0 { throw ExitCode(outcome.exitCode) }
    }

    func validate() throws {
        if let runID {
            let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
            guard (1...64).contains(runID.count), runID.allSatisfy(allowed.contains), runID.first != "." && runID.first != "-" else {
                throw ValidationError("--run-id \(runID): use 1 to 64 letters, digits, '.', '_' or '-', not starting with '.' or '-'")
            }
        }
    }

    /// The plan of a recorded run, to go on with: its scripts, agents, arguments, profile and
    /// seed. `--profile` replaces the recorded profile (a job server resumes under its own
    /// limits), `--sandbox` and `--agent` hold as they do for a new run (a server's resumed job
    /// is sandboxed as the agent the server names, whatever the recording says), and scripts on
    /// the command line replace the recorded paths one for one (the resumed job's own copy).
    private func resumePlan(_ id: String) -> (RunPlan, String) {
        guard let st = RunExecutor.openStore(flag: store, profile: Profile()) else {
            fail("--resume needs a run store (not --store none)", code: ExitStatus.badInput)
        }
        do {
            let run = try st.resolve(id)
            let s = try st.summary(run)
            guard s.status != "succeeded" else {
                fail("run \(run) succeeded; there is nothing to resume (gpuflow replay \(run) runs it again)", code: ExitStatus.badInput)
            }
            guard s.status != "running" else {
                fail("run \(run) is still running (pid alive); resume it once it has ended", code: ExitStatus.badInput)
            }
            guard try st.clusterJobs(run).isEmpty else {
                fail(
                    "run \(run) ran on Slurm: gpuflow run --resume \(run) --slurm resubmits what did not finish", code: ExitStatus.badInput)
            }
            let m = try st.manifest(run)
            var profile: Profile
            if let path = self.profile {
                profile = try ProfileLoader.load(path: path)
            } else {
                profile = try ProfileLoader.parse(m.profile, file: "manifest of \(run)")
                profile.source = m.profilePath ?? "built-in defaults"
            }
            if let backend { profile.device.backend = backend }
            if sandbox { profile.sandbox.enabled = true }
            var scripts = m.scripts.map(\.path), agents = m.scripts.map(\.agent)
            let given = split.scripts
            if !given.isEmpty {
                guard given.count == scripts.count else {
                    fail(
                        "run \(run) ran \(scripts.count) scripts; --resume takes none (the recorded paths) or as many, in order",
                        code: ExitStatus.badInput)
                }
                scripts = given
            }
            if !agent.isEmpty {
                guard agent.count == agents.count else {
                    fail(
                        "run \(run) ran \(agents.count) scripts: give one --agent per script, in order, or none", code: ExitStatus.badInput)
                }
                agents = agent
            }
            for case let a? in agents where !profile.agents.isEmpty && profile.agents[a] == nil {
                fail(
                    "agent '\(a)' is not defined in profile \(profile.source) (agents: \(profile.agents.keys.sorted().joined(separator: ", ")))",
                    code: ExitStatus.badInput)
            }
            return (RunPlan(scripts: scripts, agents: agents, arguments: m.arguments, profile: profile, seed: m.seed), run)
        } catch {
            fail("\(error)", code: ExitStatus.badInput)
        }
    }
}

extension BackendKind: ExpressibleByArgument {}
