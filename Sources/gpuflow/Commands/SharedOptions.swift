import ArgumentParser
import Foundation
import GPUFlowCore
import GPUFlowStore

/// The options several commands take, declared once so that their names, help and parsing
/// cannot drift apart between commands.
struct StoreOption: ParsableArguments {
    @Option(
        help:
            "The run store (a SQLite file); default: the profile's store.path, else runs.sqlite (server.sqlite for serve) under the data directory. `none` runs without recording where the command allows it."
    )
    var store: String?

    /// Opens an existing store for reading: a store that does not exist has nothing to show.
    /// The store to read; a missing or unreadable one ends the command as bad input, reported
    /// as `errors` says (JSON under `--json`).
    func open(errors: JSONErrors = JSONErrors(enabled: false)) -> RunStore {
        let path = store ?? RunStore.defaultPath()
        guard FileManager.default.fileExists(atPath: path) else {
            errors.fail("no run store at \(path) (nothing recorded yet)", kind: .input)
        }
        return errors.input { try RunStore(path: path) }
    }
}

struct ProfileOption: ParsableArguments {
    @Option(help: "A YAML resource profile; the built-in defaults when omitted.")
    var profile: String?
}

/// What makes a run repeatable on another host: its seed and its backend.
struct SeedBackendOptions: ParsableArguments {
    @Option(help: "Seed for every random choice the script does not seed itself (each stage of a cluster run derives its own from it).")
    var seed: UInt64 = 0

    @Option(help: "Backend: auto, cpu, simd or vulkan (overrides the profile's device.backend).")
    var backend: BackendKind?
}
