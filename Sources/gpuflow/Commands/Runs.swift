import ArgumentParser
import Foundation
import GPUFlowCore
import GPUFlowStore
import Logging

/// `gpuflow runs list | show RUN | compare RUN RUN`: the run store, read.
struct Runs: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "List, show, compare, delete and export recorded runs.",
        subcommands: [List.self, Show.self, Compare.self, Delete.self, GC.self, Export.self], defaultSubcommand: List.self)

    static func time(_ t: Double) -> String {
        UTCStamp.string(t, format: "%Y-%m-%d %H:%M:%S")
    }

    /// 1.5 MiB, 320 KiB, 12 B.
    static func bytes(_ n: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(n), u = 0
        while v >= 1024 && u < units.count - 1 {
            v /= 1024
            u += 1
        }
        return u == 0 ? "\(n) B" : String(format: v < 10 ? "%.1f" : "%.0f", v) + " " + units[u]
    }

    /// What a script logged of each metric, as `runs list --json` and `runs show --json` give it.
    static func loggedMetrics(_ metrics: [String: RunStore.LoggedMetric]) -> TaskValue {
        .table(
            metrics.sorted { $0.key < $1.key }.map { k, m in
                (
                    k,
                    .table([
                        ("last", .number(m.last)), ("step", .integer(m.step)), ("min", .number(m.min)), ("max", .number(m.max)),
                        ("count", .integer(m.count)),
                    ])
                )
            })
    }

    /// A value or JSON null.
    static func orNull(_ s: String?) -> TaskValue { s.map { .string($0) } ?? .null }

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
            fields.append(("metrics", Runs.loggedMetrics(r.metrics)))
            return .table(fields)
        }
    }
}

extension String {
    func leftPad(_ n: Int) -> String { String(repeating: " ", count: max(0, n - count)) + self }
}
