import Foundation

/// Insights computed from execution history: each names its numbers and its sample size, and
/// none is emitted without the evidence it rests on.
enum InsightBuilder {
    static func insights(executions: [ExecutionRecord], poolMB: Int?) -> [Insight] {
        let ok = executions.filter(\.succeeded)
        return backendComparisons(ok) + algorithmComparisons(ok) + memoryUse(ok, poolMB: poolMB)
    }

    static func median(_ v: [Double]) -> Double {
        let s = v.sorted()
        return s.isEmpty ? .nan : s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// Per task kind and size class, the fastest backend against the slowest (two runs each at least).
    static func backendComparisons(_ runs: [ExecutionRecord]) -> [Insight] {
        var out: [Insight] = []
        let groups = Dictionary(grouping: runs.filter { $0.sizeClass != nil }) { "\($0.kind)|\($0.sizeClass?.exponent ?? 0)" }
        for (_, g) in groups.sorted(by: { $0.key < $1.key }) {
            let byBackend = Dictionary(grouping: g, by: \.backend).filter { $0.value.count >= 2 }
            guard byBackend.count >= 2, let first = g.first, let size = first.sizeClass else { continue }
            let medians = byBackend.mapValues { median($0.map(\.durationS)) }.sorted { $0.value < $1.value }
            guard let fast = medians.first, let slow = medians.last, fast.value > 0 else { continue }
            let n = byBackend.values.reduce(0) { $0 + $1.count }
            let counts = byBackend.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value.count)" }.joined(separator: ", ")
            let device = byBackend[slow.key]?.first?.device ?? ""
            out.append(
                Insight(
                    category: Insight.performance, confidence: Insight.confidence(n),
                    description: String(
                        format: "%@ beat %@ %.1f× for %@ work %@ (median %.4f s vs %.4f s; %d runs: %@; %@ on %@)",
                        fast.key, slow.key, slow.value / fast.value, first.kind, size.description,
                        fast.value, slow.value, n, counts, slow.key, device)))
        }
        return out
    }

    /// Per model, training algorithms by final accuracy (or loss); per search target, strategies
    /// by the trial that found their best.
    static func algorithmComparisons(_ runs: [ExecutionRecord]) -> [Insight] {
        var out: [Insight] = []
        let training = runs.filter { $0.kind == "training" && $0.parameters["algorithm"] != nil && $0.parameters["model"] != nil }
        for (model, g) in Dictionary(grouping: training, by: { $0.parameters["model"] ?? "" }).sorted(by: { $0.key < $1.key }) {
            let metric = g.allSatisfy { $0.outcomes["accuracy"] != nil } ? "accuracy" : "loss"
            let byAlgorithm = Dictionary(grouping: g.filter { $0.outcomes[metric] != nil }) { $0.parameters["algorithm"] ?? "" }
            guard byAlgorithm.count >= 2 else { continue }
            let means = byAlgorithm.mapValues { v in v.map { $0.outcomes[metric] ?? 0 }.reduce(0, +) / Double(v.count) }
                .sorted { metric == "accuracy" ? $0.value > $1.value : $0.value < $1.value }
            let n = byAlgorithm.values.reduce(0) { $0 + $1.count }
            let list = means.map { String(format: "%@ %.4g (n=%d)", $0.key, $0.value, byAlgorithm[$0.key]?.count ?? 0) }.joined(
                separator: ", ")
            out.append(
                Insight(
                    category: Insight.algorithms, confidence: Insight.confidence(n),
                    description: "on model \(model), \(means[0].key) gives the best mean final \(metric): \(list)"))
        }
        let searches = runs.filter { $0.kind == "optimization" && $0.outcomes["best_trial"] != nil && $0.parameters["strategy"] != nil }
        for (target, g) in Dictionary(grouping: searches, by: { $0.parameters["target"] ?? "" }).sorted(by: { $0.key < $1.key }) {
            let byStrategy = Dictionary(grouping: g) { $0.parameters["strategy"] ?? "" }
            guard byStrategy.count >= 2 else { continue }
            let means = byStrategy.mapValues { v in v.map { $0.outcomes["best_trial"] ?? 0 }.reduce(0, +) / Double(v.count) }
                .sorted { $0.value < $1.value }
            let list = means.map { String(format: "%@ at trial %.1f (n=%d)", $0.key, $0.value, byStrategy[$0.key]?.count ?? 0) }
                .joined(separator: ", ")
            out.append(
                Insight(
                    category: Insight.algorithms, confidence: Insight.confidence(g.count),
                    description: "for \(target) searches, \(means[0].key) found its best configuration soonest: \(list)"))
        }
        return out
    }

    /// Measured peaks against declared memory and against the pool.
    static func memoryUse(_ runs: [ExecutionRecord], poolMB: Int?) -> [Insight] {
        var out: [Insight] = []
        for (kind, g) in Dictionary(grouping: runs.filter { $0.peakMemoryBytes != nil }, by: \.kind).sorted(by: { $0.key < $1.key }) {
            let peaks = g.compactMap(\.peakMemoryBytes).sorted()
            let p95 = peaks[min(peaks.count - 1, Int((Double(peaks.count) * 0.95).rounded(.up)) - 1)] / 1_048_576
            if let poolMB, poolMB > 0 {
                out.append(
                    Insight(
                        category: Insight.memory, confidence: Insight.confidence(peaks.count),
                        description: String(
                            format: "%@ tasks peaked at %.2f MB of tensors (p95 of %d runs), %.2f%% of the %d MB pool",
                            kind, p95, peaks.count, 100 * p95 / Double(poolMB), poolMB)))
            }
            let declared = g.filter { ($0.features["declared_mb"] ?? 0) > 1 }
            if !declared.isEmpty {
                let d = median(declared.map { $0.features["declared_mb"] ?? 0 })
                let m = median(declared.compactMap(\.peakMemoryBytes)) / 1_048_576
                out.append(
                    Insight(
                        category: Insight.resources, confidence: Insight.confidence(declared.count),
                        description: String(
                            format:
                                "%@ tasks declared %.0f MB (median) and used %.2f MB (median of %d runs): declaring about %.0f MB would admit %.0f× more at once",
                            kind, d, m, declared.count, max(1, (m * 1.25).rounded(.up)), d / max(1, (m * 1.25).rounded(.up)))))
            }
        }
        return out
    }
}
