import ArgumentParser
import Foundation
import GPUFlowCompute
import GPUFlowCore
import GPUFlowLua
import GPUFlowML
import Logging

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a Lua workflow script.",
        discussion: "Arguments after -- reach the script as its `arg` table and as `...`, as with the lua command.")

    @Argument(help: "The Lua script to run.")
    var script: String

    @Option(help: "A YAML resource profile; the built-in defaults when omitted.")
    var profile: String?

    @Option(help: "Seed for every random choice the script does not seed itself.")
    var seed: UInt64 = 0

    @Option(help: "Backend: auto, cpu, simd or vulkan (overrides the profile's device.backend).")
    var backend: BackendKind?

    @Option(help: "Run the script as this agent (tasks are submitted under its name and limits).")
    var agent: String?

    @Option(help: "Write every measured figure to this file when the run ends: JSON, or the Prometheus text format if it ends in .prom.")
    var metricsOut: String?

    @Flag(help: "Log scheduling decisions to stderr.")
    var verbose = false

    @Argument(parsing: .postTerminator, help: "Arguments for the script.")
    var scriptArguments: [String] = []

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
        if let agent, !resolved.agents.isEmpty, resolved.agents[agent] == nil {
            fail("agent '\(agent)' is not defined in profile \(resolved.source) (agents: \(resolved.agents.keys.sorted().joined(separator: ", ")))",
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
        let result = LuaHost(environment: env).run([ScriptRequest(path: script, arguments: scriptArguments, agent: agent)])[0]
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
        for w in result.warnings { FileHandle.standardError.write(Data("warning: \(w)\n".utf8)) }
        if let message = result.message {
            var text = "error: \(message)\n"
            if let tb = result.traceback { text += tb + "\n" }
            FileHandle.standardError.write(Data(text.utf8))
        }
        if result.exitCode != 0 { throw ExitCode(result.exitCode) }
    }
}

extension BackendKind: ExpressibleByArgument {}
