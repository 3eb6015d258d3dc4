import Foundation
import GPUFlowCore

/// The safetensors format (huggingface/safetensors): an 8-byte little-endian header length, a
/// JSON header naming each tensor's dtype, shape and byte range (and an optional
/// `__metadata__` of strings), padded with spaces to 8 bytes, then the raw little-endian data.
/// gpuflow's own model files and PyTorch state dicts both travel in it; this type knows the
/// format and nothing of models.
public enum Safetensors {
    public struct Tensor: Sendable, Equatable {
        public var name: String
        /// The file's dtype ("F32", "F16", "BF16", "F64", "I64", ...).
        public var dtype: String
        public var shape: [Int]
        /// The values as float32; nil for an integer or boolean tensor (a counter such as
        /// BatchNorm's `num_batches_tracked`), which gpuflow never reads as weights.
        public var values: [Float]?
    }

    public struct File: Sendable {
        /// In the order of their bytes in the file.
        public var tensors: [Tensor]
        public var metadata: [String: String]

        public subscript(name: String) -> Tensor? { tensors.first { $0.name == name } }
    }

    /// The most header bytes accepted (the reference implementation's own limit is 100 MB).
    static let maxHeader = 100_000_000

    /// The floating dtypes read, with their element sizes.
    static let floatSizes = ["F32": 4, "F16": 2, "BF16": 2, "F64": 8]
    static let otherSizes = ["I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1, "U16": 2, "U32": 4, "U64": 8]

    /// Reads a file's bytes; `file` names it in errors, which name the tensor and what is wrong.
    public static func read(_ bytes: [UInt8], file: String) throws -> File {
        func fail(_ what: String) -> DataError { DataError(file: file, "not a safetensors file: \(what)") }
        guard bytes.count >= 8 else { throw fail("\(bytes.count) bytes, shorter than the 8-byte header length") }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard n <= UInt64(bytes.count - 8), n < UInt64(maxHeader) else {
            throw fail("header length \(n) runs past the file's \(bytes.count) bytes")
        }
        let headerEnd = 8 + Int(n)
        guard let header = try? JSONSerialization.jsonObject(with: Data(bytes[8..<headerEnd])) as? [String: Any] else {
            throw fail("the header is not a JSON object")
        }
        var metadata: [String: String] = [:]
        if let meta = header["__metadata__"] {
            guard let m = meta as? [String: String] else { throw fail("__metadata__ is not a map of strings") }
            metadata = m
        }
        let data = bytes.count - headerEnd
        var tensors: [(Int, Tensor)] = []
        for (name, value) in header where name != "__metadata__" {
            func bad(_ what: String) -> DataError { DataError(file: file, "tensor '\(name)': \(what)") }
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String, let shape = entry["shape"] as? [Int],
                let range = entry["data_offsets"] as? [Int], range.count == 2
            else { throw bad("its header entry lacks dtype, shape or data_offsets") }
            guard shape.allSatisfy({ $0 >= 0 && $0 <= 1 << 31 }) else { throw bad("shape \(shape) has a negative or huge axis") }
            let (count, overflow) = shape.reduce((1, false)) { acc, d in
                let (p, o) = acc.0.multipliedReportingOverflow(by: d)
                return (p, acc.1 || o)
            }
            guard let size = floatSizes[dtype] ?? otherSizes[dtype] else {
                throw bad("dtype \(dtype) is not one gpuflow reads (F32, F16, BF16, F64, or an integer counter)")
            }
            let (byteCount, o2) = count.multipliedReportingOverflow(by: size)
            guard !overflow, !o2, range[0] >= 0, range[1] >= range[0], range[1] - range[0] == byteCount, range[1] <= data else {
                throw bad("bytes \(range) do not hold \(shape) of \(dtype) in the file's \(data) bytes of data")
            }
            var values: [Float]?
            if floatSizes[dtype] != nil {
                let v = decode(bytes, offset: headerEnd + range[0], count: count, dtype: dtype)
                if let i = v.firstIndex(where: { !$0.isFinite }) { throw bad("element \(i) is \(v[i]) (as float32)") }
                values = v
            }
            tensors.append((range[0], Tensor(name: name, dtype: dtype, shape: shape, values: values)))
        }
        return File(tensors: tensors.sorted { ($0.0, $0.1.name) < ($1.0, $1.1.name) }.map(\.1), metadata: metadata)
    }

    public static func read(path: String) throws -> File {
        guard let d = FileManager.default.contents(atPath: path) else { throw DataError(file: path, "cannot read (missing or unreadable)") }
        return try read([UInt8](d), file: path)
    }

    /// Whether the bytes carry a `__metadata__` key `key` (a cheap look at the header, for
    /// telling a gpuflow model file from a plain state dict before reading all of it).
    public static func metadataValue(_ bytes: [UInt8], key: String) -> String? {
        guard bytes.count >= 8 else { return nil }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard n <= UInt64(bytes.count - 8), n < UInt64(maxHeader),
            let header = try? JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + Int(n))])) as? [String: Any],
            let meta = header["__metadata__"] as? [String: String]
        else { return nil }
        return meta[key]
    }

    /// A file of float32 tensors, laid out in the given order, with `metadata`.
    public static func write(_ tensors: [(name: String, shape: [Int], values: [Float])], metadata: [String: String]) throws -> [UInt8] {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for t in tensors {
            let bytes = t.values.count * 4
            header[t.name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + bytes]] as [String: Any]
            offset += bytes
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        // The format pads the header with spaces to a multiple of 8 so the data is aligned.
        while json.count % 8 != 0 { json.append(UInt8(ascii: " ")) }
        var out = [UInt8]()
        out.reserveCapacity(8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: json)
        for t in tensors { out.append(contentsOf: FloatBytes.encode(t.values)) }
        return out
    }

    private static func decode(_ b: [UInt8], offset: Int, count: Int, dtype: String) -> [Float] {
        switch dtype {
        case "F32": return FloatBytes.decode(b, offset: offset, count: count)
        case "F64":
            return (0..<count).map { j in
                var bits: UInt64 = 0
                for k in 0..<8 { bits |= UInt64(b[offset + 8 * j + k]) << (8 * UInt64(k)) }
                return Float(Double(bitPattern: bits))
            }
        case "BF16":  // the top half of a float32
            return (0..<count).map { j in
                Float(bitPattern: (UInt32(b[offset + 2 * j]) | UInt32(b[offset + 2 * j + 1]) << 8) << 16)
            }
        default:  // F16
            return (0..<count).map { j in half(UInt16(b[offset + 2 * j]) | UInt16(b[offset + 2 * j + 1]) << 8) }
        }
    }

    /// IEEE binary16 to float32, subnormals included.
    static func half(_ h: UInt16) -> Float {
        let sign: Float = h & 0x8000 != 0 ? -1 : 1
        let exponent = Int(h >> 10 & 0x1F), mantissa = Float(h & 0x3FF)
        switch exponent {
        case 0: return sign * mantissa * pow(2, -24)
        case 31: return mantissa == 0 ? sign * .infinity : .nan
        default: return sign * (1 + mantissa / 1024) * pow(2, Float(exponent - 15))
        }
    }
}
