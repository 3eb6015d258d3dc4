import Foundation

/// Protocol Buffers' wire format, written field by field: enough for ONNX's messages (varints,
/// fixed32 floats, length-delimited strings, bytes and nested messages), which is all an
/// exporter needs; no reading, no schema.
struct ProtobufWriter {
    private(set) var bytes: [UInt8] = []

    private mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    private mutating func tag(_ field: Int, _ wire: UInt64) { varint(UInt64(field) << 3 | wire) }

    /// An int32/int64/enum field (negative values as ten-byte two's complement, as protobuf does).
    mutating func int(_ field: Int, _ v: Int) {
        tag(field, 0)
        varint(UInt64(bitPattern: Int64(v)))
    }

    mutating func float(_ field: Int, _ v: Float) {
        tag(field, 5)
        withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func data(_ field: Int, _ d: [UInt8]) {
        tag(field, 2)
        varint(UInt64(d.count))
        bytes.append(contentsOf: d)
    }

    mutating func string(_ field: Int, _ s: String) { data(field, Array(s.utf8)) }

    mutating func message(_ field: Int, _ build: (inout ProtobufWriter) -> Void) {
        var inner = ProtobufWriter()
        build(&inner)
        data(field, inner.bytes)
    }
}
