import Foundation

/// Learns from finished work and from users' feedback, and turns both into decisions:
/// predicted duration and memory per task kind and backend (ridge regression on log sizes),
/// admission and ordering in the orchestrator, the adaptive backend choice of hybrid tasks,
/// learned defaults, warm starts for searches, and insights.
///
/// Everything here is computed from observed runs; with no history it predicts nothing and
/// reports no insight rather than inventing one. Shared by the orchestrator (an actor) and the
/// workload threads, which need answers synchronously, so it is a locked class.
public final class GPULearningEngine: @unchecked Sendable {
    public let enabled: Bool
    /// Where the history persists; nil keeps it in memory for this process only.
    public let store: ExecutionHistoryStore?
    /// Lines of the history file that could not be read (shown once in the run banner).
    public let skippedHistoryLines: Int
    /// Runs the per-type averages look at.
    public let window = 50
    /// Fewest runs before a ridge model replaces the plain median.
    static let ridgeMinimum = 4

    private let lock = NSLock()
    private var executions: [ExecutionRecord] = []
    private var judgements: [FeedbackRecord] = []
    private var trials: [TrialRecord] = []
    private var types: [String: TypeHistory] = [:]
    private var fitted: [String: (count: Int, model: FittedModel?)] = [:]
    private var persistFailure: String?

    private struct TypeHistory {
        var runs: [Double] = []
        var waits: [Double] = []
        var estimateRatios: [Double] = []
        var failures = 0
        var satisfaction: [Double] = []
        var suggestions: [String: Int] = [:]
    }

    /// The history as this engine read it at the start (its lines; the decoded entries are in the
    /// engine's own arrays): every later answer derives from it and from what the run itself adds, so a run's
    /// manifest records it and a replay starts from it.
    public let initialHistory: ExecutionHistoryStore.Snapshot

