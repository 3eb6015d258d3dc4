import Foundation
import GRDB

/// Per-step metrics (a training's loss, accuracy and time per epoch) as chunks: one row holds
/// a batch of a series' points, steps and values packed little-endian. A row per point made
/// the store's cost grow with epochs: 2,000 short epochs were 8,000 inserts into an indexed
/// table, about a tenth of the training's time. `metrics(_:)` returns the points one by one.
extension RunStore {
    /// A run of points of one task's metric, in step order.
    public struct SeriesChunk: Sendable, Equatable {
        public var taskID: Int
        public var key: String
        public var steps: [Int]
        public var values: [Double]
        public init(taskID: Int, key: String, steps: [Int] = [], values: [Double] = []) {
            self.taskID = taskID
            self.key = key
            self.steps = steps
            self.values = values
        }
    }

    /// Stores each chunk as one row; points whose value is not finite are left out (as scalar
    /// metrics are).
    public func recordSeries(_ run: String, _ chunks: [SeriesChunk]) throws {
        let kept = chunks.map { c -> SeriesChunk in
            var k = SeriesChunk(taskID: c.taskID, key: c.key)
            for (s, v) in zip(c.steps, c.values) where v.isFinite {
                k.steps.append(s)
                k.values.append(v)
            }
            return k
        }.filter { !$0.steps.isEmpty }
        guard !kept.isEmpty else { return }
        try write { db in
            let insert = try db.cachedStatement(sql: "INSERT INTO metric_series (run_id, task_id, key, steps, vals) VALUES (?, ?, ?, ?, ?)")
            for c in kept {
                try insert.execute(arguments: [
                    run, c.taskID, c.key, Self.pack(c.steps.map { UInt64(bitPattern: Int64($0)) }),
                    Self.pack(c.values.map(\.bitPattern)),
                ])
            }
        }
    }

    static func seriesPoints(_ db: Database, _ run: String, path: String) throws -> [Metric] {
        var points: [Metric] = []
        for r in try Row.fetchAll(db, sql: "SELECT task_id, key, steps, vals FROM metric_series WHERE run_id = ?", arguments: [run]) {
            let task: Int = r["task_id"], key: String = r["key"]
            let steps = unpack(r["steps"]), values = unpack(r["vals"])
            guard steps.count == values.count else {
                throw StoreError.corrupt(
                    path: path, detail: "metric series \(key) of run \(run): \(steps.count) steps but \(values.count) values")
            }
            for (s, v) in zip(steps, values) {
                points.append(Metric(taskID: task, key: key, step: Int(Int64(bitPattern: s)), value: Double(bitPattern: v)))
            }
        }
        return points
    }

    private static func pack(_ words: [UInt64]) -> Data {
        var out = Data(capacity: words.count * 8)
        for w in words { withUnsafeBytes(of: w.littleEndian) { out.append(contentsOf: $0) } }
        return out
    }

    private static func unpack(_ data: Data?) -> [UInt64] {
        guard let data else { return [] }
        var words: [UInt64] = []
        words.reserveCapacity(data.count / 8)
        var i = data.startIndex
        while i + 8 <= data.endIndex {
            var w: UInt64 = 0
            for b in 0..<8 { w |= UInt64(data[i + b]) << (8 * UInt64(b)) }
            words.append(w)
            i += 8
        }
        return words
    }
}
