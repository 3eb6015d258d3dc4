import ArgumentParser
import Foundation
import GPUFlowCore
import GPUFlowStore

extension Runs {
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "A run's status (and error), manifest, tasks, final metrics, what the script logged, artifacts, size and stages.")
        @OptionGroup var options: StoreOption
        @Argument(help: ArgumentHelp("A run id, a unique prefix, or last.", valueName: "run")) var runID: String
        @Flag(help: "Print the run as JSON (errors too).") var json = false

        func run() throws {
            let report = JSONErrors(enabled: json)
            let store = options.open(errors: report)
            let id = report.input { try store.resolve(runID) }
            let view = report.input { try RunView(store: store, id: id) }
            if json {
                print(TaskValueJSON.encode(view.json, indent: nil))
            } else {
                view.print()
            }
        }
    }

    /// Everything `runs show` prints about a run, read once.
    struct RunView {
        let id: String
        let summary: RunStore.RunSummary
        let manifest: Manifest
        let tracked: RunStore.TrackedRun?
        let tasks: [RunStore.TaskRow]
        let finals: [RunStore.Metric]
        let artifacts: [RunStore.ArtifactEntry]
        let size: RunStore.RunSize
        let stages: [RunStore.Stage]
        let reused: [(stage: String, run: String)]

        init(store: RunStore, id: String) throws {
            self.id = id
            summary = try store.summary(id)
            manifest = try store.manifest(id)
            tracked = try store.trackedRuns(run: id).first
            tasks = try store.tasks(id)
            finals = try store.metrics(id).filter { $0.step == nil && !RunComparison.isTiming($0.key) }
            artifacts = try store.artifactEntries(id)
            size = try store.runSize(id)
            stages = try store.stages(run: id)
            reused = try store.events(id).filter { $0.kind == "stage_cached" }.compactMap { e in
                guard let o = try? JSONSerialization.jsonObject(with: Data(e.body.utf8)) as? [String: Any],
                    let name = o["stage"] as? String
                else { return nil }
                return (name, o["from_run"] as? String ?? "?")
            }
        }

        var scriptParams: [(key: String, value: String)] {
            (tracked?.params ?? [:]).filter { !RunStore.systemParams.contains($0.key) }.sorted { $0.key < $1.key }.map {
                ($0.key, $0.value)
            }
        }

        func print() {
            let s = summary, m = manifest
            Swift.print(
                "run \(id): \(s.status)" + (s.exitCode.map { ", exit \($0)" } ?? "") + (s.resumedFrom.map { ", resumes \($0)" } ?? ""))
            if let f = s.failure {
                Swift.print("error: \(f.message)")
                if let at = f.location { Swift.print("  at \(at)") }
                if let tb = f.traceback { Swift.print(tb.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n")) }
                if s.status != "running" { Swift.print("  (gpuflow run --resume \(id) goes on from its last good stage)") }
            }
            if let t = tracked, t.name != nil || t.experiment != nil {
                Swift.print(
                    [t.name.map { "name \($0)" }, t.experiment.map { "experiment \($0)" }].compactMap { $0 }.joined(separator: ", "))
            }
            Swift.print("started \(Runs.time(m.startedAt)) UTC" + (m.endedAt.map { String(format: ", %.3f s", $0 - m.startedAt) } ?? ""))
            for sc in m.scripts {
                Swift.print("script  \(sc.path)\(sc.agent.map { " (agent \($0))" } ?? "")  sha256 \(sc.hash.prefix(16))…")
            }
            for mod in m.modules { Swift.print("module  \(mod.name)  \(mod.path)  sha256 \(mod.hash.prefix(16))…") }
            Swift.print("seed \(m.seed), arguments [\(m.arguments.joined(separator: " "))], backend \(m.backend) (\(m.backendReason))")
            Swift.print("device \(m.device); driver \(m.driver); gpuflow \(m.gpuflowVersion) (\(m.build)) on \(m.host)")
            Swift.print(
                m.history.map {
                    "learning history read: \($0.entries) entries (sha256 \($0.hash.prefix(12))…, \($0.chunks.count) chunks in the store)"
                }
                    ?? "learning history read: none")
            Swift.print(
                "size: \(size.artifacts) artifacts, \(Runs.bytes(size.bytes)) (\(Runs.bytes(size.ownBytes)) its own: what deleting it frees); \(size.tasks) tasks, \(size.metricPoints) metric values"
            )
            Swift.print("\ntasks:")
            for t in tasks {
                let secs =
                    (t.startedAt != nil && t.finishedAt != nil)
                    ? String(format: "%.3f s", (t.finishedAt ?? 0) - (t.startedAt ?? 0)) : "—"
                Swift.print(
                    "  #\(t.taskID) \(t.name) [\(t.type)] \(t.state) on \(t.backend ?? "—")\(t.agent.map { " agent \($0)" } ?? ""), \(secs)\(t.error.map { ": \($0)" } ?? "")"
                )
            }
            if !finals.isEmpty {
                Swift.print("\nmetrics:")
                for f in finals { Swift.print("  task \(f.taskID) \(f.key) = \(f.value)") }
            }
            if let t = tracked {
                let params = scriptParams
                if !params.isEmpty || !t.metrics.isEmpty || !t.tags.isEmpty { Swift.print("\nlogged by the script:") }
                for (k, v) in params { Swift.print("  param  \(k) = \(v)") }
                for (k, v) in t.metrics.sorted(by: { $0.key < $1.key }) {
                    Swift.print("  metric \(k) = \(v.last) at step \(v.step) (\(v.count) values, min \(v.min), max \(v.max))")
                }
                for (k, v) in t.tags.sorted(by: { $0.key < $1.key }) { Swift.print("  tag    \(k) = \(v)") }
            }
            if !artifacts.isEmpty {
                Swift.print("\nartifacts (gpuflow artifacts get \(id) NAME):")
                for a in artifacts { Swift.print("  \(a.kind) \(a.name): \(Runs.bytes(a.bytes)), sha256 \(a.hash)") }
            }
            if !stages.isEmpty { Swift.print("\nstages run and cached: " + stages.map(\.name).joined(separator: ", ")) }
            if !reused.isEmpty {
                Swift.print("stages from the cache: " + reused.map { "\($0.stage) (from run \($0.run))" }.joined(separator: ", "))
            }
            Swift.print("\nprofile:\n" + m.profile.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        }

        var json: TaskValue {
            let s = summary, m = manifest
            func table(_ d: [String: String]) -> TaskValue { .table(d.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }) }
            let failure: TaskValue =
                s.failure.map { f in
                    .table([("message", .string(f.message)), ("at", Runs.orNull(f.location)), ("traceback", Runs.orNull(f.traceback))])
                } ?? .null
            let fields: [(String, TaskValue)] = [
                ("id", .string(id)), ("name", Runs.orNull(tracked?.name)), ("experiment", Runs.orNull(tracked?.experiment)),
                ("status", .string(s.status)), ("exit_code", s.exitCode.map { .integer($0) } ?? .null), ("error", failure),
                ("started_at", .number(m.startedAt)), ("ended_at", m.endedAt.map { .number($0) } ?? .null),
                ("resumed_from", Runs.orNull(s.resumedFrom)),
                (
                    "scripts",
                    .array(
                        m.scripts.map {
                            .table([("path", .string($0.path)), ("agent", Runs.orNull($0.agent)), ("sha256", .string($0.hash))])
                        })
                ),
                ("seed", .string(String(m.seed))), ("arguments", .array(m.arguments.map { .string($0) })),
                ("backend", .string(m.backend)), ("backend_reason", .string(m.backendReason)), ("device", .string(m.device)),
                ("driver", .string(m.driver)), ("gpuflow", .string(m.gpuflowVersion)), ("host", .string(m.host)),
                (
                    "tasks",
                    .array(
                        tasks.map { t in
                            .table([
                                ("id", .integer(t.taskID)), ("name", .string(t.name)), ("type", .string(t.type)),
                                ("agent", Runs.orNull(t.agent)),
                                ("state", .string(t.state)), ("backend", Runs.orNull(t.backend)),
                                ("started_at", t.startedAt.map { .number($0) } ?? .null),
                                ("finished_at", t.finishedAt.map { .number($0) } ?? .null), ("error", Runs.orNull(t.error)),
                            ])
                        })
                ),
                (
                    "metrics",
                    .array(finals.map { .table([("task", .integer($0.taskID)), ("key", .string($0.key)), ("value", .number($0.value))]) })
                ),
                (
                    "logged",
                    .table([
                        ("params", table(Dictionary(uniqueKeysWithValues: scriptParams.map { ($0.key, $0.value) }))),
                        ("tags", table(tracked?.tags ?? [:])),
                        ("metrics", Runs.loggedMetrics(tracked?.metrics ?? [:])),
                    ])
                ),
                (
                    "artifacts",
                    .array(
                        artifacts.map { a in
                            .table([
                                ("name", .string(a.name)), ("kind", .string(a.kind)), ("sha256", .string(a.hash)),
                                ("task", a.taskID.map { .integer($0) } ?? .null), ("bytes", .integer(a.bytes)),
                            ])
                        })
                ),
                (
                    "size",
                    .table([
                        ("artifacts", .integer(size.artifacts)), ("bytes", .integer(size.bytes)), ("own_bytes", .integer(size.ownBytes)),
                        ("tasks", .integer(size.tasks)), ("metric_values", .integer(size.metricPoints)),
                    ])
                ),
                ("stages", .array(stages.map { .string($0.name) })),
                ("cached_stages", .array(reused.map { .table([("stage", .string($0.stage)), ("from_run", .string($0.run))]) })),
                ("profile", .string(m.profile)),
            ]
            return .table(fields)
        }
    }
}