    /// `frozen`: start from this history instead of the store's, and write nothing back (a
    /// replay answers as the recorded run did, and leaves the user's history as it was).
    public init(enabled: Bool, store: ExecutionHistoryStore? = nil, frozen: ExecutionHistoryStore.Snapshot? = nil) {
        self.enabled = enabled
        self.store = frozen == nil ? store : nil
        let loaded = frozen ?? store?.snapshot() ?? ExecutionHistoryStore.Snapshot()
        for e in loaded.entries {
            switch e {
            case .execution(let r): executions.append(r)
            case .feedback(let f): judgements.append(f)
            case .trial(let t): trials.append(t)
            }
        }
        // The lines are what a run's record needs; the decoded entries live in the arrays.
        var kept = loaded
        kept.entries = []
        initialHistory = kept
        skippedHistoryLines = loaded.skipped
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    private func persist(_ entries: [ExecutionHistoryStore.Entry]) {
        guard let store else { return }
        do { try store.append(entries) } catch { locked { persistFailure = "\(error)" } }
    }

    /// The last error writing the history file, if any (runs go on without persisting).
    public var persistenceError: String? { locked { persistFailure } }

    public var executionCount: Int { locked { executions.count } }

    // MARK: Observations

    /// A task the orchestrator finished: run and wait times, failures.
    public func observe(_ record: TaskRecord) {
        locked {
            var h = types[record.typeName, default: TypeHistory()]
            if record.state == .failed { h.failures += 1 }
            if let w = record.waitSeconds, record.startedAt != nil { Self.push(&h.waits, w, window) }
            if record.state == .succeeded, let s = record.runSeconds {
                Self.push(&h.runs, s, window)
                if let est = record.durationEstimateS, est > 0 { Self.push(&h.estimateRatios, s / est, window) }
            }
            types[record.typeName] = h
        }
    }

    private static func push(_ a: inout [Double], _ v: Double, _ limit: Int) {
        a.append(v)
        if a.count > limit { a.removeFirst() }
    }

    /// Work measured on a backend; kept and persisted.
    public func record(_ r: ExecutionRecord) {
        locked { executions.append(r) }
        persist([.execution(r)])
    }

    public func record(trials new: [TrialRecord]) {
        locked { trials += new }
        persist(new.map { .trial($0) })
    }

    /// A judgement of a finished task: priority boosts for its type, plus whatever its
    /// suggestions and duration ratio change (see `FeedbackRecord`). Persisted.
    public func feedback(typeName: String, _ f: FeedbackRecord) {
        locked {
            var h = types[typeName, default: TypeHistory()]
            Self.push(&h.satisfaction, f.satisfaction, window)
            for s in f.suggestions { h.suggestions[s, default: 0] += 1 }
            types[typeName] = h
            judgements.append(f)
        }
        persist([.feedback(f)])
    }

    // MARK: Type-level answers (no sizes known)

    /// Mean run time of a task type in this process, once at least two runs were seen.
    public func predictedSeconds(_ typeName: String) -> Double? {
        locked {
            guard enabled, let runs = types[typeName]?.runs, runs.count >= 2 else { return nil }
            return runs.reduce(0, +) / Double(runs.count)
        }
    }

    /// Boost steps for a type whose users were unsatisfied: 0 when satisfaction averages 0.7 or
    /// more, up to 7 steps when it is 0; needs two judgements before it acts.
    public func boost(for typeName: String) -> Int { locked { boostLocked(typeName) } }

    private func boostLocked(_ typeName: String) -> Int {
        guard enabled, let sat = types[typeName]?.satisfaction, sat.count >= 2 else { return 0 }
        let mean = sat.reduce(0, +) / Double(sat.count)
        return max(0, Int(((0.7 - mean) * 10).rounded()))
    }

    // MARK: Predictors

    public struct Prediction: Sendable, Equatable {
        public let value: Double
        /// Runs the prediction rests on.
        public let evidence: Int
        /// "ridge" or "median".
        public let method: String
    }

    fileprivate struct FittedModel {
        let regression: RidgeRegression?
        let median: Double
        let n: Int
        /// The observed range of log targets: predictions are kept within a decade of it, so a
        /// size far outside the history cannot extrapolate to nonsense.
        let low: Double
        let high: Double

        func predict(_ features: [String: Double]) -> Double {
            guard let r = regression else { return median }
            let v = r.predict(GPULearningEngine.featureVector(features, names: r.featureNames))
            guard v.isFinite else { return median }
            return min(max(v, low - log(10)), high + log(10))
        }
    }

    private enum Target: String { case duration, memory }

    private func group(_ kind: String, _ backend: String, _ target: Target) -> [ExecutionRecord] {
        executions.filter { $0.kind == kind && $0.backend == backend && $0.succeeded && (target == .duration || $0.peakMemoryBytes != nil) }
    }

    static func value(_ r: ExecutionRecord, _ target: String) -> Double {
        target == "memory" ? (r.peakMemoryBytes ?? 0) : r.durationS
    }

    /// log(x) for sizes; every feature is positive by construction, and 0 maps to 0.
    static func featureVector(_ f: [String: Double], names: [String]) -> [Double] { names.map { log(max(f[$0] ?? 1, 1)) } }

    private static func fit(_ rows: [ExecutionRecord], target: String) -> FittedModel? {
        guard !rows.isEmpty else { return nil }
        let ys = rows.map { log(max(value($0, target), 1e-9)) }
        let sorted = ys.sorted()
        let median = sorted[ys.count / 2], low = sorted.first ?? median, high = sorted.last ?? median
        guard rows.count >= ridgeMinimum else { return FittedModel(regression: nil, median: median, n: rows.count, low: low, high: high) }
        // Features present in every run of the group, so none is imputed.
        let names = rows.dropFirst().reduce(Set(rows[0].features.keys)) { $0.intersection($1.features.keys) }.sorted()
        let x = rows.map { featureVector($0.features, names: names) }
        return FittedModel(
            regression: RidgeRegression(x: x, y: ys, featureNames: names), median: median, n: rows.count, low: low, high: high)
    }

    private func model(_ kind: String, _ backend: String, _ target: Target) -> FittedModel? {
        let key = "\(kind)|\(backend)|\(target.rawValue)"
        let rows = group(kind, backend, target).suffix(500)
        if let c = fitted[key], c.count == rows.count { return c.model }
        let m = Self.fit(Array(rows), target: target.rawValue)
        fitted[key] = (rows.count, m)
        return m
    }

    private func predict(_ kind: String, _ backend: String, _ features: [String: Double], _ target: Target) -> Prediction? {
        guard enabled, let m = model(kind, backend, target) else { return nil }
        var v = exp(m.predict(features))
        let method = m.regression == nil ? "median" : "ridge"
        if target == .duration { v *= correctionLocked(kind, backend) }
        return Prediction(value: v, evidence: m.n, method: method)
    }

    /// Seconds `kind` work of these sizes should take on `backend`, corrected by feedback.
    public func predictDuration(kind: String, backend: String, features: [String: Double]) -> Prediction? {
        locked { predict(kind, backend, features, .duration) }
    }

    /// Peak tensor bytes of such work on `backend`.
    public func predictMemory(kind: String, backend: String, features: [String: Double]) -> Prediction? {
        locked { predict(kind, backend, features, .memory) }
    }

    /// The largest predicted peak over every backend with history, in MB (rounded up), for
    /// admission of a task that declared no memory.
    public func predictedMemoryMB(kind: String, features: [String: Double]) -> Int? {
        locked {
            let backends = Set(executions.filter { $0.kind == kind }.map(\.backend))
            let peaks = backends.compactMap { predict(kind, $0, features, .memory)?.value }
            // Capped: a prediction is never a reason to refuse (the pool's size bounds admission).
            return peaks.max().flatMap { $0.isFinite ? Int(min($0 / 1_048_576, 1e9).rounded(.up)) : nil }
        }
    }

    /// The shortest predicted duration over backends, for ordering equal-priority tasks.
    public func predictedSeconds(kind: String, features: [String: Double]) -> Double? {
        locked {
            let backends = Set(executions.filter { $0.kind == kind }.map(\.backend))
            return backends.compactMap { predict(kind, $0, features, .duration)?.value }.min()
        }
    }

    /// The predictor's error on history it did not see: fitted on the older 80 % of runs,
    /// scored on the newest 20 % as the median absolute percentage error.
    public struct Accuracy: Sendable, Equatable {
        public let kind: String
        public let backend: String
        public let target: String
        public let trainRuns: Int
        public let heldOutRuns: Int
        public let medianAbsolutePercentError: Double
    }

    public func heldOutAccuracy(kind: String, backend: String, target: String = "duration") -> Accuracy? {
        locked {
            let rows = group(kind, backend, target == "memory" ? .memory : .duration).sorted { $0.at < $1.at }
            guard rows.count >= 10 else { return nil }
            let cut = rows.count * 4 / 5
            guard let m = Self.fit(Array(rows[..<cut]), target: target) else { return nil }
            let errors = rows[cut...].map { r -> Double in
                let p = exp(m.predict(r.features))
                let y = Self.value(r, target)
                return abs(p - y) / max(y, 1e-12)
            }.sorted()
            return Accuracy(
                kind: kind, backend: backend, target: target, trainRuns: cut, heldOutRuns: errors.count,
                medianAbsolutePercentError: 100 * errors[errors.count / 2])
        }
    }

    /// Every (kind, backend) pair with enough history for a held-out score.
    public func accuracies() -> [Accuracy] {
        let pairs = locked { Set(executions.map { "\($0.kind)|\($0.backend)" }).sorted() }
        return pairs.flatMap { p -> [Accuracy] in
            let parts = p.split(separator: "|").map(String.init)
            return ["duration", "memory"].compactMap { heldOutAccuracy(kind: parts[0], backend: parts[1], target: $0) }
        }
    }

    // MARK: Feedback-driven adjustments

    /// Geometric mean of actual/expected duration ratios users reported for this kind and
    /// backend: multiplies the duration predictor.
    public func correction(kind: String, backend: String) -> Double { locked { correctionLocked(kind, backend) } }

    private func correctionLocked(_ kind: String, _ backend: String) -> Double {
        guard enabled else { return 1 }
        let ratios = judgements.filter { $0.kind == kind && $0.backend == backend }.compactMap(\.durationRatio).filter { $0 > 0 }
        guard !ratios.isEmpty else { return 1 }
        return exp(ratios.map(log).reduce(0, +) / Double(ratios.count))
    }

    /// Suggestions of the form key=value from feedback on `kind`, newest last.
    private func suggestionValues(_ key: String, kind: String, model: String? = nil) -> [(String, FeedbackRecord)] {
        judgements.filter { $0.kind == kind && (model == nil || $0.model == model) }.flatMap { f in
            f.suggestions.compactMap { s -> (String, FeedbackRecord)? in
                let parts = s.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                return parts.count == 2 && parts[0] == key ? (parts[1], f) : nil
            }
        }
    }

    /// Score bonus per backend from `prefer_backend=` / `avoid_backend=` suggestions, each
    /// weighted by how unsatisfied the user was (1 − satisfaction, at least 0.25).
    public func backendBias(kind: String) -> [String: Double] {
        locked {
            guard enabled else { return [:] }
            var bias: [String: Double] = [:]
            for (b, f) in suggestionValues("prefer_backend", kind: kind) { bias[b, default: 0] += max(0.25, 1 - f.satisfaction) }
            for (b, f) in suggestionValues("avoid_backend", kind: kind) { bias[b, default: 0] -= max(0.25, 1 - f.satisfaction) }
            return bias
        }
    }

    /// The newest `batch_size=N` suggestion for this kind and model, if any.
    public func learnedBatchSize(kind: String, model: String) -> Int? {
        locked {
            guard enabled else { return nil }
            return suggestionValues("batch_size", kind: kind, model: model).last.flatMap { Int($0.0) }.flatMap { $0 > 0 ? $0 : nil }
        }
    }

    // MARK: Warm starts

    /// The best distinct configurations measured before for this model and target, best first,
    /// restricted to the dimensions of the new search.
    public func warmStart(model: String, target: String, dimensions: Set<String>, limit: Int = 3) -> [[String: String]] {
        locked {
            guard enabled else { return [] }
            var seen = Set<[String: String]>(), out: [[String: String]] = []
            for t in trials.filter({ $0.model == model && $0.target == target }).sorted(by: { $0.score > $1.score }) {
                let c = t.configuration.filter { dimensions.contains($0.key) }
                guard c.count == dimensions.count, seen.insert(c).inserted else { continue }
                out.append(c)
                if out.count == limit { break }
            }
            return out
        }
    }

    // MARK: Snapshots for insights and the adaptive choice

    public func executionsSnapshot() -> [ExecutionRecord] { locked { executions } }

    /// Success rate of the newest `window` runs on `backend` (any kind); nil without runs.
    public func successRate(backend: String, window: Int) -> (rate: Double, runs: Int)? {
        locked {
            let recent = executions.filter { $0.backend == backend }.suffix(max(window, 1))
            guard !recent.isEmpty else { return nil }
            return (Double(recent.filter(\.succeeded).count) / Double(recent.count), recent.count)
        }
    }

    /// Mean joules per second of a backend's metered runs; nil where nothing was metered.
    public func meanPowerW(kind: String, backend: String) -> Double? {
        locked {
            let metered = executions.filter { $0.kind == kind && $0.backend == backend && $0.energyJ != nil && $0.durationS > 0 }
            guard !metered.isEmpty else { return nil }
            return metered.map { ($0.energyJ ?? 0) / $0.durationS }.reduce(0, +) / Double(metered.count)
        }
    }

    // MARK: Insights

    public func insights(poolMB: Int? = nil) -> [Insight] {
        let (execs, typeHistory, judged) = locked { (executions, types, judgements) }
        var out = InsightBuilder.insights(executions: execs, poolMB: poolMB)
        out += coordinationInsights(typeHistory)
        out += feedbackInsights(typeHistory, judged)
        out += accuracies().map { a in
            Insight(
                category: Insight.performance, confidence: Insight.confidence(a.heldOutRuns),
                description: String(
                    format: "%@ predictor for %@ on %@: median error %.0f%% on %d held-out runs (fitted on %d)",
                    a.target, a.kind, a.backend, a.medianAbsolutePercentError, a.heldOutRuns, a.trainRuns))
        }
        return out.sorted { $0.confidence != $1.confidence ? $0.confidence > $1.confidence : $0.description < $1.description }
    }

    private func coordinationInsights(_ types: [String: TypeHistory]) -> [Insight] {
        var out: [Insight] = []
        for (type, h) in types.sorted(by: { $0.key < $1.key }) {
            if h.waits.count >= 2 {
                let w = h.waits.sorted()
                out.append(
                    Insight(
                        category: Insight.coordination, confidence: Insight.confidence(w.count),
                        description: String(
                            format: "%@ tasks waited p50 %.1f ms, max %.1f ms before starting (n=%d)",
                            type, w[w.count / 2] * 1e3, (w.last ?? 0) * 1e3, w.count)))
            }
            if h.runs.count >= 2 {
                let p = h.runs.reduce(0, +) / Double(h.runs.count)
                out.append(
                    Insight(
                        category: Insight.coordination, confidence: Insight.confidence(h.runs.count),
                        description: String(
                            format: "%@ tasks take %.3f s on average (n=%d); equal-priority queues run shorter work first",
                            type, p, h.runs.count)))
            }
            if !h.estimateRatios.isEmpty {
                let r = h.estimateRatios.reduce(0, +) / Double(h.estimateRatios.count)
                out.append(
                    Insight(
                        category: Insight.resources, confidence: Insight.confidence(h.estimateRatios.count),
                        description: String(
                            format: "%@ tasks ran %.2f× their duration_estimate on average (n=%d)",
                            type, r, h.estimateRatios.count)))
            }
            if h.failures > 0 {
                let total = h.runs.count + h.failures
                out.append(
                    Insight(
                        category: Insight.coordination, confidence: Insight.confidence(total),
                        description: "\(type) tasks failed \(h.failures) of \(total) times"))
            }
        }
        return out
    }

    private func feedbackInsights(_ types: [String: TypeHistory], _ judged: [FeedbackRecord]) -> [Insight] {
        var out: [Insight] = []
        for (type, h) in types.sorted(by: { $0.key < $1.key }) where !h.satisfaction.isEmpty {
            let mean = h.satisfaction.reduce(0, +) / Double(h.satisfaction.count)
            let b = locked { boostLocked(type) }
            let action = b > 0 ? "; its tasks now get +\(b) priority steps" : (enabled ? "" : " (learning disabled: no scheduling change)")
            out.append(
                Insight(
                    category: Insight.resources, confidence: Insight.confidence(h.satisfaction.count),
                    description: String(
                        format: "%@ tasks: mean satisfaction %.2f over %d judgements", type, mean,
                        h.satisfaction.count) + action))
            if let (top, count) = h.suggestions.max(by: { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }) {
                out.append(
                    Insight(
                        category: Insight.resources, confidence: Insight.confidence(count),
                        description: "\(type) tasks: most frequent suggestion \"\(top)\" (\(count)×)"))
            }
        }
        for kind in Set(judged.map(\.kind)).sorted() {
            for backend in Set(judged.filter { $0.kind == kind }.compactMap(\.backend)).sorted() {
                let n = judged.filter { $0.kind == kind && $0.backend == backend && $0.durationRatio != nil }.count
                guard n > 0 else { continue }
                let c = correction(kind: kind, backend: backend)
                out.append(
                    Insight(
                        category: Insight.performance, confidence: Insight.confidence(n),
                        description: String(
                            format: "%@ on %@ takes %.2f× what was expected (%d judgements); its duration predictions are scaled by it",
                            kind, backend, c, n)))
            }
        }
        return out
    }
}

public struct Insight: Sendable, Equatable {
    public let category: String
    public let confidence: Double
    public let description: String

    public init(category: String, confidence: Double, description: String) {
        self.category = category
        self.confidence = confidence
        self.description = description
    }

    /// The original design's five categories.
    public static let performance = "performance_optimization"
    public static let resources = "resource_allocation"
    public static let algorithms = "algorithm_selection"
    public static let memory = "memory_management"
    public static let coordination = "coordination"
    public static let categories = [performance, resources, algorithms, memory, coordination]

    /// Grows with the evidence: n / (n + 5), so 5 runs give 0.5 and 45 give 0.9.
    public static func confidence(_ n: Int) -> Double { Double(n) / Double(n + 5) }
}
