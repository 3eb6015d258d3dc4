import Foundation

/// What can go wrong talking to Slurm, each naming the command and what it said.
public enum SlurmError: Error, CustomStringConvertible, Equatable {
    case missing(tool: String)
    case failed(command: String, status: Int32, stderr: String)
    case unexpected(command: String, output: String)

    public var description: String {
        switch self {
        case .missing(let t):
            return
                "\(t) is not on PATH: gpuflow submits through Slurm's commands (sbatch, squeue, sacct, scancel, sinfo); install Slurm's client or run on a login node"
        case .failed(let c, let s, let e):
            let said = e.trimmingCharacters(in: .whitespacesAndNewlines)
            return "\(c) failed (exit \(s))" + (said.isEmpty ? "" : ": \(said.split(separator: "\n").prefix(3).joined(separator: " / "))")
        case .unexpected(let c, let o):
            return "\(c) printed something gpuflow cannot read: \"\(o.prefix(200))\""
        }
    }
}

/// Runs Slurm's command-line tools. Every call is one process with its output captured; the
/// tools are found on PATH (so a site's wrappers, and the tests' failing ones, are used).
public struct SlurmCommands: Sendable {
    public var environment: [String: String]
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) { self.environment = environment }

    public func locate(_ tool: String) -> String? {
        for dir in (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let p = "\(dir)/\(tool)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    /// The tool's stdout; a non-zero exit is an error with its stderr.
    public func run(_ tool: String, _ arguments: [String]) throws -> String {
        guard let path = locate(tool) else { throw SlurmError.missing(tool: tool) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        p.environment = environment
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        do { try p.run() } catch { throw SlurmError.failed(command: tool, status: -1, stderr: "\(error)") }
        // stdout first (it can be long: squeue of a big run); Slurm's tools say little on stderr,
        // far less than a pipe holds.
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let stdout = String(decoding: outData, as: UTF8.self)
        guard p.terminationStatus == 0 else {
            throw SlurmError.failed(
                command: ([tool] + arguments.prefix(3)).joined(separator: " "), status: p.terminationStatus,
                stderr: String(decoding: errData, as: UTF8.self))
        }
        return stdout
    }

    /// sbatch --parsable: the new job's id ("123", or "123;cluster" on a federation).
    public func submit(script: String, dependency: String?) throws -> String {
        var args = ["--parsable"]
        if let dependency { args += ["--dependency=\(dependency)"] }
        args.append(script)
        let out = try run("sbatch", args).trimmingCharacters(in: .whitespacesAndNewlines)
        let id = String(out.split(separator: ";").first ?? "")
        guard !id.isEmpty, id.allSatisfy(\.isNumber) else { throw SlurmError.unexpected(command: "sbatch --parsable", output: out) }
        return id
    }

    public func cancel(_ jobIDs: [String]) throws {
        guard !jobIDs.isEmpty else { return }
        _ = try run("scancel", jobIDs)
    }
}
