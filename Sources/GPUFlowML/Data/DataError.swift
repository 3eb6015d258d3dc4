/// A data file or data request that cannot be used, naming the file and line where it applies.
public struct DataError: Error, CustomStringConvertible, Sendable {
    public let file: String?
    public let line: Int?
    public let message: String

    public init(file: String? = nil, line: Int? = nil, _ message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String {
        switch (file, line) {
        case (let f?, let l?): return "\(f):\(l): \(message)"
        case (let f?, nil): return "\(f): \(message)"
        default: return message
        }
    }
}
