import Foundation

/// What two runs produced, set side by side: parameters, the metrics a replay must reproduce
/// bit for bit (losses, accuracies: not timings), and the models' content hashes.
public struct RunComparison: Sendable {
    public struct Row: Sendable {
        public let key: String
        public let a: String
        public let b: String
        public var differs: Bool { a != b }
    }
    public let params: [Row]
    public let metrics: [Row]
    public let models: [Row]
    /// Deterministic metrics and models only: what `replay` judges.
    public var identical: Bool { !metrics.contains(where: \.differs) && !models.contains(where: \.differs) }
    public var differences: [Row] { (metrics + models).filter(\.differs) }

    /// Measurements of time, speed, memory or power: they vary run to run and are shown, not judged.
    public static func isTiming(_ key: String) -> Bool {
        let k = key.lowercased()
        return [
            "second", "per_sec", "latency", "_ms", "throughput", "time", "bytes", "upload", "download", "power", "energy", "mean_batch",
            "batches", "cache", "eviction", "resident", "utilization", "memory_mb", "score", "bucket", "peak", "_s",
            // The declared-versus-measured duration: its ratio and verdict follow the clock.
            "declared.duration",
        ].contains { k.contains($0) }
    }

    /// Set on a task whose choices follow measurements (a search for throughput, latency,
    /// memory or power): its trials' configurations and its best are not judged.
    public static let measuredObjective = "search.objective_measured_time"

    static func chosenByMeasurement(_ key: String) -> Bool {
        key.hasPrefix("trial.") || key.hasPrefix("best") || key == "evaluations" || key.hasPrefix("warm_start")
    }

    public static func compare(_ store: RunStore, _ a: String, _ b: String) throws -> RunComparison {
        let pa = try store.params(a), pb = try store.params(b)
        let params = Set(pa.keys).union(pb.keys).sorted().map { Row(key: $0, a: pa[$0] ?? "—", b: pb[$0] ?? "—") }
        func table(_ run: String) throws -> [String: String] {
            var out: [String: String] = [:]
            let all = try store.metrics(run)
            let measured = Set(all.filter { $0.key == measuredObjective }.map(\.taskID))
            for m in all where !isTiming(m.key) && !(measured.contains(m.taskID) && chosenByMeasurement(m.key)) {
                let key = "task \(m.taskID) \(m.key)" + (m.step.map { "[\($0)]" } ?? "")
                out[key] = String(m.value.bitPattern == (-0.0).bitPattern ? 0 : m.value)
            }
            return out
        }
        let ma = try table(a), mb = try table(b)
        let metrics = Set(ma.keys).union(mb.keys).sorted(by: naturalOrder).map { Row(key: $0, a: ma[$0] ?? "—", b: mb[$0] ?? "—") }
        func models(_ run: String) throws -> [String: String] {
            Dictionary(try store.artifacts(run).filter { $0.kind == "model" }.map { ($0.name, $0.hash) }, uniquingKeysWith: { x, _ in x })
        }
        let xa = try models(a), xb = try models(b)
        let modelRows = Set(xa.keys).union(xb.keys).sorted().map { Row(key: $0, a: xa[$0] ?? "—", b: xb[$0] ?? "—") }
        return RunComparison(params: params, metrics: metrics, models: modelRows)
    }

    /// "task 2 epoch.loss[10]" after "[9]".
    static func naturalOrder(_ x: String, _ y: String) -> Bool {
        x.compare(y, options: [.numeric]) == .orderedAscending
    }
}
