import Foundation

/// What one gpuflow run becomes in MLflow, decided without a server (so the limits and the
/// mapping are tested on their own): params, metrics with their steps and times, tags, a
/// status, and the batches `runs/log-batch` accepts (at most 1000 metrics, 100 params and 100
/// tags, 1000 in all, per request).
public struct MLflowPayload: Sendable, Equatable {
    public struct Metric: Sendable, Equatable, Encodable {
        public let key: String
        public let value: Double
        public let timestamp: Int64
        public let step: Int
        public init(key: String, value: Double, timestamp: Int64, step: Int) {
            self.key = key
            self.value = value
            self.timestamp = timestamp
            self.step = step
        }
    }
    public struct Pair: Sendable, Equatable, Encodable {
        public let key: String
        public let value: String
        public init(key: String, value: String) {
            self.key = key
            self.value = value
        }
    }
    public struct Batch: Sendable, Equatable {
        public var metrics: [Metric] = []
        public var params: [Pair] = []
        public var tags: [Pair] = []
        public init(metrics: [Metric] = [], params: [Pair] = [], tags: [Pair] = []) {
            self.metrics = metrics
            self.params = params
            self.tags = tags
        }
    }

    public var runName: String?
    public var experiment: String
    public var startTime: Int64
    public var endTime: Int64?
    /// FINISHED, FAILED or KILLED.
    public var status: String
    public var params: [Pair] = []
    public var metrics: [Metric] = []
    public var tags: [Pair] = []
    /// Params cut to MLflow's length limit, by name (said in the export's output).
    public var truncated: [String] = []

    public init(runName: String?, experiment: String, startTime: Int64, endTime: Int64?, status: String) {
        self.runName = runName
        self.experiment = experiment
        self.startTime = startTime
        self.endTime = endTime
        self.status = status
    }

    public static let maxMetrics = 1000, maxParams = 100, maxTags = 100, maxEntities = 1000
    /// The param value limit of MLflow 2.x and 3.x's SQL store (6000 in recent releases; 500
    /// before 2.3): the lower, so a server of either kind takes it.
    public static let maxParamValue = 500
    public static let maxTagValue = 5000

    /// The tag that names the gpuflow run an MLflow run came from: a second export of the
    /// same run finds it and sends nothing again.
    public static let sourceTag = "gpuflow.run_id"
    /// Set by an export's last request: a run without it is a half-done export, made again.
    public static let completeTag = "gpuflow.export_complete"

    /// MLflow keys: letters, digits, `_ - . / :` and space; anything else becomes `_`.
    public static func key(_ s: String) -> String {
        let ok = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./ :")
        let mapped = String(s.map { ok.contains($0) ? $0 : "_" })
        return String(mapped.prefix(250))
    }

    public static func status(of gpuflowStatus: String) -> String? {
        switch gpuflowStatus {
        case "succeeded": return "FINISHED"
        case "failed", "exited", "incomplete": return "FAILED"
        case "interrupted", "cancelled": return "KILLED"
        default: return nil
        }
    }

    /// The run as the store has it. Its task metrics become `TASK/KEY` (by task name: `train`,
    /// `train#2`), per-epoch series keep their epochs as steps; what the script logged keeps
    /// its own keys and steps.
    public static func of(_ store: RunStore, run: String, defaultExperiment: String = "Default") throws -> MLflowPayload {
        let summary = try store.summary(run)
        guard let status = status(of: summary.status) else { throw MLflowError.notFinished(run: run, status: summary.status) }
        let tracked = try store.trackedRuns(run: run).first
        let ms = { (t: Double) in Int64((t * 1000).rounded()) }
        var p = MLflowPayload(
            runName: tracked?.name, experiment: tracked?.experiment ?? defaultExperiment, startTime: ms(summary.startedAt),
            endTime: summary.endedAt.map(ms), status: status)
        var params = try store.params(run)
        for (k, v) in tracked?.params ?? [:] { params[k] = v }
        var used = Set<String>()
        for (k, v) in params.sorted(by: { $0.key < $1.key }) where used.insert(key(k)).inserted {
            if v.count > maxParamValue { p.truncated.append(k) }
            p.params.append(Pair(key: key(k), value: String(v.prefix(maxParamValue))))
        }
        var tags: [(String, String)] = [(sourceTag, run), ("gpuflow.status", summary.status)]
        if let c = summary.exitCode { tags.append(("gpuflow.exit_code", String(c))) }
        if let f = summary.failure {
            tags.append(("gpuflow.error", f.message))
            if let at = f.location { tags.append(("gpuflow.error_at", at)) }
        }
        tags.append(("mlflow.source.name", summary.script))
        tags.append(("mlflow.source.type", "LOCAL"))
        if let name = tracked?.name { tags.append(("mlflow.runName", name)) }
        for (k, v) in (tracked?.tags ?? [:]).sorted(by: { $0.key < $1.key }) { tags.append((k, v)) }
        p.tags = tags.map { Pair(key: key($0.0), value: String($0.1.prefix(maxTagValue))) }

        let label = try RunComparison.taskLabels(store, run)
        let end = p.endTime ?? p.startTime
        for m in try store.metrics(run) where m.value.isFinite {
            p.metrics.append(
                Metric(key: key("\(label[m.taskID] ?? "task\(m.taskID)")/\(m.key)"), value: m.value, timestamp: end, step: m.step ?? 0))
        }
        for k in (tracked?.metrics.keys).map(Array.init)?.sorted() ?? [] {
            for point in try store.metricHistory(run, key: k) where point.value.isFinite {
                p.metrics.append(Metric(key: key(k), value: point.value, timestamp: ms(point.at), step: point.step))
            }
        }
        return p
    }

    /// Everything in requests `runs/log-batch` accepts, params and tags first.
    public var batches: [Batch] {
        var out: [Batch] = []
        var params = self.params[...], tags = self.tags[...], metrics = self.metrics[...]
        while !params.isEmpty || !tags.isEmpty || !metrics.isEmpty {
            var b = Batch()
            b.params = Array(params.prefix(Self.maxParams))
            params = params.dropFirst(b.params.count)
            b.tags = Array(tags.prefix(Self.maxTags))
            tags = tags.dropFirst(b.tags.count)
            let room = min(Self.maxMetrics, Self.maxEntities - b.params.count - b.tags.count)
            b.metrics = Array(metrics.prefix(room))
            metrics = metrics.dropFirst(b.metrics.count)
            out.append(b)
        }
        return out
    }
}

/// Why an export to MLflow stopped, naming the run and the server's answer.
public enum MLflowError: Error, CustomStringConvertible, Sendable {
    case notFinished(run: String, status: String)
    case badURI(String)
    case server(url: String, status: Int, message: String)
    case unreachable(url: String, detail: String)

    public var description: String {
        switch self {
        case .notFinished(let r, let s): return "run \(r) is \(s): only ended runs are exported"
        case .badURI(let u): return "--mlflow \(u): give the tracking server's http:// or https:// address"
        case .server(let u, let s, let m): return "MLflow server answered \(s) to \(u): \(m)"
        case .unreachable(let u, let d): return "MLflow server \(u) cannot be reached: \(d)"
        }
    }
}
