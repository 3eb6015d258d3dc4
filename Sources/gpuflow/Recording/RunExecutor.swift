import Foundation
import GPUFlowCompute
import GPUFlowCore
import GPUFlowLua
import GPUFlowML
import GPUFlowServer
import GPUFlowStore

/// What to run: scripts and their agents, arguments, profile, seed. Built from the command line,
/// or from a stored manifest (`--resume`, `replay`).
struct RunPlan {
    var scripts: [String]
    var agents: [String?]
    var arguments: [String]
    var profile: Profile
    var seed: UInt64
    /// Recorded texts to run in place of the files' (`replay --recorded`); nil: the files.
    var texts: [String?]? = nil
    /// The learning history a replay runs against (the one its run read); nil: the profile's.
    var history: ExecutionHistoryStore.Snapshot? = nil
}

/// Runs a plan: opens the device, the run store and the monitor, runs the scripts, records the
/// run, writes metrics. Shared by `run`, `run --resume` and `replay`.
struct RunExecutor {
    var progress: ProgressDisplay.Mode
    var metricsOut: String?
    var storePath: String?
    var resumedFrom: String?
    /// The id to record the run under (`--run-id`: the job server names its jobs' runs); a new
    /// one when nil.
    var runID: String? = nil
    /// The run's name and experiment (`--name`, `--experiment`).
    var name: String? = nil
    var experiment: String? = nil
    /// false for a replay: every stage is computed again, none read from the cache.
    var stageLookups = true
    /// Every stage, or one stage of a cluster run (`--stage`).
    var stageMode: StageMode = .normal

    struct Outcome {
        let exitCode: Int32
        let runID: String?
        let store: RunStore?
        /// The first script's error, if one failed.
        var message: String? = nil
        /// A cancelled workload was still inside its code when the run ended: the process must
        /// end without tearing libraries down under it (`_exit`).
        var workStillRunning = false
    }

    /// The store a run records into: `--store`, else the profile's `store.path`; "none": none.
    static func openStore(flag: String?, profile: Profile) -> RunStore? {
        let choice = flag ?? profile.store
        if choice == "none" { return nil }
        let path = choice == "default" ? RunStore.defaultPath() : choice
        do { return try RunStore(path: path) } catch { fail("\(error)", code: ExitStatus.badInput) }
    }

