import Foundation
import GPUFlowCompute
import GPUFlowCore

/// Neuro-evolution of an MLP's weights: a population of weight vectors, mutated and selected
/// by fitness (−loss) each generation. The whole population is evaluated together: each layer
/// of every member is one strided-batched GEMM (`gemmBatched`), biases a second one against a
/// shared column of ones, so a generation costs a handful of dispatches, not one per model.
public enum EvolutionaryTrainer {
    /// Rows of the data evaluated per generation (a seeded sample when the set is larger).
    static let evaluationRows = 512
    /// Standard deviation of a mutation.
    static let mutationScale: Float = 0.1

    public static func train(
        model: MLPModel, data: Dataset, config: Evolutionary, generations: Int, loss: LossKind,
        backend: Backend, seed: UInt64, cancel: CancellationToken = CancellationToken()
    ) throws -> TrainingResult {
        try Validation.check(model: model, data: data, loss: loss, context: "evolutionary training")
        let start = Date()
        var rng = Philox(seed: seed)
        let p = config.populationSize
        let base = model.layers.flatMap { $0.weights + $0.bias }
        var population: [[Float]] = [base] + (1..<p).map { _ in base.map { $0 + rng.normal() * mutationScale } }
        var history: [EpochMetrics] = []
        var best: (fitness: Float, weights: [Float]) = (-.infinity, base)
        for generation in 1...generations {
            try cancel.check()
            let genStart = Date()
            let rows = data.rows <= evaluationRows ? Array(0..<data.rows) : Array(rng.permutation(data.rows).prefix(evaluationRows))
            let (losses, accuracies) = try evaluate(population, model: model, data: data, rows: rows, loss: loss, backend: backend)
            let fitness = losses.map { -$0 }
            let order = fitness.indices.sorted { fitness[$0] > fitness[$1] }
            if fitness[order[0]] > best.fitness { best = (fitness[order[0]], population[order[0]]) }
            let seconds = Date().timeIntervalSince(genStart)
            history.append(
                EpochMetrics(
                    epoch: generation, loss: Double(losses[order[0]]), accuracy: accuracies.map { Double($0[order[0]]) },
                    validationLoss: nil, validationAccuracy: nil, seconds: seconds,
                    samplesPerSecond: Double(rows.count * p) / max(seconds, 1e-9)))
            if generation == generations { break }
            population = nextGeneration(population, fitness: fitness, order: order, config: config, rng: &rng)
        }
        return TrainingResult(
            model: unflatten(best.weights, like: model), epochs: history, seconds: Date().timeIntervalSince(start),
            backend: backend.name)
    }

    /// Elites survive; the rest are mutated children of parents chosen by the selection rule.
    static func nextGeneration(_ population: [[Float]], fitness: [Float], order: [Int], config: Evolutionary, rng: inout Philox)
        -> [[Float]]
    {
        let p = population.count
        let elites = config.selection == .elitist ? max(2, p / 5) : 1
        var next = order.prefix(elites).map { population[$0] }
        let maxF = fitness.max() ?? 0
        let weights = fitness.map { expf(($0 - maxF) * 4) }  // roulette: a softmax of fitness
        let total = weights.reduce(0, +)
        while next.count < p {
            let parent: Int
            switch config.selection {
            case .elitist:
                parent = order[next.count % elites]
            case .tournament:
                let contenders = (0..<3).map { _ in rng.below(p) }
                parent = contenders.max { fitness[$0] < fitness[$1] } ?? 0
            case .roulette:
                var u = rng.uniform() * total, i = 0
                while i < p - 1, u >= weights[i] { u -= weights[i]; i += 1 }
                parent = i
            }
            next.append(
                population[parent].map { w in
                    rng.uniform() < Float(config.mutationRate) ? w + rng.normal() * mutationScale : w
                })
        }
        return next
    }

