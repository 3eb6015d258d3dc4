import ArgumentParser
import Foundation
import GPUFlowCompute
import GPUFlowCore
import GPUFlowLua
import GPUFlowML
import Logging

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run Lua workflow scripts.",
        discussion: """
            Arguments after -- reach every script as its `arg` table and as `...`, as with the lua command. \
            Several scripts run at once in one process, each in its own Lua state, contending for the \
            device as agents: each is the agent given by the matching --agent (in order), or else, when \
            there are several, the agent named after its file.
            """)

    @Argument(help: "The Lua scripts to run (several run concurrently as agents), then -- and their arguments.")
    var scripts: [String] = []

    @Option(help: "A YAML resource profile; the built-in defaults when omitted.")
    var profile: String?

    @Option(help: "Seed for every random choice the script does not seed itself.")
    var seed: UInt64 = 0

    @Option(help: "Backend: auto, cpu, simd or vulkan (overrides the profile's device.backend).")
    var backend: BackendKind?

    @Option(help: "Run the script as this agent (tasks are submitted under its name and limits); repeat once per script.")
    var agent: [String] = []

    @Option(help: "Write every measured figure to this file when the run ends: JSON, or the Prometheus text format if it ends in .prom.")
    var metricsOut: String?

    @Flag(help: "Log scheduling decisions to stderr.")
    var verbose = false

    /// Everything after `--` (ArgumentParser hands it over as further positionals).
    private var split: (scripts: [String], arguments: [String]) {
        let raw = CommandLine.arguments
        guard let i = raw.firstIndex(of: "--") else { return (scripts, []) }
        let n = min(raw.count - i - 1, scripts.count)
        return (Array(scripts.dropLast(n)), Array(scripts.suffix(n)))
    }

    func run() throws {
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = verbose ? .debug : .warning
            h.metadata["run.seed"] = "\(seed)"
            return h
        }
        var resolved = Profile()
        if let profile {
            do { resolved = try ProfileLoader.load(path: profile) } catch { fail("\(error)", code: ExitStatus.badInput) }
        }
        if let backend { resolved.device.backend = backend }
        let choice: BackendSelector.Choice
        do {
            choice = try BackendSelector.make(resolved.device.backend, device: DeviceSelection(profile: resolved))
        } catch {
            fail("no usable device: \(error)", code: ExitStatus.noDevice)
        }
        let stdlib: String
        do { stdlib = try StdlibLocator.find() } catch { fail("\(error)", code: ExitStatus.badInput) }
        let (scripts, scriptArguments) = split
        guard !scripts.isEmpty else { fail("no script given (gpuflow run SCRIPT... [-- ARGS])", code: ExitStatus.badInput) }
        let agents: [String?]
        if agent.isEmpty {
            agents = scripts.count == 1 ? [nil] : scripts.map { URL(fileURLWithPath: $0).deletingPathExtension().lastPathComponent }
        } else if agent.count == scripts.count {
            agents = agent
        } else {
            fail("\(agent.count) --agent names for \(scripts.count) scripts: give one per script, in order, or none", code: ExitStatus.badInput)
        }
        for case let a? in agents where !resolved.agents.isEmpty && resolved.agents[a] == nil {
            fail("agent '\(a)' is not defined in profile \(resolved.source) (agents: \(resolved.agents.keys.sorted().joined(separator: ", ")))",
                 code: ExitStatus.badInput)
        }
        // Tasks run on the backend resolved here ("auto" becomes cpu or vulkan once, for the whole run).
        let concrete = BackendKind(rawValue: choice.backend.name) ?? .cpu
        let env = RunEnvironment(orchestrator: GPUTaskOrchestrator(profile: resolved), profile: resolved,
                                 backend: concrete, backendName: choice.backend.name, backendReason: choice.reason, seed: seed, stdlibPath: stdlib)
        if let m = metricsOut {  // refuse an unwritable path before any work is done
            guard FileManager.default.createFile(atPath: m, contents: Data()) else {
                fail("--metrics-out \(m): cannot create the file", code: ExitStatus.badInput)
            }
        }
        if env.orchestrator.learning.skippedHistoryLines > 0, let store = env.orchestrator.learning.store {
            FileHandle.standardError.write(Data("warning: learning history \(store.path): skipped \(env.orchestrator.learning.skippedHistoryLines) unreadable lines\n".utf8))
        }
        let requests = zip(scripts, agents).map { ScriptRequest(path: $0, arguments: scriptArguments, agent: $1) }
        let results = LuaHost(environment: env).run(requests)
        env.monitor.stop()
        if let m = metricsOut {
            let text = m.hasSuffix(".prom") ? PrometheusExport.text(env.monitor, breakers: env.orchestrator.breakers)
                : TaskValueJSON.encode(RunMetrics.collectNow(env)) + "\n"
            do { try text.write(toFile: m, atomically: true, encoding: .utf8) } catch {
                FileHandle.standardError.write(Data("warning: --metrics-out \(m): \(error)\n".utf8))
            }
        }
        if let e = env.orchestrator.learning.persistenceError {
            FileHandle.standardError.write(Data("warning: \(e) (this run's history was not saved)\n".utf8))
        }
        for result in results {
            for w in result.warnings { FileHandle.standardError.write(Data("warning: \(w)\n".utf8)) }
            if let message = result.message {
                var text = "error: \(message)\n"
                if let tb = result.traceback { text += tb + "\n" }
                FileHandle.standardError.write(Data(text.utf8))
            }
        }
        // The first script that failed decides the exit code; the others' errors are printed too.
        if let failed = results.first(where: { $0.exitCode != 0 }) { throw ExitCode(failed.exitCode) }
    }
}

extension BackendKind: ExpressibleByArgument {}
