/// Strings stored once, referred to by index: the names, types and agents of a million tasks
/// are a handful of distinct strings.
public struct StringTable: Sendable {
    private var strings: [String] = []
    private var ids: [String: UInt32] = [:]

    public init() {}

    public mutating func id(_ s: String) -> UInt32 {
        if let known = ids[s] { return known }
        let n = UInt32(strings.count)
        strings.append(s)
        ids[s] = n
        return n
    }

    public subscript(id: UInt32) -> String { strings[Int(id)] }
}
