import GPUFlowCore

/// An error of a task's work that is not about reading a file: a model and a data set that do
/// not fit, a setting out of range, a backend that lacks what the task needs, a run that
/// diverged. Its kind travels to the exit code, so the same mistake ends a run the same way
/// whether the script's main chunk or a task's work made it.
public struct MLError: KindedError, CustomStringConvertible, Sendable {
    public let kind: ErrorKind
    public let message: String

    /// Most of these are the caller's: a mismatch or a setting the user can change.
    public init(_ message: String, kind: ErrorKind = .input) {
        self.message = message
        self.kind = kind
    }

    public var description: String { message }
}
