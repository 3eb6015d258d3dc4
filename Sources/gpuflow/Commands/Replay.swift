import ArgumentParser
import Foundation
import GPUFlowCore
import GPUFlowStore
import Logging

/// `gpuflow replay RUN`: runs a recorded run again from its manifest (scripts, profile, seed,
/// arguments, backend) and says whether the results are identical, or how they differ.
/// Exit 0 identical, 1 different (or the replay failed), 2 it cannot be replayed as recorded.
struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay", abstract: "Run a recorded run again and compare its results bit for bit.")

    @Argument(help: ArgumentHelp("A run id, a unique prefix, or last.", valueName: "run")) var runID: String
    @OptionGroup var storeOption: StoreOption
    var store: String? { storeOption.store }
    @Flag(help: "Run the script text recorded in the manifest even where the file has changed since.") var recorded = false
    @Flag(help: "No progress display.") var quiet = false

    func run() throws {
        LoggingSystem.bootstrapQuietly()
        guard let st = RunExecutor.openStore(flag: store, profile: Profile()) else {
            fail("replay needs a run store", code: ExitStatus.badInput)
        }
        let id: String, m: Manifest
        do {
            id = try st.resolve(runID)
            m = try st.manifest(id)
            // Its stages' figures are in the run directory's per-stage stores, not here.
            guard try st.clusterJobs(id).isEmpty else {
                fail(
                    "run \(id) ran on Slurm: replay compares runs made on one machine; gpuflow submit \(m.scripts.first?.path ?? "SCRIPT") --slurm runs it again there, gpuflow run runs it here",
                    code: ExitStatus.badInput)
            }
        } catch {
            fail("\(error)", code: ExitStatus.badInput)
        }
        var scripts: [String] = [], texts: [String?] = []
        for s in m.scripts {
            let now = FileManager.default.contents(atPath: s.path).map { ContentHash.of($0) }
            scripts.append(s.path)
            if now == s.hash {
                texts.append(nil)
            } else if recorded {
                // Run as if from its own path (its requires resolve from its folder); nothing is
                // written anywhere, so a read-only folder replays too.
                texts.append(s.text)
            } else {
                let why =
                    now == nil ? "is missing" : "changed since the run (sha256 \(s.hash.prefix(12))… then, \(now?.prefix(12) ?? "")… now)"
                fail(
                    "cannot replay \(id) exactly: \(s.path) \(why); --recorded runs the text the manifest recorded",
                    code: ExitStatus.badInput)
            }
        }
        let scriptDirectory = m.scripts.first.map { ($0.path as NSString).deletingLastPathComponent }
        for mod in m.modules where !mod.path.hasPrefix("stdlib/") {
            var now = FileManager.default.contents(atPath: mod.path).map { ContentHash.of($0) }
            if now == nil, let rel = mod.relativePath, let dir = scriptDirectory {
                now = FileManager.default.contents(atPath: dir + "/" + rel).map { ContentHash.of($0) }
            }
            guard now == mod.hash else {
                fail(
                    "cannot replay \(id) exactly: module \(mod.name) (\(mod.path)) \(now == nil ? "is missing" : "changed since the run")",
                    code: ExitStatus.badInput)
            }
        }
        var profile: Profile
        do { profile = try ProfileLoader.parse(m.profile, file: "manifest of \(id)") } catch { fail("\(error)", code: ExitStatus.badInput) }
        profile.device.backend = BackendKind(rawValue: m.backend) ?? profile.device.backend
        var plan = RunPlan(scripts: scripts, agents: m.scripts.map(\.agent), arguments: m.arguments, profile: profile, seed: m.seed)
        plan.texts = texts.contains { $0 != nil } ? texts : nil
        // The learning history exactly as the run read it (empty if it read none), not the
        // history as it is now: warm starts, learned batch sizes and backend choices answer
        // from it. The replay writes nothing back to the user's history.
        do { plan.history = try m.history.map { try st.history($0, run: id) } ?? ExecutionHistoryStore.Snapshot() } catch {
            fail("cannot replay \(id) exactly: \(error)", code: ExitStatus.badInput)
        }
        let outcome = RunExecutor(
            progress: quiet ? .quiet : ProgressDisplay.mode(quiet: false, json: false), metricsOut: nil,
            storePath: store ?? st.path, resumedFrom: nil, stageLookups: false
        ).execute(plan)
        guard let new = outcome.runID else { fail("the replay was not recorded", code: ExitStatus.badInput) }
        do {
            let c = try RunComparison.compare(st, id, new)
            if c.identical {
                print(
                    "replay of \(id) as \(new): identical — \(c.metrics.count) metrics and \(c.models.count) model hashes match bit for bit (backend \(m.backend))"
                )
            } else {
                print("replay of \(id) as \(new): DIFFERENT in \(c.differences.count) of \(c.metrics.count + c.models.count) values")
                for d in c.differences.prefix(20) { print("  \(d.key): \(d.a) → \(d.b)") }
            }
            if outcome.exitCode != 0 || !c.identical { throw ExitCode(1) }
        } catch let e as ExitCode {
            throw e
        } catch {
            fail("\(error)", code: ExitStatus.badInput)
        }
    }
}

/// `gpuflow report RUN`: one self-contained HTML file with the run's charts and manifest.
struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Write a run's report: one HTML file with SVG charts and the manifest.")
    @Argument(help: ArgumentHelp("A run id, a unique prefix, or last.", valueName: "run")) var runID: String
    @OptionGroup var storeOption: StoreOption
    var store: String? { storeOption.store }
    @Option(help: "Where to write it (default: report-RUN.html).") var out: String?

    func run() throws {
        guard let st = RunExecutor.openStore(flag: store, profile: Profile()) else {
            fail("report needs a run store", code: ExitStatus.badInput)
        }
        do {
            let id = try st.resolve(runID)
            let html = try ReportBuilder.html(store: st, run: id)
            let path = out ?? "report-\(id).html"
            do { try html.write(toFile: path, atomically: true, encoding: .utf8) } catch {
                fail("cannot write \(path): \(error.localizedDescription)", code: ExitStatus.badInput)
            }
            print(path)
        } catch {
            fail("\(error)", code: ExitStatus.badInput)
        }
    }
}
