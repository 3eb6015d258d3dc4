import Foundation
import GPUFlowCompute
import GPUFlowCore

/// One measured configuration.
public struct Trial: Sendable {
    /// The point: each searched dimension's value, by name (numbers or names).
    public let configuration: [(String, TaskValue)]
    public let batchSize: Int
    public let p99LatencyMS: Double
    public let throughputPerSec: Double
    public let memoryMB: Double
    public let accuracy: Double?
    public let powerW: Double?
    public let feasible: Bool
    /// Why the point was infeasible, when it was.
    public let reason: String?
    public let score: Double
}

public struct SearchResult: Sendable {
    public let best: Trial?
    public let trials: [Trial]
    public let strategy: OptimizationStrategy
    public let target: OptimizationTarget
    /// Dimension names and their value counts.
    public let dimensions: [(String, Int)]
    /// Points in the whole space (a grid larger than the budget measures only part of it).
    public var spaceSize = 0
}

/// What a search tunes: an MLP (the width of its hidden layers searched as `hidden`), or a
/// graph model with the candidates its builder made, one per point of the architecture
/// dimensions (width, depth, dropout: any names the script chose), built before the search.
public enum SearchSubject: Sendable {
    case mlp(MLPModel)
    case graph(GraphNetwork, candidates: [GraphCandidate])
}

/// A graph built for one point of the architecture dimensions.
public struct GraphCandidate: Sendable {
    public let values: [String: Double]
    public let graph: GraphNetwork
    public init(values: [String: Double], graph: GraphNetwork) {
        self.values = values
        self.graph = graph
    }
}

/// A trial's model, trained or as given, served on the trial's backend.
private enum Served {
    case mlp(MLPModel)
    case graph(GraphModel)

    func serve(_ data: Dataset, batchSize: Int, backend: Backend, cancel: CancellationToken) throws -> InferenceReport {
        switch self {
        case .mlp(let m): return try InferenceRunner.run(model: m, data: data, batchSize: batchSize, backend: backend, cancel: cancel)
        case .graph(let g):
            return try GraphInference.run(
                GraphRunner(g, on: backend), data: data, batchSize: batchSize, raw: data.targets != nil, cancel: cancel)
        }
    }
}

/// Searches configurations for an optimization target under constraints. Dimensions: the
/// inference batch size, the backend, and the training hyper-parameters learning_rate and
/// hidden (width of every hidden layer of an MLP) or a graph's architecture dimensions. Each trial really runs — a training run when the
/// point changes training, then a measured inference run — and the strategies (SearchEngine)
/// differ only in which points they spend their budget on.
public enum ConfigurationSearch {
    public static let dimensionNames = "batch_size, backend, learning_rate, hidden, tile"

    public static func run(
        model: MLPModel, data: Dataset, task: OptimizationTask, backend: Backend, seed: UInt64,
        device: DeviceSelection = .init(), cancel: CancellationToken = CancellationToken()
    ) throws -> SearchResult {
        try run(.mlp(model), data: data, task: task, backend: backend, seed: seed, device: device, cancel: cancel)
    }

