import ArgumentParser
import Foundation
import GPUFlowCore
import GPUFlowStore

extension Runs {
    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "delete",
            abstract: "Delete runs: their records, cached stages and the artifacts no other run uses.",
            discussion: "A run still running is refused. A later run that took a stage from a deleted run's cache keeps its own results.")
        @OptionGroup var options: StoreOption
        @Argument(help: ArgumentHelp("Run ids, unique prefixes, or last.", valueName: "run")) var runs: [String] = []
        @Flag(help: "Say what would go, delete nothing.") var dryRun = false
        @Flag(help: "Print the result as JSON (errors too).") var json = false

        func run() throws {
            let report = JSONErrors(enabled: json)
            guard !runs.isEmpty else { report.fail("runs delete takes one or more runs (gpuflow runs list shows them)", kind: .input) }
            let store = options.open(errors: report)
            let ids = report.input { try runs.map { try store.resolve($0) } }
            let freed = report.input { try store.deleteRuns(ids, dryRun: dryRun) }
            Runs.printFreed(freed, dryRun: dryRun, json: json, verb: "deleted")
        }
    }

    struct GC: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "gc",
            abstract: "Remove artifacts no run uses, stale checkpoints and stray files; compact the database; report the space freed.")
        @OptionGroup var options: StoreOption
        @Option(
            help: ArgumentHelp(
                "Remove a task's resume checkpoints when the newest is older than this (30d, 12h, 90m, 0 for all).",
                valueName: "age"))
        var checkpoints = "14d"
        @Flag(help: "Say what would go, remove nothing.") var dryRun = false
        @Flag(help: "Print the result as JSON (errors too).") var json = false

        func run() throws {
            let report = JSONErrors(enabled: json)
            guard let age = Self.seconds(checkpoints) else {
                report.fail("--checkpoints \(checkpoints): give an age such as 30d, 12h, 90m, 45s or 0", kind: .input)
            }
            let store = options.open(errors: report)
            let freed = report.input { try store.collectGarbage(checkpointAge: age, dryRun: dryRun) }
            Runs.printFreed(freed, dryRun: dryRun, json: json, verb: "collected")
        }

        /// "30d" → 2,592,000; a bare number is seconds.
        static func seconds(_ text: String) -> Double? {
            let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604_800]
            if let unit = text.last, let scale = units[unit], let n = Double(text.dropLast()), n >= 0 { return n * scale }
            if let n = Double(text), n >= 0 { return n }
            return nil
        }
    }

    static func printFreed(_ f: RunStore.Freed, dryRun: Bool, json: Bool, verb: String) {
        if json {
            print(
                TaskValueJSON.encode(
                    .table([
                        ("dry_run", .bool(dryRun)), ("runs", .array(f.runs.map { .string($0) })), ("artifacts", .integer(f.artifacts)),
                        ("checkpoints", .integer(f.checkpoints)), ("stray_files", .integer(f.strayFiles)),
                        ("bytes_freed", .integer(f.bytes)), ("database_bytes_freed", .integer(f.databaseBytes)),
                        ("spared", .integer(f.spared)), ("compaction_error", f.compaction.map { .string($0) } ?? .null),
                    ]), indent: nil))
            return
        }
        var parts: [String] = []
        if !f.runs.isEmpty { parts.append("\(f.runs.count) run\(f.runs.count == 1 ? "" : "s")") }
        if f.checkpoints > 0 || verb == "collected" { parts.append("\(f.checkpoints) checkpoints") }
        parts.append("\(f.artifacts) artifacts")
        if f.strayFiles > 0 || verb == "collected" { parts.append("\(f.strayFiles) stray files") }
        let space = Runs.bytes(f.bytes) + (f.databaseBytes > 0 ? " of files and \(Runs.bytes(f.databaseBytes)) of database" : "")
        print(
            (dryRun ? "would be \(verb): " : "\(verb): ") + parts.joined(separator: ", ") + (dryRun ? "; would free " : "; freed ") + space)
        for r in f.runs { print("  \(r)") }
        if f.spared > 0 {
            print("spared: \(f.spared) artifacts stored since the oldest running run began (it may name them yet)")
        }
        if let why = f.compaction { print("the database was not compacted: \(why)") }
    }
}
