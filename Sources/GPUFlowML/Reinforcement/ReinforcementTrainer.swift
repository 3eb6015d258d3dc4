import Foundation
import GPUFlowCompute
import GPUFlowCore

/// What a reinforcement-learning run measured; `Model` is the policy's kind (an MLP, a graph).
public struct ReinforcementResult<Model: Sendable>: Sendable {
    public let model: Model
    /// The environment's own return of every episode (shaping excluded), in order.
    public let returns: [Double]
    /// Mean return over the last 100 episodes (or all, if fewer).
    public let averageLast100: Double
    /// The first episode after which the 100-episode average reached the solve threshold.
    public let solvedAtEpisode: Int?
    public let seconds: Double
}

/// Policy gradient (REINFORCE with a batch-mean baseline), advantage actor-critic and Q-network
/// training on an episodic environment. Episodes run in parallel: each environment step is one
/// batched forward pass on the backend over every running episode, and each update one
/// batched forward/backward over all the batch's transitions. Written against the training
/// loop's networks, so the policy is an MLP or a graph alike (the critic is an MLP).
public enum ReinforcementTrainer {
    public struct Options: Sendable {
        public var episodes: Int
        /// Episodes run side by side (one update per batch for the policy methods).
        public var parallel: Int
        /// Stop once the 100-episode average return reaches this.
        public var solveThreshold: Double?
        public init(episodes: Int, parallel: Int = 16, solveThreshold: Double? = nil) {
            self.episodes = episodes
            self.parallel = parallel
            self.solveThreshold = solveThreshold
        }
    }

    struct Step {
        let observation: [Float]
        let action: Int
        let reward: Float  // shaped, what learning sees
        let next: [Float]
        let done: Bool
    }

    public static func train(
        model: MLPModel, environment make: () throws -> any Environment, config: ReinforcementLearning, options: Options,
        backend: Backend, seed: UInt64, cancel: CancellationToken = CancellationToken()
    ) throws
        -> ReinforcementResult<MLPModel>
    {
        let probe = try make()
        guard model.inputs == probe.observationSize, model.outputs == probe.actionCount else {
            throw MLError(
                "reinforcement: the model is \(model.inputs)→\(model.outputs) but the environment has \(probe.observationSize) observations and \(probe.actionCount) actions"
            )
        }
        let critic = MLPModel(
            inputs: model.inputs, hidden: model.hidden, outputs: 1, activation: model.layers.first?.activation ?? .relu,
            seed: seed ^ 0xC417)
        let all = [Bool](repeating: true, count: model.layers.count)
        return try run(
            model: model, make: { try MLPTraining($0, on: backend, layers: all) }, critic: critic, probe: probe,
            environment: make, config: config, options: options, backend: backend, seed: seed, cancel: cancel)
    }

    /// A graph policy: its outputs are the action logits (or values, for a Q-network); the
    /// actor-critic's critic is an MLP of one hidden layer as wide as the policy's input × 8
    /// (an MLP's own graph gets the MLP's critic).
    public static func train(
        graph: GraphModel, environment make: () throws -> any Environment, config: ReinforcementLearning,
        options: Options, backend: Backend, seed: UInt64, cancel: CancellationToken = CancellationToken()
    ) throws
        -> ReinforcementResult<GraphModel>
    {
        let probe = try make()
        let outputs = try graph.outputShape(rows: 1).last ?? 0
        guard graph.inputShape == [probe.observationSize], outputs == probe.actionCount else {
            throw MLError(
                "reinforcement: the model takes \(graph.inputShape) and gives \(outputs) outputs but the environment has \(probe.observationSize) observations and \(probe.actionCount) actions"
            )
        }
        // The graph of an MLP gets the MLP's critic (its hidden widths and activation), so it learns
        // as the MLP does under every policy type.
        let mlp = MLPModel(graph: graph)
        let critic = MLPModel(
            inputs: probe.observationSize, hidden: mlp?.hidden ?? [max(16, 8 * probe.observationSize)], outputs: 1,
            activation: mlp?.layers.first?.activation ?? .tanh, seed: seed ^ 0xC417)
        return try run(
            model: graph, make: { try GraphTraining($0, on: backend, frozen: [], seed: seed) }, critic: critic,
            probe: probe, environment: make, config: config, options: options, backend: backend, seed: seed, cancel: cancel)
    }