    public static func run(
        _ subject: SearchSubject, data: Dataset, task: OptimizationTask, backend: Backend, seed: UInt64,
        device: DeviceSelection = .init(), cancel: CancellationToken = CancellationToken()
    ) throws -> SearchResult {
        var space = task.space
        var architecture: Set<String> = []
        if case .graph(_, let candidates) = subject { architecture = Set(candidates.first?.values.keys.map { $0 } ?? []) }
        // The serving batch size is searched when asked for, or when nothing else is: a search
        // over training hyper-parameters serves every candidate at batch size 64 instead of
        // spending the budget on a dimension nobody asked about.
        let trainingOnly = space["learning_rate"] != nil || space["hidden"] != nil || !architecture.isEmpty
        if space["batch_size"] == nil, !trainingOnly {
            var b = 1, sizes: [Double] = []
            while b <= min(1024, data.rows) { sizes.append(Double(b)); b *= 2 }
            space["batch_size"] = .numbers(sizes.isEmpty ? [1] : sizes)
        }
        for (name, values) in space {
            guard ["batch_size", "backend", "learning_rate", "hidden", "tile"].contains(name) || architecture.contains(name) else {
                throw MLError("optimization: unknown search dimension '\(name)' (\(dimensionNames))")
            }
            if name == "hidden", case .graph = subject {
                throw MLError(
                    "optimization: hidden sizes an nn.mlp model; a graph model searches the dimensions its builder function reads")
            }
            guard values.count > 0 else { throw MLError("optimization: search dimension '\(name)' has no values") }
        }
        let names = space.keys.sorted()
        let trains =
            space["learning_rate"] != nil || space["hidden"] != nil || !architecture.isEmpty || task.target == .accuracy
            || (task.target == .multi_objective && (task.weights["accuracy"] ?? 0) != 0)
        if trains, data.classCount == nil { throw MLError("optimization: accuracy needs class labels in the data") }
        let meter = PowerMeter.available()
        let needsPower =
            task.target == .power_efficiency || task.constraints.maxPowerW != nil
            || (task.target == .multi_objective && (task.weights["power"] ?? 0) != 0)
        if needsPower, meter == nil {
            throw MLError(
                "optimization: \(task.target == .power_efficiency ? "power_efficiency" : "a power constraint") needs a power reading "
                    + "(NVML on NVIDIA, or readable RAPL); this machine has neither, so it will not optimize an invented number")
        }
        var trials: [Trial] = []
        func evaluate(_ point: [Int]) throws -> Double? {
            try cancel.check()
            var config: [(String, TaskValue)] = []
            var batch = 64, kind: BackendKind?, rate = 1e-3, width: Int?, tile: Int?
            var shape: [String: Double] = [:]
            for (d, name) in names.enumerated() {
                switch space[name] {
                case .numbers(let v)?:
                    let x = v[point[d]]
                    let whole = x == x.rounded() && abs(x) < 1e15 && name != "learning_rate"
                    config.append((name, whole ? .integer(Int(x)) : .number(x)))
                    switch name {
                    case "batch_size": batch = max(1, Int(x))
                    case "learning_rate": rate = x
                    case "tile": tile = Int(x)
                    case _ where architecture.contains(name): shape[name] = x
                    default: width = max(1, Int(x))
                    }
                case .names(let v)?:
                    config.append((name, .string(v[point[d]])))
                    kind = BackendKind(rawValue: v[point[d]])
                case nil: break
                }
            }
            func record(_ t: Trial) -> Double? {
                trials.append(t)
                return t.feasible ? t.score : nil
            }
            let trialBackend: Backend
            do {
                trialBackend = try kind.map { try BackendSelector.make($0, device: device).backend } ?? backend
            } catch {
                return record(
                    Trial(
                        configuration: config, batchSize: batch, p99LatencyMS: .nan, throughputPerSec: .nan, memoryMB: .nan,
                        accuracy: nil, powerW: nil, feasible: false, reason: "\(error)", score: .infinity))
            }
            if let tile {
                // The GEMM workgroup only exists on Vulkan; elsewhere the trial says so and is not counted.
                guard let v = trialBackend as? GEMMTileTuning else {
                    return record(
                        Trial(
                            configuration: config, batchSize: batch, p99LatencyMS: .nan, throughputPerSec: .nan, memoryMB: .nan,
                            accuracy: nil, powerW: nil, feasible: false,
                            reason: "tile applies to the vulkan backend only (this trial ran on \(trialBackend.name))", score: .infinity))
                }
                guard v.gemmTiles.contains(tile) else {
                    return record(
                        Trial(
                            configuration: config, batchSize: batch, p99LatencyMS: .nan, throughputPerSec: .nan, memoryMB: .nan,
                            accuracy: nil, powerW: nil, feasible: false,
                            reason: "tile \(tile) is not 4, 8 or 16 within the device's workgroup limit", score: .infinity))
                }
                v.gemmTile = UInt32(tile)
            }
            var served: Served, accuracy: Double?
            let training = TrainingTask(
                algorithm: .adam(Adam(learningRate: rate)), epochs: task.trainingEpochs, batchSize: 32, validationSplit: 0.2)
            switch subject {
            case .mlp(let model):
                served = .mlp(model)
                if trains {
                    let candidate = MLPModel(
                        inputs: model.inputs, hidden: model.hidden.map { width ?? $0 }, outputs: model.outputs,
                        activation: model.layers.first?.activation ?? .relu, seed: seed)
                    let trained = try Trainer.train(
                        model: candidate, data: data, task: training, backend: trialBackend, seed: seed,
                        cancel: cancel)
                    served = .mlp(trained.model)
                    accuracy = trained.epochs.last?.validationAccuracy
                }
            case .graph(let base, let candidates):
                var graph = base.graph
                if !shape.isEmpty {
                    guard let c = candidates.first(where: { $0.values == shape }) else {
                        throw MLError("optimization: no model was built for \(shape.sorted { $0.key < $1.key })")
                    }
                    graph = c.graph.graph
                }
                served = .graph(graph)
                if trains {
                    let trained = try GraphTrainer.train(
                        graph, data: data, task: training, backend: trialBackend, seed: seed, cancel: cancel)
                    served = .graph(trained.model)
                    accuracy = trained.epochs.last?.validationAccuracy
                }
            }
            _ = try served.serve(data, batchSize: batch, backend: trialBackend, cancel: cancel)  // warm-up
            let joules0 = meter?.joules()
            // Memory as the tensor meter saw it during the measured run (weights, inputs,
            // activations, outputs), not as computed from layer sizes.
            let base = trialBackend.tensorMeter?.startWindow()
            let r = try served.serve(data, batchSize: batch, backend: trialBackend, cancel: cancel)
            let power = zip2(joules0, meter?.joules()).map { ($1 - $0) / max(r.seconds, 1e-9) }
            let metered = zip2(base, trialBackend.tensorMeter?.peakBytes).map { Double($1 - $0) }
            let mem = (metered ?? Double(r.tensorBytes)) / 1_048_576
            let c = task.constraints
            var broken: [String] = []
            if let m = c.maxMemoryMB, mem > Double(m) { broken.append(String(format: "memory %.3f MB > %d", mem, m)) }
            if let l = c.maxLatencyMS, r.latencyMS.p99 > l { broken.append(String(format: "p99 %.3f ms > %g", r.latencyMS.p99, l)) }
            if let t = c.minThroughputPerSec, r.throughputPerSec < t {
                broken.append(String(format: "throughput %.0f/s < %g", r.throughputPerSec, t))
            }
            if let w = c.maxPowerW, let p = power, p > w { broken.append(String(format: "power %.1f W > %g", p, w)) }
            let score: Double
            switch task.target {
            case .latency: score = r.latencyMS.p99
            case .throughput: score = -r.throughputPerSec
            case .memory: score = mem
            case .memory_efficiency: score = -r.throughputPerSec / max(mem, 1e-9)
            case .power_efficiency: score = -r.throughputPerSec / max(power ?? .infinity, 1e-9)
            case .accuracy: score = -(accuracy ?? 0)
            case .multi_objective:
                // Weighted logs, so every metric counts by ratio whatever its unit.
                func w(_ k: String) -> Double { task.weights[k] ?? 0 }
                score =
                    w("latency") * log(max(r.latencyMS.p99, 1e-9)) + w("memory") * log(max(mem, 1e-9))
                    - w("throughput") * log(max(r.throughputPerSec, 1e-9)) - w("accuracy") * log(max(accuracy ?? 1e-9, 1e-9))
                    + w("power") * log(max(power ?? 1, 1e-9))
            }
            return record(
                Trial(
                    configuration: config, batchSize: batch, p99LatencyMS: r.latencyMS.p99, throughputPerSec: r.throughputPerSec,
                    memoryMB: mem, accuracy: accuracy, powerW: power, feasible: broken.isEmpty,
                    reason: broken.isEmpty ? nil : broken.joined(separator: "; "), score: score))
        }
        let sizes = names.map { space[$0]?.count ?? 1 }
        let initial = task.warmStartConfigurations.compactMap { c in point(c, names: names, space: space) }
        _ = try SearchEngine.run(
            sizes: sizes, budget: task.budget, strategy: task.strategy, seed: seed, initial: initial, evaluate: evaluate)
        var best: Trial?
        if task.strategy == .multi_armed_bandit {
            // A bandit measures its arms again and again: the arm with the best mean score wins.
            var groups: [String: [Trial]] = [:]
            for t in trials where t.feasible { groups["\(t.configuration.map { "\($0.0)=\($0.1)" })", default: []].append(t) }
            best =
                groups.values.min { a, b in
                    a.map(\.score).reduce(0, +) / Double(a.count) < b.map(\.score).reduce(0, +) / Double(b.count)
                }?.first
        } else {
            for t in trials where t.feasible && t.score < (best?.score ?? .infinity) { best = t }
        }
        var result = SearchResult(
            best: best, trials: trials, strategy: task.strategy, target: task.target,
            dimensions: names.map { ($0, space[$0]?.count ?? 0) })
        result.spaceSize = sizes.reduce(1, *)
        return result
    }

