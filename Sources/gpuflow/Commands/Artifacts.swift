import ArgumentParser
import Foundation
import GPUFlowCore
import GPUFlowStore

/// `gpuflow artifacts list RUN | get RUN NAME [-o FILE]`: what a run stored (models, the
/// script's output, datasets of cached stages), read back byte for byte.
struct Artifacts: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "artifacts", abstract: "List a run's artifacts and fetch them.", subcommands: [List.self, Get.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "A run's artifacts: name, kind, task, size, sha256.")
        @OptionGroup var options: StoreOption
        @Argument(help: ArgumentHelp("A run id, a unique prefix, or last.", valueName: "run")) var runID: String
        @Flag(help: "Print them as JSON (errors too).") var json = false

        func run() throws {
            let report = JSONErrors(enabled: json)
            let store = options.open(errors: report)
            let id = report.input { try store.resolve(runID) }
            let entries = report.input { try store.artifactEntries(id) }
            if json {
                print(
                    TaskValueJSON.encode(
                        .array(
                            entries.map { a in
                                .table([
                                    ("name", .string(a.name)), ("kind", .string(a.kind)), ("task", a.taskID.map { .integer($0) } ?? .null),
                                    ("bytes", .integer(a.bytes)), ("sha256", .string(a.hash)), ("created_at", .number(a.createdAt)),
                                ])
                            }), indent: nil))
                return
            }
            guard !entries.isEmpty else {
                print("run \(id) stored no artifacts")
                return
            }
            let width = max(4, entries.map(\.name.count).max() ?? 0)
            print("name".padding(toLength: width, withPad: " ", startingAt: 0) + "  kind        task  size        sha256")
            for a in entries {
                print(
                    a.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                        + a.kind.padding(toLength: 10, withPad: " ", startingAt: 0)
                        + "  " + (a.taskID.map(String.init) ?? "—").padding(toLength: 4, withPad: " ", startingAt: 0) + "  "
                        + Runs.bytes(a.bytes).padding(toLength: 10, withPad: " ", startingAt: 0) + "  " + a.hash)
            }
        }
    }

    struct Get: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "get", abstract: "Write an artifact's bytes (checked against its sha256) to a file or stdout.")
        @OptionGroup var options: StoreOption
        @Argument(help: ArgumentHelp("A run id, a unique prefix, or last.", valueName: "run")) var runID: String
        @Argument(help: "The artifact's name (as artifacts list shows it), or a prefix of its sha256.") var name: String
        @Option(name: [.short, .customLong("output")], help: "The file to write (default: stdout, unless it is a terminal).")
        var output: String?

        func run() throws {
            let store = options.open()
            let errors = JSONErrors(enabled: false)
            let id = errors.input { try store.resolve(runID) }
            let entries = errors.input { try store.artifactEntries(id) }
            var matches = entries.filter { $0.name == name }
            if matches.isEmpty, name.count >= 6 { matches = entries.filter { $0.hash.hasPrefix(name.lowercased()) } }
            guard let entry = matches.first else {
                errors.fail("\(StoreError.unknownArtifact(run: id, name: name, names: entries.map(\.name)))", kind: .input)
            }
            if Set(matches.map(\.hash)).count > 1 {
                errors.fail(
                    "run \(id) has \(matches.count) artifacts named '\(name)' (tasks \(matches.map { $0.taskID.map(String.init) ?? "—" }.joined(separator: ", "))): give a prefix of the sha256 instead ("
                        + matches.map { String($0.hash.prefix(12)) }.joined(separator: ", ") + ")", kind: .input)
            }
            let data = errors.input { try store.artifact(entry.hash) }
            guard let output else {
                if isatty(STDOUT_FILENO) != 0 && entry.kind != "output" {
                    errors.fail(
                        "\(entry.name) is \(entry.kind) data (\(Runs.bytes(data.count))): write it to a file with -o FILE", kind: .input)
                }
                FileHandle.standardOutput.write(data)
                return
            }
            do { try data.write(to: URL(fileURLWithPath: output), options: .atomic) } catch {
                errors.fail("-o \(output): \(error.localizedDescription)", kind: .input)
            }
            FileHandle.standardError.write(
                Data("wrote \(entry.name) (\(Runs.bytes(data.count)), sha256 \(entry.hash)) to \(output)\n".utf8))
        }
    }
}
