import Foundation
import GPUFlowCore
import GPUFlowStore

/// How a command with `--json` fails: with `--json`, the error is a JSON object on stdout
/// (`{"error": {"code": "input", "message": ...}}`, code the error's kind), so a program reading
/// the output always reads JSON; without it, `error: message` on stderr. The exit code is the
/// same either way.
struct JSONErrors {
    let enabled: Bool

    func fail(_ message: String, kind: ErrorKind) -> Never {
        if enabled {
            print(
                TaskValueJSON.encode(
                    .table([("error", .table([("code", .string(kind.rawValue)), ("message", .string(message))]))]), indent: nil))
            fflush(nil)
            Foundation.exit(kind.exitCode)
        }
        gpuflow.fail(message, code: kind.exitCode)
    }

    /// Runs `body`; what it throws ends the command as bad input.
    func input<T>(_ body: () throws -> T) -> T {
        do { return try body() } catch { fail("\(error)", kind: .input) }
    }

    /// The run store the command reads.
    func open(_ options: StoreOption) -> RunStore {
        let path = options.store ?? RunStore.defaultPath()
        guard FileManager.default.fileExists(atPath: path) else { fail("no run store at \(path) (nothing recorded yet)", kind: .input) }
        return input { try RunStore(path: path) }
    }
}