    static func run<Net: TrainableNetwork>(
        model: Net.Model, make makeNet: (Net.Model) throws -> Net, critic: MLPModel, probe: any Environment,
        environment make: () throws -> any Environment, config: ReinforcementLearning, options: Options, backend: Backend, seed: UInt64,
        cancel: CancellationToken
    ) throws -> ReinforcementResult<Net.Model> {
        let start = Date()
        var rng = Philox(seed: seed)
        let net = try makeNet(model)
        let optimizer = try Optimizer(
            .adam(Adam(learningRate: config.learningRate)), parameters: net.parameters, trainable: net.trainable,
            backend: backend)
        var value: (net: MLPTraining, optimizer: Optimizer)?
        if config.policyType == .actor_critic {
            let vnet = try MLPTraining(critic, on: backend, layers: critic.layers.map { _ in true })
            value = (
                vnet,
                try Optimizer(
                    .adam(Adam(learningRate: config.learningRate)), parameters: vnet.parameters,
                    trainable: vnet.trainable, backend: backend)
            )
        }
        var target = config.policyType == .q_network ? try makeNet(model) : nil
        var replay: [Step] = []
        var updates = 0
        var counts = [Double](repeating: 0, count: probe.actionCount)
        var returns: [Double] = []
        var solvedAt: Int?
        let gamma = Float(config.discount)

        while returns.count < options.episodes {
            try cancel.check()
            let batch = min(options.parallel, options.episodes - returns.count)
            var envs = try (0..<batch).map { _ in try make() }
            var observations = try (0..<batch).map { try envs[$0].reset(&rng) }
            var trajectories = [[Step]](repeating: [], count: batch)
            var episodeReturn = [Double](repeating: 0, count: batch)
            var active = Array(0..<batch)
            let progress = Double(returns.count) / Double(options.episodes)
            while !active.isEmpty {
                let rows = active.map { observations[$0] }
                let outputs = try forward(net, rows)
                var stillActive: [Int] = []
                for (r, i) in active.enumerated() {
                    let action = choose(outputs[r], config: config, progress: progress, counts: &counts, rng: &rng)
                    let (next, reward, done) = try envs[i].step(action, &rng)
                    guard next.count == probe.observationSize, reward.isFinite else {
                        throw MLError(
                            "reinforcement: \(type(of: envs[i])) step returned \(next.count) observations (expected \(probe.observationSize)) and reward \(reward)",
                            kind: .script)
                    }
                    episodeReturn[i] += Double(reward)
                    var learned = reward
                    switch config.rewardShaping {
                    case .dense: break
                    case .sparse: learned = 0  // the whole return arrives on the last step, below
                    case .shaped: learned += gamma * (done ? 0 : envs[i].potential(next)) - envs[i].potential(observations[i])
                    }
                    if done, config.rewardShaping == .sparse { learned = Float(episodeReturn[i]) }
                    let step = Step(observation: observations[i], action: action, reward: learned, next: next, done: done)
                    trajectories[i].append(step)
                    if config.policyType == .q_network {
                        replay.append(step)
                        if replay.count > 20_000 { replay.removeFirst(replay.count - 20_000) }
                    }
                    observations[i] = next
                    if !done { stillActive.append(i) }
                }
                active = stillActive
                // One minibatch update per 4 transitions gathered (the replay ratio), the target
                // network refreshed every 100 updates.
                if config.policyType == .q_network, replay.count >= 256 {
                    for _ in 0..<max(1, rows.count / 4) {
                        guard let t = target else { break }
                        try qUpdate(net: net, target: t, optimizer: optimizer, replay: replay, gamma: gamma, rng: &rng)
                        updates += 1
                        if updates % 100 == 0 { target = try makeNet(try net.export()) }
                    }
                }
            }
            if config.policyType != .q_network {
                try policyUpdate(net: net, optimizer: optimizer, value: value, trajectories: trajectories, gamma: gamma)
            }
            returns += episodeReturn
            if let threshold = options.solveThreshold, returns.count >= 100 {
                let avg = returns.suffix(100).reduce(0, +) / 100
                if avg >= threshold {
                    solvedAt = returns.count
                    break
                }
            }
        }
        let last = returns.suffix(100)
        return ReinforcementResult(
            model: try net.export(), returns: returns, averageLast100: last.reduce(0, +) / Double(max(last.count, 1)),
            solvedAtEpisode: solvedAt, seconds: Date().timeIntervalSince(start))
    }

    /// One batched forward pass (training off); the rows' outputs read back together.
    static func forward<Net: TrainableNetwork>(_ net: Net, _ rows: [[Float]]) throws -> [[Float]] {
        let cols = rows.first?.count ?? 0
        let x = try net.backend.tensor(rows.flatMap { $0 }, shape: [rows.count, cols])
        let flat = try net.backend.read(try net.outputs(x, rows: rows.count))
        let width = flat.count / max(rows.count, 1)
        return (0..<rows.count).map { Array(flat[($0 * width)..<(($0 + 1) * width)]) }
    }

