/// A submission the orchestrator refuses outright; nothing of it was queued.
public struct SubmitError: Error, CustomStringConvertible, Sendable, Equatable {
    private enum Code: Equatable {
        case unknownDependency(String)
        case cycle([String])
        case exceedsPool(name: String, memoryMB: Int, poolMB: Int)
        case duplicateKey(String)
        case invalid(String)
    }
    private let code: Code
    private init(_ code: Code) { self.code = code }

    public static func unknownDependency(_ what: String) -> SubmitError { .init(.unknownDependency(what)) }
    public static func cycle(_ path: [String]) -> SubmitError { .init(.cycle(path)) }
    public static func exceedsPool(name: String, memoryMB: Int, poolMB: Int) -> SubmitError {
        .init(.exceedsPool(name: name, memoryMB: memoryMB, poolMB: poolMB))
    }
    public static func duplicateKey(_ key: String) -> SubmitError { .init(.duplicateKey(key)) }
    public static func invalid(_ message: String) -> SubmitError { .init(.invalid(message)) }

    public var isCycle: Bool { if case .cycle = code { return true } else { return false } }

    public var description: String {
        switch code {
        case .unknownDependency(let w): return "unknown dependency \(w)"
        case .cycle(let path): return "dependency cycle: \(path.joined(separator: " -> "))"
        case .exceedsPool(let n, let m, let p):
            return "task \(n) needs \(m) MB but the memory pool holds \(p) MB (resources.memory_pool_mb)"
        case .duplicateKey(let k): return "task key '\(k)' used twice in one graph"
        case .invalid(let m): return m
        }
    }
}
