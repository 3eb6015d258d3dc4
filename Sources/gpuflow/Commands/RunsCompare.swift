import ArgumentParser
import Foundation
import GPUFlowCore
import GPUFlowStore

extension Runs {
    struct Compare: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "compare",
            abstract: "Parameters, metrics and models of two runs side by side; differences marked.",
            discussion: """
                Tasks are matched by name (train, train#2 for the second task named train). A metric series (per epoch, or \
                logged by step with gpu.log) shows its final value and its best (lowest for losses, errors and scores, highest \
                otherwise) with the step it was reached at; --epochs shows every step.
                """)
        @OptionGroup var options: StoreOption
        @Argument(help: "The first run.") var a: String
        @Argument(help: "The second run.") var b: String
        @Flag(help: "Show only what differs.") var differences = false
        @Flag(help: "Every epoch's (step's) value instead of each series' final and best.") var epochs = false
        @Flag(help: "Print the comparison as JSON (errors too).") var json = false

        func run() throws {
            let report = JSONErrors(enabled: json)
            let store = options.open(errors: report)
            let x = report.input { try store.resolve(a) }, y = report.input { try store.resolve(b) }
            let c = report.input { try RunComparison.compare(store, x, y) }
            let metrics = epochs ? c.metrics : c.summary
            func keep(_ rows: [RunComparison.Row]) -> [RunComparison.Row] { differences ? rows.filter(\.differs) : rows }
            if json {
                func rows(_ r: [RunComparison.Row]) -> TaskValue {
                    .array(
                        keep(r).map {
                            .table([("key", .string($0.key)), ("a", .string($0.a)), ("b", .string($0.b)), ("differs", .bool($0.differs))])
                        })
                }
                print(
                    TaskValueJSON.encode(
                        .table([
                            ("a", .string(x)), ("b", .string(y)), ("params", rows(c.params)), ("metrics", rows(metrics)),
                            ("models", rows(c.models)), ("identical", .bool(c.identical)),
                            ("differences", .integer(c.differences.count)),
                        ]), indent: nil))
                return
            }
            let tty = isatty(STDOUT_FILENO) != 0
            let width = max(40, (c.params + metrics + c.models).map(\.key.count).max() ?? 0)
            func show(_ title: String, _ rows: [RunComparison.Row]) {
                let shown = keep(rows)
                guard !shown.isEmpty else { return }
                print("\n\(title)")
                print(
                    "  " + "".padding(toLength: width, withPad: " ", startingAt: 0) + " "
                        + x.padding(toLength: 24, withPad: " ", startingAt: 0) + " " + y)
                for r in shown {
                    let mark = r.differs ? "≠" : " "
                    var line =
                        "\(mark) " + r.key.padding(toLength: width, withPad: " ", startingAt: 0) + " "
                        + r.a.padding(toLength: 24, withPad: " ", startingAt: 0) + " " + r.b
                    if r.differs && tty { line = "\u{1B}[1;33m" + line + "\u{1B}[0m" }
                    print(line)
                }
            }
            print("compare \(x) with \(y)")
            show("parameters", c.params)
            show(
                "metrics (timings left out: they differ run to run)" + (epochs ? "" : "; series as final and best (--epochs: every step)"),
                metrics)
            show("models (sha256)", c.models)
            print(
                "\n"
                    + (c.identical
                        ? "results identical: \(c.metrics.count) metric values and \(c.models.count) models"
                        : "results differ in \(c.differences.count) of \(c.metrics.count + c.models.count) values"))
        }
    }
}
