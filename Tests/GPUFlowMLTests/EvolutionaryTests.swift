import GPUFlowCompute
import GPUFlowCore
import GPUFlowTesting
import Testing

@testable import GPUFlowML

@Suite struct EvolutionaryTests {
    @Test(arguments: [SelectionMethod.tournament, .roulette, .elitist])
    func evolutionLearnsBlobs(_ selection: SelectionMethod) throws {
        let data = try Generators.blobs(samples: 300, features: 4, centers: 3, seed: 2).standardized()
        let model = MLPModel(inputs: 4, hidden: [8], outputs: 3, activation: .tanh, seed: 3)
        let r = try EvolutionaryTrainer.train(
            model: model, data: data, config: Evolutionary(populationSize: 24, mutationRate: 0.2, selection: selection),
            generations: 40, loss: .cross_entropy, backend: CPUBackend(), seed: 1)
        let first = try #require(r.epochs.first), last = try #require(r.epochs.last)
        #expect(last.loss < first.loss * 0.7, "\(selection): best loss \(first.loss) → \(last.loss)")
        #expect((last.accuracy ?? 0) > 0.9, "\(selection): accuracy \(last.accuracy ?? 0)")
        #expect(
            r.epochs.map(\.loss) == r.epochs.map(\.loss).sorted(by: >) || selection != .elitist,
            "with elitism the best loss never gets worse")
    }

    /// The batched evaluation gives, member by member, what evaluating each model alone gives —
    /// on the CPU and on Vulkan.
    @Test(arguments: [BackendUnderTest.cpu, .vulkan])
    func batchedEvaluationMatchesOneModelAtATime(_ kind: BackendUnderTest) throws {
        let data = try Generators.blobs(samples: 50, features: 3, centers: 2, seed: 4)
        let model = MLPModel(inputs: 3, hidden: [5, 4], outputs: 2, activation: .relu, seed: 1)
        var rng = Philox(seed: 9)
        let base = model.layers.flatMap { $0.weights + $0.bias }
        let population = (0..<6).map { _ in base.map { $0 + rng.normal() * 0.5 } }
        let backend = try kind.make()
        let batched = try EvolutionaryTrainer.evaluate(
            population, model: model, data: data, rows: Array(0..<50), loss: .cross_entropy,
            backend: backend)
        for (i, member) in population.enumerated() {
            let m = EvolutionaryTrainer.unflatten(member, like: model)
            let alone = try Evaluator.evaluate(net: NetworkOnBackend(m, on: CPUBackend()), data: data, loss: .cross_entropy, batchSize: 50)
            #expect(abs(Double(batched.losses[i]) - alone.loss) < 1e-4, "member \(i): \(batched.losses[i]) vs \(alone.loss)")
            #expect(abs(Double(batched.accuracies?[i] ?? -1) - (alone.accuracy ?? -2)) < 1e-6)
        }
    }
}

@Suite struct EvolutionaryEnvironmentTests {
    /// Fitness from an environment: the population's best greedy policy balances CartPole for the
    /// whole 200-step episode within 15 generations (seed 2).
    @Test func evolutionBalancesCartPole() throws {
        let model = MLPModel(inputs: 4, hidden: [8], outputs: 2, activation: .tanh, seed: 1)
        let r = try EvolutionaryTrainer.train(
            model: model, environment: { CartPole() },
            config: Evolutionary(populationSize: 32, mutationRate: 0.3, selection: .elitist),
            generations: 15, backend: CPUBackend(), seed: 2)
        let returns = r.epochs.map { -$0.loss }
        #expect(returns.last == 200, "best returns per generation: \(returns)")
        #expect(returns == returns.sorted(), "with elitism the best return never falls")
        #expect(throws: MLError.self) {
            try EvolutionaryTrainer.train(
                model: MLPModel(inputs: 3, hidden: [], outputs: 2, activation: .relu, seed: 1),
                environment: { CartPole() }, config: Evolutionary(), generations: 1, backend: CPUBackend(), seed: 1)
        }
    }
}
