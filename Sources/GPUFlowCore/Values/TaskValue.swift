/// A value that crosses from a script into a task and back: plain data plus opaque objects
/// (models, data sets, tensors) that the layers above define.
///
/// Kept independent of Lua so the orchestrator can carry results between tasks of different
/// scripts, and of ML so the core needs nothing above it.
public enum TaskValue: Sendable {
    case null
    case bool(Bool)
    case integer(Int)
    case number(Double)
    case string(String)
    /// A Lua string that is not valid UTF-8 (Lua strings are bytes): kept byte for byte, so a
    /// byte-level model's text or a script's binary string comes back unchanged.
    case bytes([UInt8])
    case array([TaskValue])
    /// Keys keep insertion order so printed results read the way they were built.
    case table([(String, TaskValue)])
    case floats([Float])
    case object(any TaskObject)

    public subscript(key: String) -> TaskValue? {
        guard case .table(let pairs) = self else { return nil }
        return pairs.first(where: { $0.0 == key })?.1
    }

    public var doubleValue: Double? {
        switch self {
        case .integer(let i): return Double(i)
        case .number(let d): return d
        default: return nil
        }
    }

    public var stringValue: String? {
        guard case .string(let s) = self else { return nil }
        return s
    }

    /// A string when the bytes are valid UTF-8 (they print and encode as text), bytes otherwise.
    public static func text<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> TaskValue {
        String(validating: bytes, as: UTF8.self).map(TaskValue.string) ?? .bytes(Array(bytes))
    }
}

/// An object a task can return or take as input without the core knowing its type.
public protocol TaskObject: AnyObject, Sendable {
    /// A short type name for messages and printing ("model", "dataset", "tensor").
    var kind: String { get }
    /// A stable identifier, used as `model_id` and in records.
    var objectID: String { get }
}
