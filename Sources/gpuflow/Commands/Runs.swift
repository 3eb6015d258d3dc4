import ArgumentParser
import Foundation
import GPUFlowCore
import GPUFlowStore
import Logging

/// `gpuflow runs list | show RUN | compare RUN RUN`: the run store, read.
struct Runs: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "List, show and compare recorded runs.",
        subcommands: [List.self, Show.self, Compare.self], defaultSubcommand: List.self)

    static func time(_ t: Double) -> String {
        UTCStamp.string(t, format: "%Y-%m-%d %H:%M:%S")
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list", abstract: "The newest runs first, or as sorted; filtered by experiment and by values.",
            discussion: """
                Fields: metrics.KEY (the last value the script logged with gpu.log), params.KEY (gpuflow's own: seed, \
                backend, profile, arguments, scripts; and the script's), tags.KEY, and the attributes \
                \(RunField.attributes.joined(separator: ", ")).
                  gpuflow runs list --experiment iris --filter 'metrics.accuracy > 0.9 and params.lr = 0.01' \\
                      --sort=-metrics.accuracy --columns params.lr,metrics.accuracy
                """)
        @OptionGroup var options: StoreOption
        @Option(help: "How many runs (after filtering and sorting).") var limit = 20
        @Option(help: "Only the runs of this experiment (gpuflow run --experiment).") var experiment: String?
        @Option(help: "Comparisons joined by 'and': FIELD OP VALUE, OP one of = != < <= > >=.") var filter: String?
        @Option(help: "Order by a field: FIELD ascending; =-FIELD or \"FIELD desc\" descending (runs without it last).") var sort: String?
        @Option(help: "Extra columns, comma-separated fields (metrics.accuracy,params.lr).") var columns: String?
        @Flag(help: "Print the runs as JSON (errors too).") var json = false

        func run() throws {
            let report = JSONErrors(enabled: json)
            let store = options.open(errors: report)
            let extra: [RunField] = report.input {
                try (columns ?? "").split(separator: ",").map { c in
                    let t = c.trimmingCharacters(in: .whitespaces)
                    guard let f = RunField(t) else {
                        throw RunQueryError.column(t)
                    }
                    return f
                }
            }
            let query = report.input { try filter.map(RunFilter.init) }
            let order = report.input { try sort.map(RunSort.init) }
            var runs = report.input { try store.trackedRuns(experiment: experiment) }
            if let query { runs = runs.filter(query.matches) }
            if let order { runs = order.sorted(runs) }
            runs = Array(runs.prefix(max(0, limit)))
            if json {
                print(TaskValueJSON.encode(.array(runs.map(Self.value)), indent: nil))
                return
            }
            let head = ["run", "name", "status", "started (UTC)", "seconds", "tasks", "backend"] + extra.map(\.label) + ["script"]
            var rows: [[String]] = []
            for r in runs {
                let s = r.summary
                rows.append(
                    [
                        s.id, r.name ?? "", s.status, Runs.time(s.startedAt),
                        s.endedAt.map { String(format: "%.2f", $0 - s.startedAt) } ?? "—",
                        String(s.tasks), s.backend,
                    ] + extra.map { $0.value(of: r).map(Self.short) ?? "—" }
                        + [s.script + (s.resumedFrom.map { " (resumes \($0))" } ?? "")])
            }
            let widths = head.indices.map { i in ([head[i]] + rows.map { $0[i] }).map(\.count).max() ?? 0 }
            func line(_ cells: [String]) -> String {
                cells.enumerated().map { i, c in i == cells.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                    .joined(separator: "  ")
            }
            print(line(head))
            for r in rows { print(line(r)) }
        }

        /// Numbers in a column at four significant digits; text as it is.
        static func short(_ s: String) -> String {
            guard let d = Double(s), s.contains(".") else { return s }
            return String(format: "%.4g", d)
        }

        static func value(_ r: RunStore.TrackedRun) -> TaskValue {
            let s = r.summary
            var fields: [(String, TaskValue)] = [
                ("id", .string(s.id)), ("name", r.name.map { .string($0) } ?? .null),
                ("experiment", r.experiment.map { .string($0) } ?? .null), ("status", .string(s.status)),
                ("exit_code", s.exitCode.map { .integer($0) } ?? .null), ("started_at", .number(s.startedAt)),
                ("ended_at", s.endedAt.map { .number($0) } ?? .null), ("tasks", .integer(s.tasks)), ("backend", .string(s.backend)),
                ("script", .string(s.script)), ("resumed_from", s.resumedFrom.map { .string($0) } ?? .null),
            ]
            fields.append(("params", .table(r.params.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
            fields.append(("tags", .table(r.tags.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
            fields.append(
                (
                    "metrics",
                    .table(
                        r.metrics.sorted { $0.key < $1.key }.map { k, m in
                            (
                                k,
                                .table([
                                    ("last", .number(m.last)), ("step", .integer(m.step)), ("min", .number(m.min)), ("max", .number(m.max)),
                                    ("count", .integer(m.count)),
                                ])
                            )
                        })
                ))
            return .table(fields)
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show", abstract: "A run's manifest, tasks, final metrics, models and stages.")
        @OptionGroup var options: StoreOption
        @Argument(help: ArgumentHelp("A run id, a unique prefix, or last.", valueName: "run")) var runID: String
        func run() throws {
            let store = options.open()
            do {
                let id = try store.resolve(runID)
                let s = try store.summary(id), m = try store.manifest(id)
                print(
                    "run \(id): \(s.status)" + (s.exitCode.map { ", exit \($0)" } ?? "") + (s.resumedFrom.map { ", resumes \($0)" } ?? ""))
                let tracked = try store.trackedRuns(run: id).first
                if let t = tracked, t.name != nil || t.experiment != nil {
                    print([t.name.map { "name \($0)" }, t.experiment.map { "experiment \($0)" }].compactMap { $0 }.joined(separator: ", "))
                }
                print("started \(Runs.time(m.startedAt)) UTC" + (m.endedAt.map { String(format: ", %.3f s", $0 - m.startedAt) } ?? ""))
                for sc in m.scripts { print("script  \(sc.path)\(sc.agent.map { " (agent \($0))" } ?? "")  sha256 \(sc.hash.prefix(16))…") }
                for mod in m.modules { print("module  \(mod.name)  \(mod.path)  sha256 \(mod.hash.prefix(16))…") }
                print("seed \(m.seed), arguments [\(m.arguments.joined(separator: " "))], backend \(m.backend) (\(m.backendReason))")
                print("device \(m.device); driver \(m.driver); gpuflow \(m.gpuflowVersion) (\(m.build)) on \(m.host)")
                print(
                    m.history.map {
                        "learning history read: \($0.entries) entries (sha256 \($0.hash.prefix(12))…, \($0.chunks.count) chunks in the store)"
                    }
                        ?? "learning history read: none")
                print("\ntasks:")
                for t in try store.tasks(id) {
                    let secs =
                        (t.startedAt != nil && t.finishedAt != nil)
                        ? String(format: "%.3f s", (t.finishedAt ?? 0) - (t.startedAt ?? 0)) : "—"
                    print(
                        "  #\(t.taskID) \(t.name) [\(t.type)] \(t.state) on \(t.backend ?? "—")\(t.agent.map { " agent \($0)" } ?? ""), \(secs)\(t.error.map { ": \($0)" } ?? "")"
                    )
                }
                let finals = try store.metrics(id).filter { $0.step == nil && !RunComparison.isTiming($0.key) }
                if !finals.isEmpty {
                    print("\nmetrics:")
                    for f in finals { print("  task \(f.taskID) \(f.key) = \(f.value)") }
                }
                if let t = tracked {
                    let params = t.params.filter { !RunStore.systemParams.contains($0.key) }.sorted { $0.key < $1.key }
                    if !params.isEmpty || !t.metrics.isEmpty || !t.tags.isEmpty { print("\nlogged by the script:") }
                    for (k, v) in params { print("  param  \(k) = \(v)") }
                    for (k, v) in t.metrics.sorted(by: { $0.key < $1.key }) {
                        print("  metric \(k) = \(v.last) at step \(v.step) (\(v.count) values, min \(v.min), max \(v.max))")
                    }
                    for (k, v) in t.tags.sorted(by: { $0.key < $1.key }) { print("  tag    \(k) = \(v)") }
                }
                let arts = try store.artifacts(id)
                if !arts.isEmpty {
                    print("\nartifacts:")
                    for a in arts { print("  \(a.kind) \(a.name): sha256 \(a.hash)") }
                }
                let stages = try store.stages(run: id)
                if !stages.isEmpty { print("\nstages run and cached: " + stages.map(\.name).joined(separator: ", ")) }
                let reused = try store.events(id).filter { $0.kind == "stage_cached" }.compactMap { e -> String? in
                    guard let o = try? JSONSerialization.jsonObject(with: Data(e.body.utf8)) as? [String: Any],
                        let name = o["stage"] as? String
                    else { return nil }
                    return "\(name) (from run \(o["from_run"] as? String ?? "?"))"
                }
                if !reused.isEmpty { print("stages from the cache: " + reused.joined(separator: ", ")) }
                print("\nprofile:\n" + m.profile.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
            } catch {
                fail("\(error)", code: ExitStatus.badInput)
            }
        }
    }

    struct Compare: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "compare", abstract: "Parameters, metrics and models of two runs side by side; differences marked.")
        @OptionGroup var options: StoreOption
        @Argument(help: "The first run.") var a: String
        @Argument(help: "The second run.") var b: String
        @Flag(help: "Show only what differs.") var differences = false
        func run() throws {
            let store = options.open()
            do {
                let x = try store.resolve(a), y = try store.resolve(b)
                let c = try RunComparison.compare(store, x, y)
                let tty = isatty(STDOUT_FILENO) != 0
                func show(_ title: String, _ rows: [RunComparison.Row]) {
                    let shown = differences ? rows.filter(\.differs) : rows
                    guard !shown.isEmpty else { return }
                    print("\n\(title)")
                    print(
                        "  " + "".padding(toLength: 40, withPad: " ", startingAt: 0) + " "
                            + x.padding(toLength: 24, withPad: " ", startingAt: 0) + " " + y)
                    for r in shown {
                        let mark = r.differs ? "≠" : " "
                        var line =
                            "\(mark) " + r.key.padding(toLength: 40, withPad: " ", startingAt: 0) + " "
                            + r.a.padding(toLength: 24, withPad: " ", startingAt: 0) + " " + r.b
                        if r.differs && tty { line = "\u{1B}[1;33m" + line + "\u{1B}[0m" }
                        print(line)
                    }
                }
                print("compare \(x) with \(y)")
                show("parameters", c.params)
                show("metrics (timings left out: they differ run to run)", c.metrics)
                show("models (sha256)", c.models)
                print(
                    "\n"
                        + (c.identical
                            ? "results identical: \(c.metrics.count) metrics and \(c.models.count) models"
                            : "results differ in \(c.differences.count) of \(c.metrics.count + c.models.count) values"))
            } catch {
                fail("\(error)", code: ExitStatus.badInput)
            }
        }
    }
}

extension String {
    func leftPad(_ n: Int) -> String { String(repeating: " ", count: max(0, n - count)) + self }
}
