import Foundation
import GPUFlowCompute
import GPUFlowCore
import GPUFlowTesting
import Testing

@testable import GPUFlowML

/// Evolution of small graph models, scored by a data set's loss or an environment's return.
@Suite struct GraphEvolutionTests {
    /// The graph of an MLP evolves as the MLP does: the same population, the same draws, the
    /// same selections, so each generation's best loss agrees (the graph scores each member on
    /// its own, the MLP all at once, so the sums differ in the last bits at most).
    @Test func theGraphOfAnMLPEvolvesAsTheMLPDoes() throws {
        let data = try Generators.blobs(samples: 200, features: 4, centers: 3, seed: 2)
        let mlp = MLPModel(inputs: 4, hidden: [8], outputs: 3, activation: .tanh, seed: 1)
        let config = Evolutionary(populationSize: 12, mutationRate: 0.2, selection: .tournament)
        let fixed = try EvolutionaryTrainer.train(
            model: mlp, data: data, config: config, generations: 6, loss: .cross_entropy, backend: CPUBackend(), seed: 5)
        let graph = try GraphEvolution.train(
            try GraphModel(mlp: mlp), data: data, config: config, generations: 6, loss: .cross_entropy, backend: CPUBackend(), seed: 5)
        let a = fixed.epochs.map(\.loss), b = graph.epochs.map(\.loss)
        #expect(zip(a, b).allSatisfy { Swift.abs($0 - $1) < 1e-5 }, "MLP \(a) vs graph \(b)")
        #expect(try #require(b.last) < b[0], "the best loss falls: \(b)")
    }

    /// A residual graph with layer norm learns blobs by evolution alone, with BCE-free losses
    /// the MLP's evolution does not take (huber) too.
    @Test func aResidualGraphEvolves() throws {
        let data = try Generators.blobs(samples: 150, features: 4, centers: 3, seed: 2)
        let model = try GraphModelTests.residualNet(inputs: 4, classes: 3)
        let r = try GraphEvolution.train(
            model, data: data, config: Evolutionary(populationSize: 16, mutationRate: 0.1, selection: .elitist), generations: 10,
            loss: .cross_entropy, backend: CPUBackend(), seed: 3)
        let losses = r.epochs.map(\.loss)
        #expect(losses == losses.sorted(by: >), "with elitism the best loss never rises: \(losses)")
        #expect(try #require(losses.last) < losses[0])
        #expect(r.model.nodes == model.nodes && r.model != model)
        let huber = try GraphEvolution.train(
            model, data: data, config: Evolutionary(populationSize: 8), generations: 3, loss: .huber, backend: CPUBackend(), seed: 3)
        #expect(huber.epochs.count == 3 && huber.epochs.allSatisfy { $0.loss.isFinite })
    }

    /// A graph policy balances CartPole for the whole episode by evolution, as the MLP does.
    @Test func aGraphPolicyBalancesCartPole() throws {
        var b = GraphBuilder(inputShape: [4], seed: 1)
        try b.linear(outputs: 8)
        try b.activation(.tanh)
        try b.linear(outputs: 2)
        let r = try GraphEvolution.train(
            b.finished(), environment: { CartPole() }, config: Evolutionary(populationSize: 32, mutationRate: 0.3, selection: .elitist),
            generations: 15, backend: CPUBackend(), seed: 2)
        let returns = r.epochs.map { -$0.loss }
        #expect(returns == returns.sorted(), "with elitism the best return never falls: \(returns)")
        #expect(try #require(returns.last) >= 150, "best returns per generation: \(returns)")
        var wrong = GraphBuilder(inputShape: [3], seed: 1)
        try wrong.linear(outputs: 2)
        #expect(throws: MLError.self) {
            _ = try GraphEvolution.train(
                wrong.finished(), environment: { CartPole() }, config: Evolutionary(), generations: 1, backend: CPUBackend(), seed: 1)
        }
    }
}

/// Reinforcement learning with graph policies: the trainer runs the training loop's networks,
/// so a graph policy learns, and the graph of an MLP learns exactly as the MLP does.
@Suite struct GraphReinforcementTests {
    static func config(_ kind: PolicyType, exploration: Exploration = .boltzmann) -> ReinforcementLearning {
        ReinforcementLearning(policyType: kind, rewardShaping: .dense, exploration: exploration, learningRate: 0.01, discount: 0.99)
    }

    /// Same forward and backward arithmetic, same Adam, same draws: the same returns, episode by episode.
    @Test(arguments: [PolicyType.policy_gradient, .q_network])
    func theGraphOfAnMLPLearnsAsTheMLPDoes(_ kind: PolicyType) throws {
        let mlp = MLPModel(inputs: 16, hidden: [16], outputs: 4, activation: .relu, seed: 1)
        let options = ReinforcementTrainer.Options(episodes: kind == .q_network ? 120 : 64, parallel: 16)
        let exploration: Exploration = kind == .q_network ? .epsilon_greedy : .boltzmann
        let fixed = try ReinforcementTrainer.train(
            model: mlp, environment: { GridWorld(size: 4) }, config: Self.config(kind, exploration: exploration), options: options,
            backend: CPUBackend(), seed: 7)
        let graph = try ReinforcementTrainer.train(
            graph: try GraphModel(mlp: mlp), environment: { GridWorld(size: 4) }, config: Self.config(kind, exploration: exploration),
            options: options, backend: CPUBackend(), seed: 7)
        #expect(graph.returns == fixed.returns, "\(kind): the returns differ")
        #expect(graph.model.parameters.map(\.values) == fixed.model.layers.flatMap { [$0.weights, $0.bias] })
    }

    /// A graph policy with layer norm solves CartPole by policy gradient (and with its MLP critic, actor-critic runs).
    @Test func aGraphPolicyLearnsCartPole() throws {
        var b = GraphBuilder(inputShape: [4], seed: 1)
        try b.linear(outputs: 32)
        try b.layerNorm()
        try b.activation(.tanh)
        try b.linear(outputs: 2)
        let r = try ReinforcementTrainer.train(
            graph: b.finished(), environment: { CartPole() }, config: Self.config(.policy_gradient),
            options: .init(episodes: 600, parallel: 16), backend: CPUBackend(), seed: 7)
        let first = r.returns.prefix(100).reduce(0, +) / 100
        #expect(r.averageLast100 > 2 * first, "the last 100 episodes average \(r.averageLast100), the first \(first)")
        let ac = try ReinforcementTrainer.train(
            graph: b.finished(), environment: { CartPole() }, config: Self.config(.actor_critic),
            options: .init(episodes: 32, parallel: 16),
            backend: CPUBackend(), seed: 7)
        #expect(ac.returns.count == 32 && ac.returns.allSatisfy { $0 >= 1 })
    }
}
