import Foundation
import GPUFlowCore
import GRDB

/// Experiment tracking: what a script logs of itself (`gpu.log`, `gpu.tag`), a run's name and
/// experiment, and the runs read back with them for `gpuflow runs list`. Kept apart from the
/// metrics gpuflow records of its tasks, so a user's `accuracy` never mixes with a task's.
extension RunStore {
    /// One logged metric of a run, summarised: its last value (at the highest step), its best
    /// either way, and how many values were logged.
    public struct LoggedMetric: Sendable, Equatable {
        public let last: Double
        public let step: Int
        public let min: Double
        public let max: Double
        public let count: Int
    }

    /// A run as the tracker shows it.
    public struct TrackedRun: Sendable {
        public let summary: RunSummary
        public let name: String?
        public let experiment: String?
        /// gpuflow's own (seed, backend, profile, arguments, scripts) and the script's, merged.
        public let params: [String: String]
        public let tags: [String: String]
        public let metrics: [String: LoggedMetric]
    }

    /// The parameters gpuflow records of every run itself: a script may not log these names.
    public static let systemParams: Set<String> = ["seed", "backend", "profile", "arguments", "scripts"]

    /// Logs parameters: a parameter, once logged, keeps its value (as in MLflow); logging it
    /// again with the same value is allowed, with another is an error naming both.
    public func logParams(_ run: String, _ params: [(key: String, value: String)]) throws {
        try write { db in
            for (k, v) in params {
                if let old = try String.fetchOne(
                    db, sql: "SELECT value FROM logged_params WHERE run_id = ? AND key = ?", arguments: [run, k]), old != v
                {
                    throw TrackingError.paramChanged(key: k, old: old, new: v)
                }
                try db.execute(sql: "INSERT OR IGNORE INTO logged_params (run_id, key, value) VALUES (?, ?, ?)", arguments: [run, k, v])
            }
        }
    }

    /// Logs metric values at `step`; without one, each key's next step (0, 1, 2, … per key).
    public func logMetrics(_ run: String, _ values: [(key: String, value: Double)], step: Int?) throws {
        let now = Date().timeIntervalSince1970
        try write { db in
            for (k, v) in values {
                let at =
                    try step
                    ?? Int.fetchOne(
                        db, sql: "SELECT COALESCE(MAX(step) + 1, 0) FROM logged_metrics WHERE run_id = ? AND key = ?",
                        arguments: [run, k]) ?? 0
                try db.execute(
                    sql: "INSERT INTO logged_metrics (run_id, key, step, value, at) VALUES (?, ?, ?, ?, ?)",
                    arguments: [run, k, at, v, now])
            }
        }
    }

    public func setTags(_ run: String, _ tags: [(key: String, value: String)]) throws {
        try write { db in
            for (k, v) in tags {
                try db.execute(sql: "INSERT OR REPLACE INTO tags (run_id, key, value) VALUES (?, ?, ?)", arguments: [run, k, v])
            }
        }
    }

    /// Every value of one logged metric, in step order (the history MLflow calls it).
    public func metricHistory(_ run: String, key: String) throws -> [(step: Int, value: Double, at: Double)] {
        try read { db in
            try Row.fetchAll(
                db, sql: "SELECT step, value, at FROM logged_metrics WHERE run_id = ? AND key = ? ORDER BY step, rowid",
                arguments: [run, key]
            ).map { (step: $0["step"], value: $0["value"], at: $0["at"]) }
        }
    }

    /// Runs with their names, params, tags and logged metrics, newest first; `experiment` keeps
    /// only that experiment's, `run` only that run (what `runs show` reads).
    public func trackedRuns(experiment: String? = nil, run: String? = nil) throws -> [TrackedRun] {
        try markInterrupted()
        return try read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT r.*, (SELECT COUNT(*) FROM tasks t WHERE t.run_id = r.id) AS n FROM runs r
                    WHERE (? IS NULL OR r.experiment = ?) AND (? IS NULL OR r.id = ?) ORDER BY started_at DESC
                    """, arguments: [experiment, experiment, run, run])
            // The side tables are read for the one run when one is asked for, else whole.
            let only = run == nil ? "" : " WHERE run_id = ?"
            let args: StatementArguments = run.map { [$0] } ?? []
            var params: [String: [String: String]] = [:]
            for table in ["params", "logged_params"] {
                for r in try Row.fetchAll(db, sql: "SELECT run_id, key, value FROM \(table)" + only, arguments: args) {
                    params[r["run_id"], default: [:]][r["key"]] = r["value"]
                }
            }
            var tags: [String: [String: String]] = [:]
            for r in try Row.fetchAll(db, sql: "SELECT run_id, key, value FROM tags" + only, arguments: args) {
                tags[r["run_id"], default: [:]][r["key"]] = r["value"]
            }
            var metrics: [String: [String: LoggedMetric]] = [:]
            let summary = """
                SELECT m.run_id, m.key, MIN(m.value) AS lo, MAX(m.value) AS hi, COUNT(*) AS n,
                       (SELECT value FROM logged_metrics l WHERE l.run_id = m.run_id AND l.key = m.key ORDER BY step DESC, rowid DESC LIMIT 1) AS last,
                       MAX(m.step) AS step
                FROM logged_metrics m\(only) GROUP BY m.run_id, m.key
                """
            for r in try Row.fetchAll(db, sql: summary, arguments: args) {
                metrics[r["run_id"], default: [:]][r["key"]] = LoggedMetric(
                    last: r["last"], step: r["step"], min: r["lo"], max: r["hi"], count: r["n"])
            }
            return rows.map { r in
                let id: String = r["id"]
                return TrackedRun(
                    summary: Self.summary(r), name: r["name"], experiment: r["experiment"], params: params[id] ?? [:],
                    tags: tags[id] ?? [:], metrics: metrics[id] ?? [:])
            }
        }
    }
}

/// A tracking request the store refuses.
public enum TrackingError: KindedError, CustomStringConvertible, Sendable {
    case paramChanged(key: String, old: String, new: String)

    /// The script logged it: a script error (exit 1).
    public var kind: ErrorKind { .script }

    public var description: String {
        switch self {
        case .paramChanged(let k, let old, let new):
            return
                "param '\(k)' was already logged as '\(old)' in this run; a param keeps its value (got '\(new)'; log a metric for what changes)"
        }
    }
}
