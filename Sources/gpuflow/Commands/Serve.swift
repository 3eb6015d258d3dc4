import ArgumentParser
import Foundation
import GPUFlowCore
import GPUFlowServer
import GPUFlowStore
import Logging

/// `gpuflow serve`: the job server for agents. Every job runs sandboxed in a worker process of
/// its own; jobs, events and results go to the server's run store (its own, `server.sqlite`
/// under the data directory, apart from `gpuflow run`'s), so a restart loses nothing.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Serve the job API for agents (HTTP, loopback by default).")

    @OptionGroup var profileOption: ProfileOption
    var profile: String? { profileOption.profile }
    @Option(help: "The port.") var port = 8080
    @Option(help: "The address to bind (127.0.0.1 unless you mean to expose it).") var host = "127.0.0.1"
    @Option(help: "A YAML file of per-agent token hashes (agents: {name: {token_sha256: …, admin: bool}}).") var tokens: String
    @OptionGroup var storeOption: StoreOption
    var store: String? { storeOption.store }
    @Option(help: "Jobs running at once (default: the profile's max_concurrent_tasks).") var maxRunning: Int?
    @Option(help: "Submissions and resumes an agent may make per minute.") var rateLimit = 600
    @Option(help: "Seconds a connection may go without sending a whole request head before it is closed.") var idleTimeout = 30.0
    @Option(help: "Seconds a request's body may take to arrive, from its head.") var requestTimeout = 30.0
    @Option(help: "Seconds a job may run past its sandbox wall_s before the server kills its worker.") var deadlineGrace = 5.0
    @Option(help: "Epoch events a job's record keeps; past that, only each task's last epoch.") var maxEpochEvents = 10_000

    func validate() throws {
        guard idleTimeout > 0, requestTimeout > 0, deadlineGrace >= 0, maxEpochEvents >= 0 else {
            throw ValidationError(
                "--idle-timeout and --request-timeout must be positive, --deadline-grace and --max-epoch-events 0 or more")
        }
    }

    func run() throws {
        LoggingSystem.bootstrapQuietly()
        var resolved = Profile()
        if let profile {
            do { resolved = try ProfileLoader.load(path: profile) } catch { fail("\(error)", code: ExitStatus.badInput) }
        }
        let t: Tokens
        do { t = try Tokens.load(path: tokens) } catch { fail("\(error)", code: ExitStatus.badInput) }
        let storePath = store ?? (resolved.store == "default" || resolved.store == "none" ? RunStore.defaultServerPath() : resolved.store)
        let st: RunStore
        do { st = try RunStore(path: storePath) } catch { fail("\(error)", code: ExitStatus.badInput) }
        let binary = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let manager: JobManager
        var jobSettings = JobManager.Settings(
            binary: binary, storePath: storePath, profilePath: profile.map { URL(fileURLWithPath: $0).path },
            maxRunning: maxRunning ?? resolved.resources.maxConcurrentTasks,
            admissionURL: "http://127.0.0.1:\(port)/internal", profile: resolved, deadlineGrace: deadlineGrace)
        jobSettings.maxEpochEvents = maxEpochEvents
        // One orchestrator for every job: its GPU tasks are admitted here, under the profile's
        // pattern, pool and per-agent limits.
        var serverProfile = resolved
        serverProfile.learning.history = "none"
        let leases = LeaseBoard(orchestrator: GPUTaskOrchestrator(profile: serverProfile))
        do {
            manager = try JobManager(
                settings: jobSettings, store: st, leases: leases,
                slices: {
                    if case .timeSliced(let t) = resolved.coordination.spec { return SliceArbiter(sliceMS: t.sliceMS) } else { return nil }
                }(),
                logger: Logger(label: "gpuflow.server.jobs"))
        } catch {
            fail("\(error)", code: ExitStatus.badInput)
        }
        var settings = JobServer.Settings()
        settings.host = host
        settings.port = port
        settings.submissionsPerMinute = max(1, rateLimit)
        settings.idleTimeout = idleTimeout
        settings.requestTimeout = requestTimeout
        let server = JobServer(settings: settings, tokens: t, jobs: manager, store: st)
        FileHandle.standardError.write(Data("gpuflow: serving jobs on http://\(host):\(port) (store \(storePath))\n".utf8))
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var failure: Error?
        Task.detached {
            do { try await server.run() } catch { failure = error }
            await manager.shutdown()
            done.signal()
        }
        done.wait()
        if let failure { fail("server: \(failure)", code: ExitStatus.badInput) }
    }
}
