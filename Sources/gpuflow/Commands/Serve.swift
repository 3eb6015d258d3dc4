import ArgumentParser
import Foundation
import GPUFlowCore
import GPUFlowServer
import GPUFlowStore
import Logging

/// `gpuflow serve`: the job server for agents. Every job runs sandboxed in a worker process of
/// its own; jobs, events and results go to the run store, so a restart loses nothing.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the job API for agents (HTTP, loopback by default).")

    @Option(help: "The profile jobs run under (its sandbox: section bounds them).") var profile: String?
    @Option(help: "The port.") var port = 8080
    @Option(help: "The address to bind (127.0.0.1 unless you mean to expose it).") var host = "127.0.0.1"
    @Option(help: "A YAML file of per-agent token hashes (agents: {name: {token_sha256: …, admin: bool}}).") var tokens: String
    @Option(help: "The run store.") var store: String?
    @Option(help: "Jobs running at once (default: the profile's max_concurrent_tasks).") var maxRunning: Int?
    @Option(help: "Submissions an agent may make per minute.") var rateLimit = 600

    func run() throws {
        LoggingSystem.bootstrapQuietly()
        var resolved = Profile()
        if let profile {
            do { resolved = try ProfileLoader.load(path: profile) } catch { fail("\(error)", code: ExitStatus.badInput) }
        }
        let t: Tokens
        do { t = try Tokens.load(path: tokens) } catch { fail("\(error)", code: ExitStatus.badInput) }
        let storePath = store ?? (resolved.store == "default" || resolved.store == "none" ? RunStore.defaultPath() : resolved.store)
        let st: RunStore
        do { st = try RunStore(path: storePath) } catch { fail("\(error)", code: ExitStatus.badInput) }
        let binary = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let manager: JobManager
        // One orchestrator for every job: its GPU tasks are admitted here, under the profile's
        // pattern, pool and per-agent limits.
        var serverProfile = resolved
        serverProfile.learning.history = "none"
        let leases = LeaseBoard(orchestrator: GPUTaskOrchestrator(profile: serverProfile))
        do {
            manager = try JobManager(settings: .init(binary: binary, storePath: storePath, profilePath: profile.map { URL(fileURLWithPath: $0).path },
                                                     maxRunning: maxRunning ?? resolved.resources.maxConcurrentTasks,
                                                     admissionURL: "http://127.0.0.1:\(port)/internal"), store: st, leases: leases,
                                     slices: resolved.coordination.pattern == .time_sliced
                                         ? SliceArbiter(sliceMS: resolved.coordination.timeSliceMS ?? 50) : nil)
        } catch {
            fail("\(error)", code: ExitStatus.badInput)
        }
        var settings = JobServer.Settings()
        settings.host = host
        settings.port = port
        settings.submissionsPerMinute = max(1, rateLimit)
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
