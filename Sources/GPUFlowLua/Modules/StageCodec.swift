import Foundation
import GPUFlowCore
import GPUFlowML
import GPUFlowStore

/// Stage results and inputs as text: JSON where models and data sets are their content
/// hashes (the bytes themselves go to the store as artifacts). The canonical form, with table
/// keys sorted, is what a stage's cache key hashes.
enum StageCodec {
    struct Unsupported: Error, CustomStringConvertible {
        let what: String
        var description: String {
            "workflow.stage: \(what) cannot be cached (stage inputs and results may hold tables, numbers, strings, booleans, models and data sets)"
        }
    }

    /// For the cache key: canonical, objects by content hash; nothing is stored.
    static func canonical(_ v: TaskValue) throws -> String {
        switch v {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .integer(let i): return "i\(i)"
        case .number(let d): return "n\(d.bitPattern)"
        case .string(let s): return "s" + TaskValueJSON.encode(.string(s), indent: nil)
        case .bytes(let b): return "b" + Data(b).base64EncodedString()
        case .floats(let f): return "f" + ContentHash.of(Data(FloatBytes.encode(f)))
        case .array(let a): return "[" + (try a.map(canonical)).joined(separator: ",") + "]"
        case .table(let t):
            return "{" + (try t.sorted { $0.0 < $1.0 }.map { "\($0.0)=\(try canonical($0.1))" }).joined(separator: ",") + "}"
        case .object(let o):
            if let bytes = try ModelFiles.encode(o) { return "model:" + ContentHash.of(bytes) }
            if let d = o as? Dataset { return "data:" + String(decoding: d.fingerprint, as: UTF8.self) }
            throw Unsupported(what: "a \(o.kind)")
        }
    }

    /// For the store: JSON with models and data sets saved as artifacts.
    static func encode(_ v: TaskValue, store: any ArtifactStore) throws -> Any {
        switch v {
        case .null: return NSNull()
        case .bool(let b): return b
        case .integer(let i): return ["$int": String(i)]
        case .number(let d): return ["$num": String(d.bitPattern)]
        case .string(let s): return s
        case .bytes(let b): return ["$bytes": Data(b).base64EncodedString()]
        case .floats(let f): return ["$floats": Data(FloatBytes.encode(f)).base64EncodedString()]
        case .array(let a): return try a.map { try encode($0, store: store) }
        case .table(let t): return ["$table": try t.map { [$0.0, try encode($0.1, store: store)] as [Any] }]
        case .object(let o):
            if let bytes = try ModelFiles.encode(o) { return ["$model": try store.putArtifact(bytes, kind: "model")] }
            if let d = o as? Dataset { return ["$dataset": try store.putArtifact(try DatasetCodec.encode(d), kind: "dataset")] }
            throw Unsupported(what: "a \(o.kind)")
        }
    }

    static func decode(_ any: Any, store: any ArtifactStore) throws -> TaskValue {
        switch any {
        case is NSNull: return .null
        case let b as Bool: return .bool(b)
        case let s as String: return .string(s)
        case let a as [Any]: return .array(try a.map { try decode($0, store: store) })
        case let d as [String: Any]:
            if let i = d["$int"] as? String, let v = Int(i) { return .integer(v) }
            if let n = d["$num"] as? String, let bits = UInt64(n) { return .number(Double(bitPattern: bits)) }
            if let b = d["$bytes"] as? String, let data = Data(base64Encoded: b) { return .bytes([UInt8](data)) }
            if let f = d["$floats"] as? String, let data = Data(base64Encoded: f) {
                return .floats(FloatBytes.decode([UInt8](data), offset: 0, count: data.count / 4))
            }
            if let h = d["$model"] as? String {
                return .object(try ModelFiles.decode([UInt8](try store.artifact(h)), file: "artifact \(h)"))
            }
            if let h = d["$dataset"] as? String { return .object(try DatasetCodec.decode(try store.artifact(h))) }
            if let t = d["$table"] as? [[Any]] {
                return .table(
                    try t.map { pair in
                        guard pair.count == 2, let k = pair[0] as? String else {
                            throw DataError("stage cache: a table entry is malformed")
                        }
                        return (k, try decode(pair[1], store: store))
                    })
            }
            throw DataError("stage cache: an unknown value \(d.keys.sorted())")
        default:
            throw DataError("stage cache: an unknown value of type \(type(of: any))")
        }
    }
}

