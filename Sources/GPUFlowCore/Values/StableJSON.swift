import Foundation

/// JSON whose bytes depend only on the value: Foundation's encoder orders an object's keys
/// differently in every process, so anything hashed, compared or content-addressed (a model
/// file, a checkpoint and its key, a stage's status) is encoded with sorted keys, here.
public enum StableJSON {
    public static func encode<T: Encodable>(_ value: T) throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return try e.encode(value)
    }
}
