/// A profile that cannot be used, with the place in the file that is wrong.
public struct ProfileError: Error, KindedError, CustomStringConvertible, Sendable {
    public var kind: ErrorKind { .input }
    public let file: String
    public let line: Int
    public let column: Int
    public let message: String

    public init(file: String, line: Int, column: Int, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }

    /// `FILE:LINE:COL: message`, the shape compilers use so editors can jump to it.
    public var description: String { "\(file):\(line):\(column): \(message)" }
}