    /// Every member's outputs for `n` input rows, as one P×n×outputs tensor: per layer one
    /// batched GEMM for the weights and one against a shared column of ones for the biases.
    /// `inputStride` 0 shares one n×inputs block across members; n·inputs gives each its own.
    static func forwardPopulation(
        _ population: [[Float]], model: MLPModel, input: Tensor, inputStride: Int, rows n: Int,
        backend: Backend
    ) throws -> Tensor {
        let p = population.count
        var current = input
        var currentStride = inputStride
        let ones = try backend.filled(1, shape: [n, 1])
        var offset = 0
        for (li, l) in model.layers.enumerated() {
            let wCount = l.inputs * l.outputs
            var w = [Float](), b = [Float]()
            w.reserveCapacity(p * wCount)
            b.reserveCapacity(p * l.outputs)
            for member in population {
                w += member[offset..<(offset + wCount)]
                b += member[(offset + wCount)..<(offset + wCount + l.outputs)]
            }
            offset += wCount + l.outputs
            let wt = try backend.tensor(w, shape: [p, l.inputs, l.outputs]), bt = try backend.tensor(b, shape: [p, 1, l.outputs])
            let z = try backend.zeros(shape: [p, n, l.outputs])
            try backend.gemmBatched(
                current, wt, z, batch: p, m: n, n: l.outputs, k: l.inputs, strideA: currentStride,
                strideB: wCount, strideC: n * l.outputs, transA: false, transB: false, alpha: 1, beta: 0)
            try backend.gemmBatched(
                ones, bt, z, batch: p, m: n, n: l.outputs, k: 1, strideA: 0, strideB: l.outputs,
                strideC: n * l.outputs, transA: false, transB: false, alpha: 1, beta: 1)
            if li < model.layers.count - 1, l.activation != .identity { try backend.activation(l.activation, z, z) }
            current = z
            currentStride = n * l.outputs
        }
        return current
    }

    /// Mean loss (and accuracy, for classification) of every member on `rows`, in one batched pass.
    static func evaluate(
        _ population: [[Float]], model: MLPModel, data: Dataset, rows: [Int], loss: LossKind,
        backend: Backend
    ) throws -> (losses: [Float], accuracies: [Float]?) {
        let p = population.count, n = rows.count
        var xs: [Float] = []
        xs.reserveCapacity(n * data.cols)
        for r in rows { xs.append(contentsOf: data.row(r)) }
        let current = try forwardPopulation(
            population, model: model, input: try backend.tensor(xs, shape: [n, data.cols]), inputStride: 0,
            rows: n, backend: backend)
        let k = model.outputs, rowsAll = p * n
        let labels = rows.map { data.labels[$0] }
        let losses = try backend.zeros(shape: [rowsAll]), grad = try backend.zeros(shape: [rowsAll, k])
        var argmax: Tensor?
        switch loss {
        case .cross_entropy:
            try backend.softmaxCrossEntropy(
                current, try backend.tensor(Array(repeating: labels, count: p).flatMap { $0 }, shape: [rowsAll]),
                rows: rowsAll, cols: k, losses: losses, grad: grad)
            let a = try backend.zeros(shape: [rowsAll])
            try backend.rowArgmax(current, rows: rowsAll, cols: k, a)
            argmax = a
        case .l1, .huber, .bce_with_logits:
            throw MLError("evolutionary training scores members by cross_entropy or mse, not \(loss.rawValue)")
        case .mse:
            var target = [Float](repeating: 0, count: n * k)
            for (i, l) in labels.enumerated() { if k == 1 { target[i] = l } else { target[i * k + Int(l)] = 1 } }
            try backend.mse(
                current, try backend.tensor(Array(repeating: target, count: p).flatMap { $0 }, shape: [rowsAll, k]),
                rows: rowsAll, cols: k, losses: losses, grad: grad)
        }
        let values = try backend.read([losses] + (argmax.map { [$0] } ?? []))
        let perMember = (0..<p).map { m in values[0][(m * n)..<((m + 1) * n)].reduce(0, +) / Float(n) }
        let accuracy =
            values.count > 1
            ? (0..<p).map { m in
                Float(zip(values[1][(m * n)..<((m + 1) * n)], labels).filter { $0 == $1 }.count) / Float(n)
            } : nil
        return (perMember, accuracy)
    }

