import Foundation
import GPUFlowCompute
import GPUFlowCore

/// Search strategies over a discrete space: each dimension a list of values, a point a vector of
/// indices. `evaluate` measures a point for real and returns its score (lower is better) or nil
/// when it breaks a constraint. Every strategy spends at most `budget` evaluations.
///
/// `initial` points (a warm start from similar past searches) are measured first and count
/// against the budget; each strategy then starts from what they showed: the model-based one
/// fits its surrogate to them, the local ones start at the best of them, the population-based
/// ones breed from them.
enum SearchEngine {
    typealias Point = [Int]

    static func run(
        sizes: [Int], budget: Int, strategy: OptimizationStrategy, seed: UInt64, initial: [Point] = [],
        evaluate: (Point) throws -> Double?
    ) throws -> [(Point, Double?)] {
        var rng = Philox(seed: seed)
        var seen: [Point: Double?] = [:]
        var order: [Point] = []
        let total = sizes.reduce(1, *)
        let budget = min(budget, strategy == .multi_armed_bandit ? budget : total)
        func score(_ p: Point) throws -> Double? {
            if let s = seen[p] { return s }
            let s = try evaluate(p)
            seen[p] = s
            order.append(p)
            return s
        }
        func value(_ s: Double?) -> Double { s ?? .infinity }
        func point(_ linear: Int) -> Point {
            var rest = linear
            return sizes.map { n in
                defer { rest /= n }; return rest % n
            }
        }
        func randomPoint() -> Point { sizes.map { rng.below($0) } }
        let starts = initial.filter { $0.count == sizes.count && zip($0, sizes).allSatisfy { $0 >= 0 && $0 < $1 } }
        if strategy != .multi_armed_bandit { for p in starts.prefix(budget) { _ = try score(p) } }  // a bandit pulls them as arms
        let bestStart = starts.filter { seen[$0] != nil }.min { value(seen[$0] ?? nil) < value(seen[$1] ?? nil) }
        switch strategy {
        case .grid:
            let picks =
                budget <= 1 ? [total / 2] : (0..<budget).map { Int((Double($0) * Double(total - 1) / Double(budget - 1)).rounded()) }
            for i in Set(picks).sorted() where seen.count < budget { _ = try score(point(i)) }
        case .random:
            for i in rng.permutation(total) where seen.count < budget { _ = try score(point(i)) }
        case .greedy:
            // Coordinate search from the middle (or the best warm start): sweep one dimension at a time, keep the best.
            var current = bestStart ?? sizes.map { $0 / 2 }
            var best = value(try score(current))
            var improved = true
            while improved && seen.count < budget {
                improved = false
                for d in sizes.indices {
                    for v in 0..<sizes[d] where seen.count < budget {
                        var p = current
                        p[d] = v
                        let s = value(try score(p))
                        if s < best { best = s; current = p; improved = true }
                    }
                }
            }
        case .genetic:
            var population = Array(starts.prefix(6))
            population += (0..<max(0, min(6, budget) - population.count)).map { _ in randomPoint() }
            for p in population where seen.count < budget { _ = try score(p) }
            var stale = 0
            while seen.count < budget && stale < 50 * budget {
                population.sort { value(seen[$0] ?? nil) < value(seen[$1] ?? nil) }
                let (a, b) = (population[0], population[min(1, population.count - 1)])
                var child = sizes.indices.map { rng.below(2) == 0 ? a[$0] : b[$0] }
                let d = rng.below(sizes.count)
                child[d] = rng.below(sizes[d])
                if seen[child] != nil { stale += 1; continue }
                _ = try score(child)
                population[population.count - 1] = child
            }
        case .simulated_annealing:
            var current = bestStart ?? randomPoint()
            var currentScore = value(try score(current))
            var temperature = 1.0
            var stale = 0, iterations = 0
            // Moves that land on known points cost no evaluation; the iteration cap ends a walk
            // that keeps landing on them.
            while seen.count < budget && stale < 50 && iterations < 40 * budget {
                iterations += 1
                var p = current
                let d = rng.below(sizes.count)
                p[d] = max(0, min(sizes[d] - 1, p[d] + (rng.below(2) == 0 ? -1 : 1)))
                if seen[p] != nil && p != current { stale += 1 }
                let s = value(try score(p))
                let scale = max(abs(currentScore), 1e-9)
                if s < currentScore || Double(rng.uniform()) < exp(-(s - currentScore) / (scale * temperature)) {
                    current = p
                    currentScore = s
                }
                temperature *= 0.8
            }
        case .bayesian:
            for _ in 0..<max(0, min(2, budget) - starts.count) { _ = try score(randomPoint()) }
            while seen.count < budget {
                let all = total <= 4096 ? (0..<total).map(point) : (0..<512).map { _ in randomPoint() }
                let open = all.filter { seen[$0] == nil }
                guard !open.isEmpty else { break }
                let norm: (Point) -> [Double] = { p in p.indices.map { sizes[$0] > 1 ? Double(p[$0]) / Double(sizes[$0] - 1) : 0 } }
                guard
                    let next = GaussianProcess.nextByExpectedImprovement(
                        observed: order.map { (norm($0), seen[$0] ?? nil) }, candidates: open.map(norm), lengthScale: 0.3)
                else { break }
                guard let p = open.first(where: { norm($0) == next }) else { break }
                _ = try score(p)
            }
        case .multi_armed_bandit:
            // UCB1 over a handful of configurations whose measurements are noisy: each pull
            // measures again, and the average decides.
            let armCount = min(total, max(2, budget / 3))
            let arms = Array(starts.prefix(armCount)) + (0..<max(0, armCount - starts.count)).map { _ in randomPoint() }
            var pulls = [Int](repeating: 0, count: arms.count), sums = [Double](repeating: 0, count: arms.count)
            var results: [(Point, Double?)] = []
            for t in 0..<budget {
                let i: Int
                if t < arms.count {
                    i = t
                } else {
                    let means = arms.indices.map { -sums[$0] / Double(pulls[$0]) }
                    let spread = max((means.max() ?? 1) - (means.min() ?? 0), 1e-9)
                    i =
                        arms.indices.max { a, b in
                            means[a] / spread + (2 * log(Double(t)) / Double(pulls[a])).squareRoot()
                                < means[b] / spread + (2 * log(Double(t)) / Double(pulls[b])).squareRoot()
                        } ?? 0
                }
                let s = try evaluate(arms[i])
                pulls[i] += 1
                sums[i] += s ?? 1e12
                results.append((arms[i], s))
            }
            // One result per arm: its mean over every pull.
            return arms.indices.filter { pulls[$0] > 0 }.map { i in
                let mean = sums[i] / Double(pulls[i])
                return (arms[i], mean >= 1e12 ? nil : mean)
            }
        }
        return order.map { ($0, seen[$0] ?? nil) }
    }
}
