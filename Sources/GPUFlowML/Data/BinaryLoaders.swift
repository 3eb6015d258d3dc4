import Foundation

/// NumPy `.npy` (format 1–3, little-endian float32/float64/int8–int64/uint8, C or Fortran order)
/// and IDX (the MNIST format, big-endian). Every problem names the file and the byte offset.
public enum BinaryLoaders {

    /// The number of elements a shape holds, checked against the bytes the file really has: a
    /// header may claim any shape (2^62 rows), so the product is computed without overflow and
    /// must match the data before anything is allocated for it.
    static func elementCount(_ shape: [Int], width: Int, available: Int, path: String, offset: Int, what: String) throws -> Int {
        var count = 1
        for d in shape {
            let (n, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow else { throw DataError(file: path, "\(what) at offset \(offset) holds more elements than any file can") }
            count = n
        }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: width)
        guard !overflow, bytes == available else {
            throw DataError(
                file: path,
                "data at offset \(offset) holds \(available) bytes; \(what) needs \(overflow ? "more than Int.max" : String(bytes))")
        }
        return count
    }
    /// An n-dimensional array of numbers, row-major.
    public struct Array: Sendable {
        public let shape: [Int]
        public let values: [Float]
    }

    static func read(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError(file: path, "cannot read file (missing or unreadable)")
        }
        return [UInt8](data)
    }

    // MARK: .npy

    public static func npy(path: String) throws -> Array {
        let b = try read(path)
        let magic: [UInt8] = [0x93] + Swift.Array("NUMPY".utf8)
        guard b.count >= 10, Swift.Array(b[0..<6]) == magic else { throw DataError(file: path, "not a .npy file (bad magic at offset 0)") }
        let major = b[6]
        let headerLength: Int, headerStart: Int
        switch major {
        case 1: headerLength = Int(b[8]) | Int(b[9]) << 8; headerStart = 10
        case 2, 3:
            guard b.count >= 12 else { throw DataError(file: path, "truncated header length at offset 8") }
            headerLength = Int(b[8]) | Int(b[9]) << 8 | Int(b[10]) << 16 | Int(b[11]) << 24
            headerStart = 12
        default: throw DataError(file: path, ".npy format version \(major) is not supported (1–3 are)")
        }
        guard headerStart + headerLength <= b.count,
            let header = String(bytes: b[headerStart..<(headerStart + headerLength)], encoding: .utf8)
        else {
            throw DataError(file: path, "header of \(headerLength) bytes at offset \(headerStart) is truncated or not text")
        }
        func field(_ name: String) -> String? {
            guard let r = header.range(of: "'\(name)':") else { return nil }
            return String(header[r.upperBound...]).trimmingCharacters(in: .whitespaces)
        }
        guard let descrField = field("descr") else { throw DataError(file: path, "header at offset \(headerStart) has no 'descr'") }
        let dtype = try NpyDtype.parse(descrField, path: path, offset: headerStart)
        let descr = dtype.descr
        let fortran = field("fortran_order")?.hasPrefix("True") ?? false
        guard let shapeField = field("shape"), let open = shapeField.firstIndex(of: "("), let close = shapeField.firstIndex(of: ")") else {
            throw DataError(file: path, "header at offset \(headerStart) has no 'shape'")
        }
        let shape = try shapeField[shapeField.index(after: open)..<close].split(separator: ",").map { s -> Int in
            guard let n = Int(s.trimmingCharacters(in: .whitespaces)), n >= 0 else {
                throw DataError(file: path, "shape (\(shapeField[open...close])) at offset \(headerStart) is not a list of sizes")
            }
            return n
        }
        let start = headerStart + headerLength
        let kind = dtype.kind, width = dtype.width
        if fortran && shape.count > 2 {
            throw DataError(
                file: path, "Fortran-ordered arrays of more than 2 dimensions are not supported; save with np.ascontiguousarray(arr)")
        }
        let count = try Self.elementCount(
            shape, width: width, available: b.count - start, path: path, offset: start, what: "shape \(shape) of \(descr)")
        var values = [Float](repeating: 0, count: count)
        for i in 0..<count {
            let o = start + i * width
            var raw: UInt64 = 0
            for k in 0..<width { raw |= UInt64(b[o + k]) << (8 * UInt64(k)) }
            switch kind {
            case "f4": values[i] = try finite(Float(bitPattern: UInt32(raw)), i, o, shape, fortran: fortran, path: path)
            case "f8": values[i] = try finite(Double(bitPattern: raw), i, o, shape, fortran: fortran, path: path)
            case "i1": values[i] = Float(Int8(truncatingIfNeeded: raw))
            case "i2": values[i] = Float(Int16(truncatingIfNeeded: raw))
            case "i4": values[i] = Float(Int32(truncatingIfNeeded: raw))
            case "i8": values[i] = Float(Int64(bitPattern: raw))
            default: values[i] = Float(raw)
            }
        }
        if fortran && shape.count == 2 {  // column-major on disk: transpose to row-major
            let (r, c) = (shape[0], shape[1])
            var t = [Float](repeating: 0, count: count)
            for i in 0..<r { for j in 0..<c { t[i * c + j] = values[j * r + i] } }
            values = t
        }
        return Array(shape: shape, values: values)
    }

    /// A stored float as the float32 a data set holds. NaN, ±Inf and float64 values beyond
    /// float32's range (which would become ±Inf) are refused, naming the element: its index in
    /// the array, as NumPy would print it, and its byte offset in the file.
    static func finite<F: BinaryFloatingPoint>(_ v: F, _ i: Int, _ offset: Int, _ shape: [Int], fortran: Bool, path: String) throws -> Float
    {
        let f = Float(v)
        guard v.isFinite, f.isFinite else {
            let what = v.isNaN ? "NaN" : v.isInfinite ? (v > 0 ? "inf" : "-inf") : "\(Double(v)), beyond float32's ±3.4e38,"
            throw DataError(
                file: path,
                "element \(i) (index \(position(i, shape, fortran: fortran))) at offset \(offset) is \(what) and a data set holds finite numbers only; clean the array first (np.isfinite)"
            )
        }
        return f
    }

    /// The n-dimensional index of the i-th element stored, "[r, c]" (column-major when Fortran-ordered).
    static func position(_ i: Int, _ shape: [Int], fortran: Bool) -> String {
        var rest = i, index = [Int](repeating: 0, count: shape.count)
        for d in (fortran ? Swift.Array(shape.indices) : shape.indices.reversed()) where shape[d] > 0 {
            index[d] = rest % shape[d]
            rest /= shape[d]
        }
        return "[" + index.map(String.init).joined(separator: ", ") + "]"
    }

    // MARK: IDX

    public static func idx(path: String) throws -> Array {
        let b = try read(path)
        guard b.count >= 4, b[0] == 0, b[1] == 0 else { throw DataError(file: path, "not an IDX file (bad magic at offset 0)") }
        let type = b[2], dims = Int(b[3])
        let width: Int
        switch type {
        case 0x08, 0x09: width = 1
        case 0x0B: width = 2
        case 0x0C, 0x0D: width = 4
        case 0x0E: width = 8
        default: throw DataError(file: path, "IDX data type 0x\(String(type, radix: 16)) at offset 2 is not one of 08 09 0B 0C 0D 0E")
        }
        guard dims >= 1, b.count >= 4 + 4 * dims else {
            throw DataError(file: path, "IDX header with \(dims) dimensions is truncated (offset 4)")
        }
        let shape = (0..<dims).map { d -> Int in
            let o = 4 + 4 * d
            return Int(b[o]) << 24 | Int(b[o + 1]) << 16 | Int(b[o + 2]) << 8 | Int(b[o + 3])
        }
        let start = 4 + 4 * dims
        let count = try Self.elementCount(
            shape, width: width, available: b.count - start, path: path, offset: start, what: "shape \(shape)")
        var values = [Float](repeating: 0, count: count)
        for i in 0..<count {
            let o = start + i * width
            var raw: UInt64 = 0
            for k in 0..<width { raw = raw << 8 | UInt64(b[o + k]) }  // big-endian
            switch type {
            case 0x08: values[i] = Float(raw)
            case 0x09: values[i] = Float(Int8(truncatingIfNeeded: raw))
            case 0x0B: values[i] = Float(Int16(truncatingIfNeeded: raw))
            case 0x0C: values[i] = Float(Int32(truncatingIfNeeded: raw))
            case 0x0D: values[i] = try finite(Float(bitPattern: UInt32(raw)), i, o, shape, fortran: false, path: path)
            default: values[i] = try finite(Double(bitPattern: raw), i, o, shape, fortran: false, path: path)
            }
        }
        return Array(shape: shape, values: values)
    }

    /// A data set from a features array (rows × …) and a labels array (rows), or, without
    /// labels, from a 2-D array whose last column is the label. Each sample keeps the shape it
    /// has in the array ([rows, 3, 32, 32] gives samples of [3, 32, 32]); `images`: a
    /// [rows, height, width] array is a set of one-channel images ([1, height, width]), as
    /// MNIST's IDX files are. ds:reshape{features} gives rows of features again.
    public static func dataset(features: Array, labels: Array?, source: String, images: Bool = false) throws -> Dataset {
        guard let rows = features.shape.first, rows > 0 else { throw DataError(file: source, "the features array is empty") }
        if let labels {
            // One label per row ([rows]) or several targets per row ([rows, k]).
            guard labels.shape.first == rows, labels.shape.count <= 2, labels.values.count % rows == 0, !labels.values.isEmpty else {
                throw DataError(
                    file: source, "\(labels.values.count) labels (shape \(labels.shape)) for \(rows) rows (shape \(features.shape))")
            }
            let cols = features.values.count / rows
            guard cols > 0 else { throw DataError(file: source, "the features array has no columns") }
            let width = labels.values.count / rows
            let first = width == 1 ? labels.values : stride(from: 0, to: labels.values.count, by: width).map { labels.values[$0] }
            var shape = Swift.Array(features.shape.dropFirst())
            if images && shape.count == 2 { shape = [1] + shape }
            return Dataset(
                features: features.values, rows: rows, cols: cols, labels: first, source: source,
                sampleShape: shape.count > 1 ? shape : nil, targets: width > 1 ? labels.values : nil)
        }
        guard features.shape.count == 2, features.shape[1] >= 2 else {
            throw DataError(
                file: source, "without a labels file the array must be 2-D with the label in its last column (shape \(features.shape))")
        }
        let c = features.shape[1]
        var x: [Float] = [], y: [Float] = []
        x.reserveCapacity(rows * (c - 1))
        for r in 0..<rows {
            x.append(contentsOf: features.values[(r * c)..<(r * c + c - 1)])
            y.append(features.values[r * c + c - 1])
        }
        return Dataset(features: x, rows: rows, cols: c - 1, labels: y, source: source)
    }
}