    func execute(_ plan: RunPlan) -> Outcome {
        let resolved = plan.profile
        let choice: BackendSelector.Choice
        do {
            choice = try BackendSelector.make(resolved.device.backend, device: DeviceSelection(profile: resolved))
        } catch {
            fail("no usable device: \(error)", code: ExitStatus.noDevice)
        }
        let stdlib: String
        do { stdlib = try StdlibLocator.find() } catch { fail("\(error)", code: ExitStatus.badInput) }
        if let m = metricsOut {  // refuse an unwritable path before any work is done
            guard FileManager.default.createFile(atPath: m, contents: Data()) else {
                fail("--metrics-out \(m): cannot create the file", code: ExitStatus.badInput)
            }
        }
        let store = Self.openStore(flag: storePath, profile: resolved)
        // Tasks run on the backend resolved here ("auto" becomes one backend, for the whole run).
        let concrete = BackendKind(rawValue: choice.backend.name) ?? .cpu
        var env = RunEnvironment(
            orchestrator: GPUTaskOrchestrator(profile: resolved, history: plan.history), profile: resolved, backend: concrete,
            backendName: choice.backend.name, backendReason: choice.reason, seed: plan.seed, stdlibPath: stdlib)
        let display = ProgressDisplay(mode: progress)
        // What the scripts print goes to the terminal (or the JSON events) and into the record.
        let printed = ScriptOutput()
        let json = progress == .json
        env = RunEnvironment(
            orchestrator: env.orchestrator, profile: resolved, backend: concrete, backendName: choice.backend.name,
            backendReason: choice.reason, seed: plan.seed, stdlibPath: stdlib,
            output: { text in
                printed.append(text)
                if json { display.emit("output", [("text", .string(text))]) } else { RunEnvironment.standardOutput(text) }
            })
        if env.orchestrator.learning.skippedHistoryLines > 0, let h = env.orchestrator.learning.store {
            FileHandle.standardError.write(
                Data(
                    "warning: learning history \(h.path): skipped \(env.orchestrator.learning.skippedHistoryLines) unreadable lines\n".utf8)
            )
        }
        var manifest = Manifest(
            scripts: plan.scripts.indices.map { i in
                let path = plan.scripts[i]
                return Manifest.Script(
                    path: Manifest.absolutePath(path), agent: plan.agents[i],
                    text: plan.texts?[i] ?? FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } ?? "")
            },
            profile: ProfileRenderer.yaml(resolved), profilePath: resolved.source == "built-in defaults" ? nil : resolved.source,
            seed: plan.seed, arguments: plan.arguments, backend: choice.backend.name, backendReason: choice.reason,
            device: choice.backend.deviceDescription, driver: Self.driver(choice.backend), gpuflowVersion: GPUFlowVersion.string,
            build: Self.build)
        if let first = plan.scripts.first {
            env.modules.scriptDirectory = (Manifest.absolutePath(first) as NSString).deletingLastPathComponent
        }
        var runID: String?
        var observers: [RunObserver] = [display]
        var recorder: RunRecorder?
        if let store {
            do {
                try store.markInterrupted()
                runID = try store.beginRun(
                    manifest, id: self.runID ?? RunStore.newRunID(), resumedFrom: resumedFrom,
                    params: [
                        "seed": String(plan.seed), "backend": choice.backend.name, "profile": resolved.name,
                        "arguments": plan.arguments.joined(separator: " "), "scripts": plan.scripts.joined(separator: " "),
                    ], name: name, experiment: experiment ?? resolved.experiment)
            } catch {
                fail("\(error)", code: ExitStatus.badInput)
            }
            if let runID {
                let r = RunRecorder(store: store, run: runID)
                recorder = r
                observers.append(r)
            }
        }
        env.store = store
        env.runID = runID
        if let store, let runID {
            // The watchdog ends a stuck sandboxed run with _exit: record its end first, so the
            // store shows it failed with exit 3 rather than running.
            let started = manifest, held = recorder
            env.watchdogExpired = { message in
                held?.flush()
                var ended = started
                ended.endedAt = Date().timeIntervalSince1970
                ended.exitStatus = 3
                try? store.finishRun(runID, status: "failed", exitCode: 3, manifest: ended, failure: RunFailure(message: message))
                RunEnvironment.exitForLimit(message)
            }
        }
        var interrupts: InterruptHandler?
        if let store, let runID {
            let started = manifest, held = recorder, environment = env
            interrupts = InterruptHandler { sig in
                held?.flush()
                var ended = started
                let name = sig == SIGINT ? "Ctrl-C (SIGINT)" : "SIGTERM"
                Self.recordEnd(
                    environment, store: store, run: runID, manifest: &ended, exitCode: 128 + sig, status: "interrupted",
                    failure: RunFailure(message: "interrupted by \(name)"), output: printed, waitSeconds: 5)
                FileHandle.standardError.write(
                    Data(
                        "\ngpuflow: run \(runID) interrupted by \(name) and recorded; resume it with: gpuflow run --resume \(runID)\n".utf8)
                )
            }
        }
        env.admission = ServerAdmission.fromEnvironment()
        env.slices = ServerSlices.fromEnvironment()
        env.stageLookups = stageLookups
        env.stageMode = stageMode
        env.observer = ObserverChain(observers)
        display.emit(
            "run_started",
            [
                ("run", runID.map { .string($0) } ?? .null), ("backend", .string(choice.backend.name)),
                ("seed", .integer(Int(truncatingIfNeeded: plan.seed))),
            ])
        let requests = plan.scripts.indices.map {
            ScriptRequest(path: plan.scripts[$0], arguments: plan.arguments, agent: plan.agents[$0], text: plan.texts?[$0])
        }
        let results = LuaHost(environment: env).run(requests)
        // Cancelled tasks' work stops at its next check: let it, before the process exits.
        let workStopped = env.orchestrator.workInFlight.waitUntilIdle(seconds: 10)
        env.monitor.stop()
        recorder?.flush()
        let exitCode = results.first(where: { $0.exitCode != 0 })?.exitCode ?? 0
        if let m = metricsOut {
            let text =
                m.hasSuffix(".prom")
                ? PrometheusExport.text(env.monitor, breakers: env.orchestrator.breakers)
                : TaskValueJSON.encode(RunMetrics.collectNow(env)) + "\n"
            do { try text.write(toFile: m, atomically: true, encoding: .utf8) } catch {
                FileHandle.standardError.write(Data("warning: --metrics-out \(m): \(error)\n".utf8))
            }
        }
        if let e = env.orchestrator.learning.persistenceError {
            FileHandle.standardError.write(Data("warning: \(e) (this run's history was not saved)\n".utf8))
        }
        if let interrupts, !interrupts.claimEnd() {
            // Ctrl-C came first: its handler records the run and exits; nothing more here.
            while true { pause() }
        }
        // The handlers stay: a Ctrl-C from now on is ignored while the end is recorded.
        if let store, let runID {
            let failed = results.first(where: { $0.exitCode != 0 })
            var status = "succeeded"
            if let failed { if case .exited = failed.status { status = "exited" } else { status = "failed" } }
            let failure = failed.map { r in
                RunFailure(
                    message: r.message ?? "exit \(r.exitCode)",
                    location: r.message.flatMap { LuaFailure.scriptLine(message: $0, traceback: r.traceback, script: r.script) },
                    traceback: r.traceback)
            }
            Self.recordEnd(
                env, store: store, run: runID, manifest: &manifest, exitCode: exitCode, status: status, failure: failure, output: printed)
        }
        display.emit("run_finished", [("run", runID.map { .string($0) } ?? .null), ("exit_code", .integer(Int(exitCode)))])
        // The one clear error line comes first, warnings after.
        for result in results {
            if case .exited = result.status { continue }  // the script's own choice, as with lua's os.exit
            if let message = result.message {
                var text = "error: \(message)\n"
                if let tb = result.traceback { text += tb + "\n" }
                FileHandle.standardError.write(Data(text.utf8))
            }
        }
        for result in results {
            for w in result.warnings { FileHandle.standardError.write(Data("warning: \(w)\n".utf8)) }
        }
        var outcome = Outcome(exitCode: exitCode, runID: runID, store: store, message: results.first(where: { $0.exitCode != 0 })?.message)
        outcome.workStillRunning = !workStopped
        return outcome
    }

    /// The run's tasks (states and times), memory samples, modules, printed output and end, into
    /// the store. With `waitSeconds` (an interrupt: the orchestrator may be busy) the tasks are
    /// given that long, after which the run's end is recorded without them.
    private static func recordEnd(
        _ env: RunEnvironment, store: RunStore, run: String, manifest: inout Manifest, exitCode: Int32, status: String,
        failure: RunFailure?, output: ScriptOutput, waitSeconds: Double? = nil
    ) {
        if let text = output.recorded {
            do {
                let hash = try store.putArtifact(text, kind: "output")
                try store.linkArtifact(run, name: "output.txt", hash: hash, kind: "output")
            } catch {
                FileHandle.standardError.write(Data("warning: recording the script's output: \(error)\n".utf8))
            }
        }
        guard let waitSeconds else {
            record(env, store: store, run: run, manifest: &manifest, exitCode: exitCode, status: status, failure: failure)
            return
        }
        let done = DispatchSemaphore(value: 0)
        let box = ManifestBox(manifest)
        Thread.detachNewThread {
            var m = box.value
            record(env, store: store, run: run, manifest: &m, exitCode: exitCode, status: status, failure: failure)
            done.signal()
        }
        if done.wait(timeout: .now() + waitSeconds) == .timedOut {
            manifest.endedAt = Date().timeIntervalSince1970
            manifest.exitStatus = exitCode
            try? store.finishRun(run, status: status, exitCode: exitCode, manifest: manifest, failure: failure)
        }
    }

    private final class ManifestBox: @unchecked Sendable {
        let value: Manifest
        init(_ m: Manifest) { value = m }
    }

    private static func record(
        _ env: RunEnvironment, store: RunStore, run: String, manifest: inout Manifest, exitCode: Int32, status: String,
        failure: RunFailure?
    ) {
        let rows = RunMetrics.recordPages(env).lazy.map { r -> RunStore.TaskRow in
            RunStore.TaskRow(
                taskID: r.id, name: r.name, type: r.typeName, agent: r.agent, state: r.state.rawValue, backend: nil,
                submittedAt: r.submittedAt, startedAt: r.startedAt, finishedAt: r.finishedAt, error: r.failure?.description)
        }
        manifest.modules = env.modules.all
        if env.orchestrator.learning.enabled {
            do { manifest.history = try store.putHistory(env.orchestrator.learning.initialHistory) } catch {
                FileHandle.standardError.write(
                    Data("warning: recording the learning history the run read: \(error) (a replay of it may differ)\n".utf8))
            }
        }
        manifest.endedAt = Date().timeIntervalSince1970
        manifest.exitStatus = exitCode
        do {
            try store.endRun(
                run, tasks: rows, samples: env.monitor.series().map { ($0.t, $0.residentBytes, $0.poolReservedBytes) },
                status: status, exitCode: exitCode, manifest: manifest, failure: failure)
        } catch {
            FileHandle.standardError.write(Data("warning: recording the run's end: \(error)\n".utf8))
        }
    }

    static var build: String {
        #if DEBUG
            return "debug"
        #else
            return "release"
        #endif
    }

    static func driver(_ backend: Backend) -> String {
        backend.driverDescription ?? "none (host backend)"
    }
}