    /// Every member plays one episode; its fitness is the return. Each environment step is one
    /// batched forward pass over the whole population (finished members ride along, ignored).
    static func episodeReturns(
        _ population: [[Float]], model: MLPModel, environment make: () throws -> any Environment,
        backend: Backend, rng: inout Philox
    ) throws -> [Float] {
        let p = population.count
        var envs = try (0..<p).map { _ in try make() }
        var observations = try (0..<p).map { try envs[$0].reset(&rng) }
        var returns = [Float](repeating: 0, count: p)
        var done = [Bool](repeating: false, count: p)
        let width = model.inputs
        while done.contains(false) {
            let input = try backend.tensor(observations.flatMap { $0 }, shape: [p, 1, width])
            let out = try backend.read(
                try forwardPopulation(population, model: model, input: input, inputStride: width, rows: 1, backend: backend))
            for m in 0..<p where !done[m] {
                let logits = out[(m * model.outputs)..<((m + 1) * model.outputs)]
                let action = logits.indices.max { logits[$0] < logits[$1] }.map { $0 - logits.startIndex } ?? 0
                let (next, reward, finished) = try envs[m].step(action, &rng)
                returns[m] += reward
                observations[m] = next
                done[m] = finished
            }
        }
        return returns
    }

    /// Evolution with an environment's return as fitness (greedy actions from each member's outputs).
    public static func train(
        model: MLPModel, environment: @escaping () throws -> any Environment, config: Evolutionary, generations: Int,
        backend: Backend, seed: UInt64, cancel: CancellationToken = CancellationToken()
    ) throws -> TrainingResult {
        let probe = try environment()
        guard model.inputs == probe.observationSize, model.outputs == probe.actionCount else {
            throw MLError(
                "evolutionary: the model is \(model.inputs)→\(model.outputs) but the environment has \(probe.observationSize) observations and \(probe.actionCount) actions"
            )
        }
        let start = Date()
        var rng = Philox(seed: seed)
        let base = model.layers.flatMap { $0.weights + $0.bias }
        var population: [[Float]] = [base] + (1..<config.populationSize).map { _ in base.map { $0 + rng.normal() * mutationScale } }
        var history: [EpochMetrics] = []
        var best: (fitness: Float, weights: [Float]) = (-.infinity, base)
        for generation in 1...generations {
            try cancel.check()
            let genStart = Date()
            let fitness = try episodeReturns(population, model: model, environment: environment, backend: backend, rng: &rng)
            let order = fitness.indices.sorted { fitness[$0] > fitness[$1] }
            if fitness[order[0]] > best.fitness { best = (fitness[order[0]], population[order[0]]) }
            let seconds = Date().timeIntervalSince(genStart)
            // For an environment the epoch's "loss" is the negated best return (lower is better, as for data).
            history.append(
                EpochMetrics(
                    epoch: generation, loss: Double(-fitness[order[0]]), accuracy: nil, validationLoss: nil,
                    validationAccuracy: nil, seconds: seconds, samplesPerSecond: Double(population.count) / max(seconds, 1e-9)))
            if generation == generations { break }
            population = nextGeneration(population, fitness: fitness, order: order, config: config, rng: &rng)
        }
        return TrainingResult(
            model: unflatten(best.weights, like: model), epochs: history, seconds: Date().timeIntervalSince(start),
            backend: backend.name)
    }

    static func unflatten(_ flat: [Float], like model: MLPModel) -> MLPModel {
        var offset = 0
        return MLPModel(
            layers: model.layers.map { l in
                let w = Array(flat[offset..<(offset + l.inputs * l.outputs)])
                offset += l.inputs * l.outputs
                let b = Array(flat[offset..<(offset + l.outputs)])
                offset += l.outputs
                return MLPModel.Layer(inputs: l.inputs, outputs: l.outputs, weights: w, bias: b, activation: l.activation)
            })
    }
}
