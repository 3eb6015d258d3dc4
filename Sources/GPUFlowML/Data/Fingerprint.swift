import Crypto
import Foundation
import GPUFlowCore

/// Incremental SHA-256, for identities built from several parts (a task's key, a data set's).
public struct Hasher256 {
    private var h = SHA256()
    public init() {}
    public mutating func add(_ d: Data) {
        var n = UInt64(d.count).littleEndian
        h.update(data: Data(bytes: &n, count: 8))  // length-prefixed: parts cannot run together
        h.update(data: d)
    }
    public mutating func add(_ s: String) { add(Data(s.utf8)) }
    public var hex: String { Hex.encode(h.finalize()) }
}

extension Dataset {
    /// SHA-256 of the shape, features and labels: equal for equal data, whatever its source.
    /// Categorical columns add their code tables (two files whose codes agree but whose values
    /// differ are different data); numeric data sets hash exactly as before they existed.
    public var fingerprint: Data {
        var h = Hasher256()
        h.add("\(rows)x\(cols)")
        h.add(Data(FloatBytes.encode(features)))
        h.add(Data(FloatBytes.encode(labels)))
        for c in categories {
            h.add("category \(c.column) \(c.name)")
            for v in c.values { h.add(v) }
        }
        return Data(h.hex.utf8)
    }
}
