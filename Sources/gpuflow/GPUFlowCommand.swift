import ArgumentParser
import Foundation
import GPUFlowCompute
import GPUFlowCore
import Logging

/// The root command. Its exit codes are the error kinds' (`ErrorKind.exitCode`, the README's
/// table), so every subcommand ends the same way for the same kind of error.
@main
struct GPUFlowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpuflow",
        abstract: "Run GPU machine-learning workflows written in Lua, on Vulkan or the CPU.",
        discussion: "Exit codes: 0 success, " + ErrorKind.allCases.map { "\($0.exitCode) \($0.summary)" }.joined(separator: ", ") + ".",
        version: GPUFlowVersion.string,
        subcommands: [
            Run.self, Submit.self, Status.self, Cancel.self, Runs.self, Artifacts.self, Job.self, Replay.self, Report.self, Serve.self,
            ProfileCommand.self,
            Devices.self,
        ])

    /// Like `ParsableCommand.main()`, but usage errors exit with the input kind's code, 2, as the
    /// README documents (ArgumentParser's default is 64).
    static func main() {
        HostMemory.keepFreedPages()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code.rawValue == 64 {
                FileHandle.standardError.write(Data(("error: " + message(for: error) + "\n" + "Usage: " + usageString() + "\n").utf8))
                Foundation.exit(ExitStatus.badInput)
            }
            exit(withError: error)
        }
    }
}

extension LoggingSystem {
    /// Warnings and worse to stderr, once per process.
    static func bootstrapQuietly() {
        bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = .warning
            return h
        }
    }
}

/// The exit statuses by the names the commands use; each is its error kind's code, so the table
/// in `ErrorKind.exitCode` is the only one.
enum ExitStatus {
    static let scriptError = ErrorKind.script.exitCode
    static let badInput = ErrorKind.input.exitCode
    static let limit = ErrorKind.limit.exitCode
    static let noDevice = ErrorKind.device.exitCode
    /// Slurm refused or failed (sbatch, sinfo, scancel missing or erroring); what was submitted stays.
    static let scheduler = ErrorKind.scheduler.exitCode
}

/// Prints `error: message` to stderr and exits with `code`.
func fail(_ message: String, code: Int32) -> Never {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    Foundation.exit(code)
}
