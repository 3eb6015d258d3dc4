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
    /// The metrics with each series as its final and best value.
    public let summary: [Row]
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

    /// Tasks are matched by name (a script run twice submits the same names, not always the
    /// same ids); a name used by several tasks of a run is told apart by order: `train`,
    /// `train#2`. `metrics` holds every value, each epoch's among them (what a replay judges);
    /// `summary` gives a series its final and best value instead.
    public static func compare(_ store: RunStore, _ a: String, _ b: String) throws -> RunComparison {
        let ta = try store.trackedRuns(run: a).first, tb = try store.trackedRuns(run: b).first
        let pa = try store.params(a).merging(ta?.params ?? [:]) { x, _ in x }
        let pb = try store.params(b).merging(tb?.params ?? [:]) { x, _ in x }
        let params = Set(pa.keys).union(pb.keys).sorted().map { Row(key: $0, a: pa[$0] ?? "—", b: pb[$0] ?? "—") }
        func table(_ run: String) throws -> (all: [String: String], summary: [String: String]) {
            var out: [String: String] = [:], series: [String: [(step: Int, value: Double)]] = [:]
            let names = try taskLabels(store, run)
            let all = try store.metrics(run)
            let measured = Set(all.filter { $0.key == measuredObjective }.map(\.taskID))
            for m in all where !isTiming(m.key) && !(measured.contains(m.taskID) && chosenByMeasurement(m.key)) {
                let base = "\(names[m.taskID] ?? "task \(m.taskID)") \(m.key)"
                out[base + (m.step.map { "[\($0)]" } ?? "")] = text(m.value)
                if let step = m.step { series[base, default: []].append((step, m.value)) }
            }
            var summary = out.filter { !$0.key.hasSuffix("]") }
            for (base, points) in series { summarise(base, points, into: &summary) }
            return (out, summary)
        }
        var (ma, sa) = try table(a)
        var (mb, sb) = try table(b)
        // What the scripts logged (gpu.log): a series by step too.
        try addLogged(store, a, into: &ma, &sa)
        try addLogged(store, b, into: &mb, &sb)
        func rows(_ x: [String: String], _ y: [String: String]) -> [Row] {
            Set(x.keys).union(y.keys).sorted(by: naturalOrder).map { Row(key: $0, a: x[$0] ?? "—", b: y[$0] ?? "—") }
        }
        func models(_ run: String) throws -> [String: String] {
            Dictionary(try store.artifacts(run).filter { $0.kind == "model" }.map { ($0.name, $0.hash) }, uniquingKeysWith: { x, _ in x })
        }
        let xa = try models(a), xb = try models(b)
        let modelRows = Set(xa.keys).union(xb.keys).sorted().map { Row(key: $0, a: xa[$0] ?? "—", b: xb[$0] ?? "—") }
        return RunComparison(params: params, metrics: rows(ma, mb), summary: rows(sa, sb), models: modelRows)
    }

    /// Each task's name as runs are matched by it: a second task of one name is `NAME#2`.
    public static func taskLabels(_ store: RunStore, _ run: String) throws -> [Int: String] {
        var seen: [String: Int] = [:], out: [Int: String] = [:]
        for t in try store.tasks(run) {
            seen[t.name, default: 0] += 1
            out[t.taskID] = seen[t.name] == 1 ? t.name : "\(t.name)#\(seen[t.name] ?? 0)"
        }
        return out
    }

    private static func addLogged(_ store: RunStore, _ run: String, into all: inout [String: String], _ summary: inout [String: String])
        throws
    {
        for key in (try store.trackedRuns(run: run).first?.metrics.keys).map(Array.init) ?? [] {
            let points = try store.metricHistory(run, key: key).map { (step: $0.step, value: $0.value) }
            for p in points { all["logged \(key)[\(p.step)]"] = text(p.value) }
            summarise("logged \(key)", points, into: &summary)
        }
    }

    /// A series' final value (at its highest step) and its best, with the step it was reached at.
    private static func summarise(_ base: String, _ points: [(step: Int, value: Double)], into out: inout [String: String]) {
        guard let last = points.max(by: { $0.step < $1.step }) else { return }
        out[base + " final"] = text(last.value)
        let lower = lowerIsBetter(base)
        if let best = points.min(by: { lower ? $0.value < $1.value : $0.value > $1.value }) {
            out[base + " best"] = "\(text(best.value)) @\(best.step)"
        }
    }

    /// Losses, errors and scores (gpuflow's trial score) improve downwards; the rest upwards.
    public static func lowerIsBetter(_ key: String) -> Bool {
        let k = key.lowercased()
        return ["loss", "error", "mse", "mae", "rmse", "perplexity", "score", "regret"].contains { k.contains($0) }
    }

    static func text(_ v: Double) -> String { String(v.bitPattern == (-0.0).bitPattern ? 0 : v) }

    /// "task 2 epoch.loss[10]" after "[9]".
    static func naturalOrder(_ x: String, _ y: String) -> Bool {
        x.compare(y, options: [.numeric]) == .orderedAscending
    }
}
