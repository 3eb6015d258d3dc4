import Foundation
import GPUFlowCompute
import GPUFlowCore

/// Neuro-evolution of a small graph model: the population is the graph's parameters as flat
/// vectors, mutated and selected by the MLP evolution's rules (`nextGeneration`). Each member
/// runs through the graph on its own — a handful of dispatches per member, not the MLP's one
/// batched GEMM per layer — which suits the small graphs evolution is for.
public enum GraphEvolution {
    public struct Result: Sendable {
        public let model: GraphModel
        public let epochs: [EpochMetrics]
        public let seconds: Double
    }

    /// Fitness is −(mean loss) over up to 512 rows drawn per generation, by any loss the
    /// trainers take.
    public static func train(
        _ graph: GraphModel, data: Dataset, config: Evolutionary, generations: Int, loss: LossKind, options: LossOptions = LossOptions(),
        backend: Backend, seed: UInt64, cancel: CancellationToken = CancellationToken()
    ) throws -> Result {
        guard graph.inputShape == data.sampleShape else {
            throw MLError(
                "evolutionary training: the model takes samples of shape \(graph.inputShape), data set \(data.source)'s are \(data.sampleShape)"
            )
        }
        let outputs = try GraphTraining.outputWidth(graph)
        try Validation.check(inputs: data.cols, outputs: outputs, data: data, loss: loss, context: "evolutionary training")
        try GraphTrainer.checkText(graph, data: data, context: "evolutionary training")
        var graph = graph
        if graph.vocabulary == nil { graph.vocabulary = data.vocabulary }  // kept, as gradient training keeps it
        return try evolve(graph, config: config, generations: generations, backend: backend, seed: seed, cancel: cancel) {
            population, rng in
            let rows =
                data.rows <= EvolutionaryTrainer.evaluationRows
                ? Array(0..<data.rows) : Array(rng.permutation(data.rows).prefix(EvolutionaryTrainer.evaluationRows))
            let batch = try Batch(data, rows: rows, backend: backend, loss: loss, outputs: outputs, options: options)
            var fitness: [Float] = [], accuracy: [Float] = []
            for member in population {
                let out = try GraphRunner(graph.with(values: unflatten(member, like: graph)), on: backend).predict(batch.x)
                let (losses, _) = try batch.loss(out, backend: backend)
                let m = try batch.metrics(output: out, losses: losses, backend: backend)
                fitness.append(-Float(m.loss / Double(rows.count)))
                accuracy.append(Float(m.correct) / Float(rows.count))
            }
            return (fitness, loss == .cross_entropy ? accuracy : nil, rows.count)
        }
    }

    /// Fitness is each member's return over one episode, acting greedily on its outputs.
    public static func train(
        _ graph: GraphModel, environment make: @escaping () throws -> any Environment, config: Evolutionary, generations: Int,
        backend: Backend, seed: UInt64, cancel: CancellationToken = CancellationToken()
    ) throws -> Result {
        let probe = try make()
        let outputs = try graph.outputShape(rows: 1).last ?? 0
        guard graph.inputShape == [probe.observationSize], outputs == probe.actionCount else {
            throw MLError(
                "evolutionary: the model takes \(graph.inputShape) and gives \(outputs) outputs but the environment has \(probe.observationSize) observations and \(probe.actionCount) actions"
            )
        }
        return try evolve(graph, config: config, generations: generations, backend: backend, seed: seed, cancel: cancel) {
            population, rng in
            var returns: [Float] = []
            for member in population {
                let runner = try GraphRunner(graph.with(values: unflatten(member, like: graph)), on: backend)
                var env = try make()
                var observation = try env.reset(&rng)
                var total: Float = 0, done = false
                while !done {
                    try cancel.check()
                    let out = try backend.read(try runner.predict(try backend.tensor(observation, shape: [1, probe.observationSize])))
                    let action = out.indices.max { out[$0] < out[$1] } ?? 0
                    let (next, reward, finished) = try env.step(action, &rng)
                    total += reward
                    observation = next
                    done = finished
                }
                returns.append(total)
            }
            // The epoch's "loss" is the negated best return, as for the MLP's evolution.
            return (returns, nil, 1)
        }
    }

    /// The generations: score, keep the best member seen, breed the next population.
    /// `score` gives each member's fitness (higher is better), accuracies where it has them,
    /// and the samples each member saw.
    private static func evolve(
        _ graph: GraphModel, config: Evolutionary, generations: Int, backend: Backend, seed: UInt64, cancel: CancellationToken,
        score: ([[Float]], inout Philox) throws -> (fitness: [Float], accuracy: [Float]?, samples: Int)
    ) throws -> Result {
        let start = Date()
        var rng = Philox(seed: seed)
        let base = graph.parameters.filter(\.trainable).flatMap(\.values)
        var population: [[Float]] =
            [base] + (1..<config.populationSize).map { _ in base.map { $0 + rng.normal() * EvolutionaryTrainer.mutationScale } }
        var history: [EpochMetrics] = []
        var best: (fitness: Float, weights: [Float]) = (-.infinity, base)
        for generation in 1...max(generations, 1) {
            try cancel.check()
            let genStart = Date()
            let (fitness, accuracy, samples) = try score(population, &rng)
            let order = fitness.indices.sorted { fitness[$0] > fitness[$1] }
            guard fitness[order[0]].isFinite else {
                throw TrainingError.diverged(
                    epoch: generation, what: "every member's fitness is \(fitness[order[0]])", learningRate: nil, gradientClip: nil)
            }
            if fitness[order[0]] > best.fitness { best = (fitness[order[0]], population[order[0]]) }
            let seconds = Date().timeIntervalSince(genStart)
            history.append(
                EpochMetrics(
                    epoch: generation, loss: Double(-fitness[order[0]]), accuracy: accuracy.map { Double($0[order[0]]) },
                    validationLoss: nil,
                    validationAccuracy: nil, seconds: seconds, samplesPerSecond: Double(samples * population.count) / max(seconds, 1e-9)))
            if generation == generations { break }
            population = EvolutionaryTrainer.nextGeneration(population, fitness: fitness, order: order, config: config, rng: &rng)
        }
        return Result(
            model: graph.with(values: unflatten(best.weights, like: graph)), epochs: history, seconds: Date().timeIntervalSince(start))
    }

    /// A flat vector of the trainable parameters back into the graph's parameters, in their
    /// order; buffers (constants such as a convolution's indices) keep their values.
    static func unflatten(_ flat: [Float], like graph: GraphModel) -> [[Float]] {
        var offset = 0
        return graph.parameters.map { p in
            guard p.trainable else { return p.values }
            defer { offset += p.values.count }
            return Array(flat[offset..<(offset + p.values.count)])
        }
    }
}
