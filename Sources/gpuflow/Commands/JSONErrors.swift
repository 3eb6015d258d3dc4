import Foundation
import GPUFlowCore

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

}
