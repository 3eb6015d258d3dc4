import GPUFlowCore

/// A data file or data request that cannot be used, naming the file, line and column where it
/// applies (`file:line:column: message`, the form editors jump to).
public struct DataError: KindedError, CustomStringConvertible, Sendable {
    public var kind: ErrorKind { .input }
    public let file: String?
    public let line: Int?
    /// 1-based; only with a line.
    public let column: Int?
    public let message: String

    public init(file: String? = nil, line: Int? = nil, column: Int? = nil, _ message: String) {
        self.file = file
        self.line = line
        self.column = line == nil ? nil : column
        self.message = message
    }

    public var description: String {
        switch (file, line, column) {
        case (let f?, let l?, let c?): return "\(f):\(l):\(c): \(message)"
        case (let f?, let l?, nil): return "\(f):\(l): \(message)"
        case (let f?, nil, _): return "\(f): \(message)"
        default: return message
        }
    }
}
