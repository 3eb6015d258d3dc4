/// Learns from finished tasks and from users' feedback, and turns both into scheduling
/// decisions (priority boosts, shortest-predicted-first ordering) and readable insights.
///
/// Everything here is computed from observed runs; with no history it predicts nothing and
/// reports no insight rather than inventing one.
public struct GPULearningEngine: Sendable {
    public let enabled: Bool

    private struct TypeHistory {
        var runs: [Double] = []            // seconds, most recent last
        var estimateRatios: [Double] = []  // actual / estimate
        var failures = 0
        var satisfaction: [Double] = []
        var suggestions: [String: Int] = [:]
    }
    private var history: [String: TypeHistory] = [:]
    /// How many recent runs the averages look at.
    public let window = 50

    public init(enabled: Bool) { self.enabled = enabled }

    mutating func observe(_ record: TaskRecord) {
        var h = history[record.typeName, default: TypeHistory()]
        if record.state == .failed { h.failures += 1 }
        if record.state == .succeeded, let s = record.runSeconds {
            h.runs.append(s)
            if h.runs.count > window { h.runs.removeFirst() }
            if let est = record.durationEstimateS, est > 0 {
                h.estimateRatios.append(s / est)
                if h.estimateRatios.count > window { h.estimateRatios.removeFirst() }
            }
        }
        history[record.typeName] = h
    }

    mutating func feedback(_ record: TaskRecord, satisfaction: Double, suggestions: [String]) {
        var h = history[record.typeName, default: TypeHistory()]
        h.satisfaction.append(satisfaction)
        if h.satisfaction.count > window { h.satisfaction.removeFirst() }
        for s in suggestions { h.suggestions[s, default: 0] += 1 }
        history[record.typeName] = h
    }

    /// Mean run time of a task type, once at least two runs were seen.
    public func predictedSeconds(_ typeName: String) -> Double? {
        guard enabled, let runs = history[typeName]?.runs, runs.count >= 2 else { return nil }
        return runs.reduce(0, +) / Double(runs.count)
    }

    /// Boost steps for a type whose users were unsatisfied: 0 when satisfaction averages 0.7 or
    /// more, up to 7 steps when it is 0; needs two judgements before it acts.
    public func boost(for typeName: String) -> Int {
        guard enabled, let sat = history[typeName]?.satisfaction, sat.count >= 2 else { return 0 }
        let mean = sat.reduce(0, +) / Double(sat.count)
        return max(0, Int(((0.7 - mean) * 10).rounded()))
    }

    /// Statements about the history, each with a confidence that grows with its sample size
    /// (n / (n + 2)), most confident first.
    public func insights() -> [Insight] {
        var out: [Insight] = []
        func confidence(_ n: Int) -> Double { Double(n) / Double(n + 2) }
        for (type, h) in history.sorted(by: { $0.key < $1.key }) {
            if !h.satisfaction.isEmpty {
                let mean = h.satisfaction.reduce(0, +) / Double(h.satisfaction.count)
                let b = boost(for: type)
                let action = b > 0 ? "; its tasks now get +\(b) priority steps" :
                    (enabled ? "" : " (learning disabled: no scheduling change)")
                out.append(Insight(category: "satisfaction", confidence: confidence(h.satisfaction.count),
                                   description: String(format: "%@ tasks: mean satisfaction %.2f over %d judgements", type, mean,
                                                       h.satisfaction.count) + action))
            }
            if let (top, count) = h.suggestions.max(by: { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }) {
                out.append(Insight(category: "suggestion", confidence: confidence(count),
                                   description: "\(type) tasks: most frequent suggestion \"\(top)\" (\(count)×)"))
            }
            if !h.estimateRatios.isEmpty {
                let r = h.estimateRatios.reduce(0, +) / Double(h.estimateRatios.count)
                out.append(Insight(category: "duration", confidence: confidence(h.estimateRatios.count),
                                   description: String(format: "%@ tasks ran %.2f× their duration_estimate on average (n=%d)",
                                                       type, r, h.estimateRatios.count)))
            }
            if h.runs.count >= 2, let p = predictedSeconds(type) {
                out.append(Insight(category: "scheduling", confidence: confidence(h.runs.count),
                                   description: String(format: "%@ tasks take %.3f s on average (n=%d); equal-priority queues run shorter types first",
                                                       type, p, h.runs.count)))
            }
            let total = h.runs.count + h.failures
            if h.failures > 0 {
                out.append(Insight(category: "reliability", confidence: confidence(total),
                                   description: "\(type) tasks failed \(h.failures) of \(total) times"))
            }
        }
        return out.sorted { $0.confidence > $1.confidence }
    }
}

public struct Insight: Sendable, Equatable {
    public let category: String
    public let confidence: Double
    public let description: String
}