/// A data set as bytes for the store: shape, names, categorical columns, the float arrays,
/// several targets per row and a sample's shape, bit for bit (the last three optional, so
/// entries stored before them still load).
enum DatasetCodec {
    struct Stored: Codable {
        var rows: Int, cols: Int, features: String, labels: String, featureNames: [String], labelName: String, classNames: [String],
            source: String
        var categories: [CategoricalColumn]?
        var targets: String?
        var sampleShape: [Int]?
        var vocabulary: TokenVocabulary?
        var windowStride: Int?
        var preprocessing: [PreprocessingStep]?
    }
    static func encode(_ d: Dataset) throws -> Data {
        var s = Stored(
            rows: d.rows, cols: d.cols, features: Data(FloatBytes.encode(d.features)).base64EncodedString(),
            labels: Data(FloatBytes.encode(d.labels)).base64EncodedString(), featureNames: d.featureNames,
            labelName: d.labelName, classNames: d.classNames, source: d.source)
        if !d.categories.isEmpty { s.categories = d.categories }
        s.targets = d.targets.map { Data(FloatBytes.encode($0)).base64EncodedString() }
        if d.sampleShape != [d.cols] { s.sampleShape = d.sampleShape }
        s.vocabulary = d.vocabulary
        s.windowStride = d.windowStride
        if !d.preprocessing.isEmpty { s.preprocessing = d.preprocessing }
        return try JSONEncoder().encode(s)
    }
    static func decode(_ data: Data) throws -> Dataset {
        let s = try JSONDecoder().decode(Stored.self, from: data)
        guard let f = Data(base64Encoded: s.features), let l = Data(base64Encoded: s.labels), f.count == s.rows * s.cols * 4,
            l.count == s.rows * 4
        else {
            throw DataError("stage cache: a stored data set is malformed")
        }
        var targets: [Float]?
        if let t = s.targets {
            guard let bytes = Data(base64Encoded: t), bytes.count % 4 == 0,
                s.rows == 0 ? bytes.isEmpty : (bytes.count / 4) % s.rows == 0 && bytes.count >= 4 * s.rows
            else { throw DataError("stage cache: a stored data set's targets are malformed") }
            targets = FloatBytes.decode([UInt8](bytes), offset: 0, count: bytes.count / 4)
        }
        if let shape = s.sampleShape {
            guard !shape.isEmpty, shape.allSatisfy({ $0 > 0 && $0 <= 1 << 26 }), shape.reduce(1, { $0 * $1 }) == s.cols else {
                throw DataError("stage cache: a stored data set's sample shape is malformed")
            }
        }
        if let v = s.vocabulary, targets == nil || v.tokens.isEmpty {
            throw DataError("stage cache: a stored text data set has no targets or an empty vocabulary")
        }
        if let c = s.categories, c.contains(where: { $0.column < 0 || $0.column >= s.cols }) {
            throw DataError("stage cache: a stored data set's categorical columns are malformed")
        }
        if let p = s.preprocessing, p.contains(where: { !$0.fits(columns: s.cols) }) {
            throw DataError("stage cache: a stored data set's preprocessing statistics are malformed")
        }
        return Dataset(
            features: FloatBytes.decode([UInt8](f), offset: 0, count: s.rows * s.cols), rows: s.rows, cols: s.cols,
            labels: FloatBytes.decode([UInt8](l), offset: 0, count: s.rows), featureNames: s.featureNames, labelName: s.labelName,
            classNames: s.classNames, categories: s.categories ?? [], source: s.source, sampleShape: s.sampleShape, targets: targets,
            vocabulary: s.vocabulary, windowStride: s.windowStride, preprocessing: s.preprocessing ?? [])
    }
}
