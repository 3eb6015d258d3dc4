/// What kind of thing went wrong, kept from where an error is raised up to the exit code, so
/// that the same bad file ends a run the same way in a script's main chunk and inside a task.
public enum ErrorKind: String, Sendable, Codable, CaseIterable {
    /// The script's own error: a Lua error, a failed assertion, a task's work that threw.
    case script
    /// Bad usage or a wrong input: a profile, a data set, a model file, a request.
    case input
    /// A sandbox or resource limit: instructions, memory, a quota, a timeout.
    case limit
    /// No usable device where one was required.
    case device
    /// The cluster scheduler refused or failed (sbatch, sinfo, scancel).
    case scheduler

    /// The one table from kinds to the CLI's exit codes (README: exit codes).
    public var exitCode: Int32 {
        switch self {
        case .script: return 1
        case .input: return 2
        case .limit: return 3
        case .device: return 4
        case .scheduler: return 5
        }
    }

    /// What the exit code says, for `--help` and the README's table.
    public var summary: String {
        switch self {
        case .script: return "script error"
        case .input: return "bad usage, profile or input file"
        case .limit: return "sandbox or resource limit"
        case .device: return "no usable device"
        case .scheduler: return "Slurm failed"
        }
    }

    /// The kind an error declares, else `script` (an error of the work itself).
    public static func of(_ error: Error) -> ErrorKind {
        (error as? KindedError)?.kind ?? .script
    }
}

/// An error that says what kind it is.
public protocol KindedError: Error {
    var kind: ErrorKind { get }
}
