import ArgumentParser
import Foundation
import GPUFlowCluster
import GPUFlowCore
import GPUFlowStore
import Logging

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a cluster run's stages: state, Slurm job, elapsed, node, exit code, allocated TRES.",
        discussion:
            "Merges the run store, what each stage wrote in the run directory, and squeue/sacct (or scontrol where accounting is off).")

    @Argument(help: "The run: an id, a unique prefix, or last.")
    var runID: String

    @Flag(help: "One JSON object instead of the table.")
    var json = false

    @OptionGroup var storeOption: StoreOption
    var store: String? { storeOption.store }

    func run() throws {
        LoggingSystem.bootstrapQuietly()
        guard let st = RunExecutor.openStore(flag: store, profile: Profile()) else {
            fail("gpuflow status needs a run store", code: ExitStatus.badInput)
        }
        let id: String
        do { id = try st.resolve(runID) } catch { fail("\(error)", code: ExitStatus.badInput) }
        let result: (views: [StageView], reading: SlurmJobStates.Reading, plan: ClusterPlan)
        do { result = try ClusterRuns(store: st).refresh(id) } catch { fail("\(error)", code: ExitStatus.badInput) }
        let (status, _) = ClusterStatus.runState(result.views)
        if json {
            let stages: [TaskValue] = result.views.map { v in
                .table([
                    ("stage", .string(v.element)), ("job", v.job.map { .string($0) } ?? .null), ("state", .string(v.state)),
                    ("elapsed", v.elapsed.map { .string($0) } ?? .null), ("node", v.node.map { .string($0) } ?? .null),
                    ("exit_code", v.exitCode.map { .string($0) } ?? .null), ("tres", v.tres.map { .string($0) } ?? .null),
                    ("detail", v.detail.map { .string($0) } ?? .null),
                ])
            }
            print(
                TaskValueJSON.encode(
                    .table([
                        ("run", .string(id)), ("status", .string(status)), ("stages", .array(stages)),
                        ("slurm_sources", .array(result.reading.sources.map { .string($0) })),
                        ("problems", .array(result.reading.problems.map { .string($0) })),
                    ])))
            return
        }
        print("run \(id): \(status)  (\(result.plan.script), run directory \(try ClusterRuns(store: st).directory(id).path))")
        print(ClusterRuns.table(result.views), terminator: "")
        for p in result.reading.problems { FileHandle.standardError.write(Data("note: \(p)\n".utf8)) }
    }
}

struct Cancel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Cancel every Slurm job of a cluster run (scancel); finished stages keep their results.")

    @Argument(help: "The run: an id, a unique prefix, or last.")
    var runID: String

    @OptionGroup var storeOption: StoreOption
    var store: String? { storeOption.store }

    func run() throws {
        LoggingSystem.bootstrapQuietly()
        guard let st = RunExecutor.openStore(flag: store, profile: Profile()) else {
            fail("gpuflow cancel needs a run store", code: ExitStatus.badInput)
        }
        let runs = ClusterRuns(store: st)
        do {
            let id = try st.resolve(runID)
            let before = try runs.refresh(id)
            let live = Array(Set(ClusterStatus.live(before.views).values.map { String($0.split(separator: "_").first ?? "") })).sorted()
            guard !live.isEmpty else {
                print("run \(id): nothing left to cancel (\(ClusterStatus.runState(before.views).status))")
                return
            }
            do { try runs.commands.cancel(live) } catch { fail("\(error)", code: ExitStatus.scheduler) }
            try st.recordEvent(id, kind: "cancelled", body: TaskValueJSON.encode(.array(live.map { .string($0) }), indent: nil))
            // scancel returns before Slurm has ended them: wait briefly for the states to settle.
            var after = try runs.refresh(id)
            for _ in 0..<50 where after.views.contains(where: { $0.state == "running" || $0.state == "pending" }) {
                Thread.sleep(forTimeInterval: 0.1)
                after = try runs.refresh(id)
            }
            print("run \(id): cancelled jobs \(live.joined(separator: " ")); now \(ClusterStatus.runState(after.views).status)")
            print(ClusterRuns.table(after.views), terminator: "")
        } catch {
            fail("\(error)", code: ExitStatus.badInput)
        }
    }
}