    static func softmax(_ z: [Float], temperature: Float = 1) -> [Float] {
        let m = z.max() ?? 0
        let e = z.map { expf(($0 - m) / temperature) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    static func sample(_ p: [Float], _ rng: inout Philox) -> Int {
        var u = rng.uniform(), i = 0
        while i < p.count - 1, u >= p[i] { u -= p[i]; i += 1 }
        return i
    }

    /// Exploration: ε-greedy (ε decays with progress), Boltzmann sampling, or UCB bonuses.
    /// Policy outputs are logits; Q-network outputs are action values.
    static func choose(_ out: [Float], config: ReinforcementLearning, progress: Double, counts: inout [Double], rng: inout Philox) -> Int {
        let isQ = config.policyType == .q_network
        let action: Int
        switch config.exploration {
        case .epsilon_greedy:
            let epsilon = isQ ? max(0.05, 1 - 1.5 * progress) : max(0, 0.1 * (1 - progress))
            if Double(rng.uniform()) < epsilon {
                action = rng.below(out.count)
            } else if isQ {
                action = out.indices.max { out[$0] < out[$1] } ?? 0
            } else {
                action = sample(softmax(out), &rng)
            }
        case .boltzmann:
            action = sample(softmax(out, temperature: isQ ? max(0.05, Float(1 - progress)) : 1), &rng)
        case .ucb:
            let total = counts.reduce(0, +) + 1
            let base = isQ ? out : softmax(out).map { logf(max($0, 1e-8)) }
            let scores = base.indices.map { Double(base[$0]) + 0.5 * (log(total) / (counts[$0] + 1)).squareRoot() }
            action = scores.indices.max { scores[$0] < scores[$1] } ?? 0
        }
        counts[action] += 1
        return action
    }

    /// REINFORCE / actor-critic: one batched backward pass over all transitions of the batch.
    static func policyUpdate<Net: TrainableNetwork>(
        net: Net, optimizer: Optimizer, value: (net: MLPTraining, optimizer: Optimizer)?,
        trajectories: [[Step]], gamma: Float
    ) throws {
        var states: [[Float]] = [], actions: [Int] = [], targets: [Float] = []
        for t in trajectories {
            var g: Float = 0
            var rtg = [Float](repeating: 0, count: t.count)
            for i in stride(from: t.count - 1, through: 0, by: -1) {
                g = t[i].reward + gamma * g
                rtg[i] = g
            }
            states += t.map(\.observation)
            actions += t.map(\.action)
            targets += rtg
        }
        let n = states.count
        guard n > 0 else { return }
        var advantages = targets
        if let value {
            let v = try forward(value.net, states).map { $0[0] }
            advantages = zip(targets, v).map { $0 - $1 }
            // Critic: mean squared error toward the returns.
            let x = try value.net.backend.tensor(states.flatMap { $0 }, shape: [n, states[0].count])
            let pass = try value.net.trainingPass(x, rows: n, step: value.optimizer.steps + 1)
            let grad = try value.net.backend.tensor(zip(v, targets).map { 2 * ($0 - $1) / Float(n) }, shape: [n, 1])
            try value.optimizer.step(parameters: value.net.parameters, gradients: try pass.gradients(grad), backend: value.net.backend)
        } else {
            let mean = targets.reduce(0, +) / Float(n)
            advantages = targets.map { $0 - mean }
        }
        let variance = advantages.reduce(0) { $0 + $1 * $1 } / Float(n)
        let std = max(variance.squareRoot(), 1e-6)
        advantages = advantages.map { $0 / std }
        // Actor: d(−Σ A·log π(a|s))/d logits = (π − onehot(a))·A, averaged over the batch.
        let x = try net.backend.tensor(states.flatMap { $0 }, shape: [n, states[0].count])
        let pass = try net.trainingPass(x, rows: n, step: optimizer.steps + 1)
        let logits = try net.backend.read(pass.output)
        let k = logits.count / n
        var grad = [Float](repeating: 0, count: n * k)
        for r in 0..<n {
            let p = softmax(Array(logits[(r * k)..<((r + 1) * k)]))
            for c in 0..<k { grad[r * k + c] = (p[c] - (c == actions[r] ? 1 : 0)) * advantages[r] / Float(n) }
        }
        try optimizer.step(
            parameters: net.parameters, gradients: try pass.gradients(try net.backend.tensor(grad, shape: [n, k])),
            backend: net.backend)
    }

    /// One Q-learning step on a replay minibatch: targets r + γ·max Q_target(s′), squared error
    /// on the taken action's value only.
    static func qUpdate<Net: TrainableNetwork>(
        net: Net, target: Net, optimizer: Optimizer, replay: [Step], gamma: Float,
        rng: inout Philox
    ) throws {
        let batch = (0..<64).map { _ in replay[rng.below(replay.count)] }
        let nextQ = try forward(target, batch.map(\.next))
        let x = try net.backend.tensor(batch.flatMap(\.observation), shape: [batch.count, batch[0].observation.count])
        let pass = try net.trainingPass(x, rows: batch.count, step: optimizer.steps + 1)
        let q = try net.backend.read(pass.output)
        let k = q.count / batch.count
        var grad = [Float](repeating: 0, count: q.count)
        for (r, s) in batch.enumerated() {
            let y = s.reward + (s.done ? 0 : gamma * (nextQ[r].max() ?? 0))
            grad[r * k + s.action] = 2 * (q[r * k + s.action] - y) / Float(batch.count)
        }
        try optimizer.step(
            parameters: net.parameters,
            gradients: try pass.gradients(try net.backend.tensor(grad, shape: [batch.count, k])), backend: net.backend)
    }
}
