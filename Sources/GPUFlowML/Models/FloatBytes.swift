/// Float32 arrays as little-endian bytes, bit for bit: the one encoding model files and
/// checkpoints share.
public enum FloatBytes {
    static func encode(_ values: [Float], into bytes: inout [UInt8]) {
        bytes.reserveCapacity(bytes.count + values.count * 4)
        for v in values {
            let b = v.bitPattern
            bytes += [UInt8(b & 0xFF), UInt8(b >> 8 & 0xFF), UInt8(b >> 16 & 0xFF), UInt8(b >> 24)]
        }
    }

    public static func encode(_ values: [Float]) -> [UInt8] {
        var out: [UInt8] = []
        encode(values, into: &out)
        return out
    }

    /// `count` floats starting at byte `offset`; the caller has checked the bytes are there.
    public static func decode(_ b: [UInt8], offset: Int, count: Int) -> [Float] {
        (0..<count).map { j in
            let o = offset + 4 * j
            return Float(bitPattern: UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24)
        }
    }
}