    /// A dimension value as the text trials are remembered by.
    public static func text(_ v: TaskValue) -> String {
        switch v {
        case .integer(let i): return String(i)
        case .number(let d): return "\(d)"
        case .string(let s): return s
        default: return "\(v)"
        }
    }

    /// The indices of a remembered configuration in this search's space, nil where a value is
    /// not among the dimension's values.
    static func point(_ c: [String: String], names: [String], space: [String: SearchValues]) -> [Int]? {
        var p: [Int] = []
        for name in names {
            guard let want = c[name] else { return nil }
            switch space[name] {
            case .numbers(let v)?:
                guard let x = Double(want), let i = v.firstIndex(where: { abs($0 - x) <= 1e-12 * max(1, abs(x)) }) else { return nil }
                p.append(i)
            case .names(let v)?:
                guard let i = v.firstIndex(of: want) else { return nil }
                p.append(i)
            case nil: return nil
            }
        }
        return p
    }

    private static func zip2<A, B>(_ a: A?, _ b: B?) -> (A, B)? {
        guard let a, let b else { return nil }
        return (a, b)
    }
}

/// A small Gaussian-process surrogate (RBF kernel, fixed length scale) with expected
/// improvement, over one ordinal dimension: enough for a batch-size ladder.
enum GaussianProcess {
    /// The candidate with the highest expected improvement over the best feasible observation.
    /// Infeasible observations (nil) count as the worst feasible score plus one spread.
    static func nextByExpectedImprovement(
        observed: [(Double, Double?)], candidates: [Double], lengthScale: Double = 1.5,
        noise: Double = 1e-6
    ) -> Double? {
        nextByExpectedImprovement(
            observed: observed.map { ([$0.0], $0.1) }, candidates: candidates.map { [$0] },
            lengthScale: lengthScale, noise: noise)?.first
    }

    /// The same over points of any dimension (RBF kernel on Euclidean distance).
    static func nextByExpectedImprovement(
        observed: [([Double], Double?)], candidates: [[Double]], lengthScale: Double,
        noise: Double = 1e-6
    ) -> [Double]? {
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
        func k(_ a: [Double], _ b: [Double]) -> Double {
            exp(-zip(a, b).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / (2 * lengthScale * lengthScale))
        }
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
