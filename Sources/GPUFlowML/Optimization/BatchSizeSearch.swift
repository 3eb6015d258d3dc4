import Foundation
import GPUFlowCompute
import GPUFlowCore

/// One measured configuration.
public struct Trial: Sendable {
    public let batchSize: Int
    public let p99LatencyMS: Double
    public let throughputPerSec: Double
    public let memoryMB: Double
    public let feasible: Bool
    public let score: Double
}

public struct SearchResult: Sendable {
    public let best: Trial?
    public let trials: [Trial]
    public let strategy: OptimizationStrategy
    public let target: OptimizationTarget
    public let candidates: [Int]
}

/// Searches the inference batch size that best meets an optimization target under its
/// constraints. Each trial is a real inference run over the data; the strategies differ only
/// in which batch sizes they spend their budget on.
public enum BatchSizeSearch {
    public static func run(model: MLPModel, data: Dataset, task: OptimizationTask, backend: Backend, seed: UInt64,
                           cancel: CancellationToken = CancellationToken()) throws -> SearchResult {
        var candidates: [Int] = []
        var b = 1
        while b <= min(1024, data.rows) { candidates.append(b); b *= 2 }
        if candidates.isEmpty { candidates = [1] }
        let budget = min(task.budget, candidates.count)
        var trials: [Int: Trial] = [:]
        func evaluate(_ i: Int) throws -> Trial {
            if let t = trials[i] { return t }
            let bs = candidates[i]
            _ = try InferenceRunner.run(model: model, data: data, batchSize: bs, backend: backend, cancel: cancel)  // warm-up
            let r = try InferenceRunner.run(model: model, data: data, batchSize: bs, backend: backend, cancel: cancel)
            let mem = Double(model.forwardTensorBytes(batch: bs)) / 1_048_576
            let c = task.constraints
            let feasible = (c.maxMemoryMB.map { mem <= Double($0) } ?? true)
                && (c.maxLatencyMS.map { r.latencyMS.p99 <= $0 } ?? true)
                && (c.minThroughputPerSec.map { r.throughputPerSec >= $0 } ?? true)
            // Lower is better for every target.
            let score: Double
            switch task.target {
            case .latency: score = r.latencyMS.p99
            case .throughput: score = -r.throughputPerSec
            case .memory: score = mem
            }
            let t = Trial(batchSize: bs, p99LatencyMS: r.latencyMS.p99, throughputPerSec: r.throughputPerSec,
                          memoryMB: mem, feasible: feasible, score: score)
            trials[i] = t
            return t
        }
        var rng = Philox(seed: seed)
        switch task.strategy {
        case .grid:
            // Evenly spaced over the candidates, ends included.
            let picks = budget <= 1 ? [candidates.count / 2]
                : (0..<budget).map { Int((Double($0) * Double(candidates.count - 1) / Double(budget - 1)).rounded()) }
            for i in Set(picks).sorted() { _ = try evaluate(i) }
        case .random:
            for i in rng.permutation(candidates.count).prefix(budget) { _ = try evaluate(i) }
        case .bayesian:
            let initial = rng.permutation(candidates.count).prefix(min(2, budget))
            for i in initial { _ = try evaluate(i) }
            while trials.count < budget {
                let next = GaussianProcess.nextByExpectedImprovement(
                    observed: trials.map { (Double($0.key), $0.value.feasible ? $0.value.score : nil) },
                    candidates: candidates.indices.filter { trials[$0] == nil }.map(Double.init))
                guard let next else { break }
                _ = try evaluate(Int(next))
            }
        }
        let ordered = trials.sorted { $0.key < $1.key }.map(\.value)
        let best = ordered.filter(\.feasible).min { $0.score < $1.score }
        return SearchResult(best: best, trials: ordered, strategy: task.strategy, target: task.target, candidates: candidates)
    }
}

/// A small Gaussian-process surrogate (RBF kernel, fixed length scale) with expected
/// improvement, over one ordinal dimension: enough for a batch-size ladder.
enum GaussianProcess {
    /// The candidate with the highest expected improvement over the best feasible observation.
    /// Infeasible observations (nil) count as the worst feasible score plus one spread.
    static func nextByExpectedImprovement(observed: [(Double, Double?)], candidates: [Double], lengthScale: Double = 1.5,
                                          noise: Double = 1e-6) -> Double? {
        guard !candidates.isEmpty else { return nil }
        let feasible = observed.compactMap(\.1)
        guard !feasible.isEmpty else { return candidates[candidates.count / 2] }
        let worst = feasible.max() ?? 0, bestY = feasible.min() ?? 0
        let spread = max(worst - bestY, 1e-9)
        let ys = observed.map { $0.1 ?? worst + spread }
        let mean = ys.reduce(0, +) / Double(ys.count)
        let sd = max((ys.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(ys.count)).squareRoot(), 1e-9)
        let y = ys.map { ($0 - mean) / sd }
        let xs = observed.map(\.0)
        func k(_ a: Double, _ b: Double) -> Double { exp(-(a - b) * (a - b) / (2 * lengthScale * lengthScale)) }
        let n = xs.count
        var K = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { K[i * n + j] = k(xs[i], xs[j]) + (i == j ? noise : 0) } }
        guard let L = cholesky(K, n) else { return candidates.first }
        let alpha = solveUpperT(L, solveLower(L, y, n), n)
        let target = (bestY - mean) / sd
        var bestEI = -Double.infinity, choice = candidates[0]
        for c in candidates {
            let ks = xs.map { k($0, c) }
            let mu = zip(ks, alpha).reduce(0) { $0 + $1.0 * $1.1 }
            let v = solveLower(L, ks, n)
            let variance = max(1 + noise - v.reduce(0) { $0 + $1 * $1 }, 1e-12)
            let s = variance.squareRoot()
            let z = (target - mu) / s
            let ei = (target - mu) * normalCDF(z) + s * normalPDF(z)
            if ei > bestEI { bestEI = ei; choice = c }
        }
        return choice
    }

    static func cholesky(_ a: [Double], _ n: Int) -> [Double]? {
        var l = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0...i {
                var s = a[i * n + j]
                for p in 0..<j { s -= l[i * n + p] * l[j * n + p] }
                if i == j {
                    guard s > 0 else { return nil }
                    l[i * n + i] = s.squareRoot()
                } else {
                    l[i * n + j] = s / l[j * n + j]
                }
            }
        }
        return l
    }

    static func solveLower(_ l: [Double], _ b: [Double], _ n: Int) -> [Double] {
        var x = [Double](repeating: 0, count: n)
        for i in 0..<n {
            var s = b[i]
            for p in 0..<i { s -= l[i * n + p] * x[p] }
            x[i] = s / l[i * n + i]
        }
        return x
    }

    static func solveUpperT(_ l: [Double], _ b: [Double], _ n: Int) -> [Double] {
        var x = [Double](repeating: 0, count: n)
        for i in stride(from: n - 1, through: 0, by: -1) {
            var s = b[i]
            for p in (i + 1)..<n { s -= l[p * n + i] * x[p] }
            x[i] = s / l[i * n + i]
        }
        return x
    }

    static func normalPDF(_ z: Double) -> Double { exp(-z * z / 2) / (2 * Double.pi).squareRoot() }
    static func normalCDF(_ z: Double) -> Double { 0.5 * erfc(-z / 2.0.squareRoot()) }
}
