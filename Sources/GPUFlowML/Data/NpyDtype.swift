/// The element type of a `.npy` array, read from its header's `descr`, with a message for each
/// form NumPy writes that this loader cannot use: a structured dtype (a list of fields), big
/// endian, and kinds that are not numbers a data set can hold (complex, text, objects, dates).
struct NpyDtype: Equatable {
    /// "f4", "f8", "i1"..."i8", "u1"..."u8", "b1".
    let kind: String
    let width: Int
    let descr: String

    /// `field` is the header's text after `'descr':`.
    static func parse(_ field: String, path: String, offset: Int) throws -> NpyDtype {
        let hint = "save a plain float32 or float64 array (arr.astype('<f4'))"
        if field.hasPrefix("[") {
            throw DataError(
                file: path,
                "header at offset \(offset): structured dtypes (a record of named fields, \(field.prefix(60))...) are not supported; \(hint), one column per field"
            )
        }
        guard let q1 = field.first, q1 == "'" || q1 == "\"", let q2 = field.dropFirst().firstIndex(of: q1) else {
            throw DataError(file: path, "header at offset \(offset) has no 'descr' string")
        }
        let descr = String(field[field.index(after: field.startIndex)..<q2])
        guard let order = descr.first, descr.count >= 2 else {
            throw DataError(file: path, "dtype '\(descr)' at offset \(offset) is not a NumPy type string")
        }
        let kind = String(descr.dropFirst())
        switch order {
        case "<", "|", "=": break  // '=' is native order, and gpuflow runs on little-endian machines
        case ">": throw DataError(file: path, "dtype '\(descr)' is big-endian; save it little-endian (arr.astype('<\(kind)'))")
        default: throw DataError(file: path, "dtype '\(descr)' at offset \(offset) has no byte order ('<', '>' or '|')")
        }
        switch kind {
        case "f4", "i4", "u4": return NpyDtype(kind: kind, width: 4, descr: descr)
        case "f8", "i8", "u8": return NpyDtype(kind: kind, width: 8, descr: descr)
        case "i2", "u2": return NpyDtype(kind: kind, width: 2, descr: descr)
        case "i1", "u1", "b1": return NpyDtype(kind: kind, width: 1, descr: descr)
        default: break
        }
        let name: String
        switch kind.first {
        case "f": name = "float\(8 * (Int(kind.dropFirst()) ?? 0)) (only float32 and float64 are read)"
        case "c": name = "complex"
        case "U", "S", "a": name = "text"
        case "O": name = "Python objects"
        case "M", "m": name = "dates or time spans"
        case "V": name = "raw bytes (void)"
        default: name = "unknown"
        }
        throw DataError(file: path, "dtype '\(descr)' (\(name)) is not supported; \(hint)")
    }
}
