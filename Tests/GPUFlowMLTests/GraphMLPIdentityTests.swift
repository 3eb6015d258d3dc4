import GPUFlowCompute
import GPUFlowCore
import GPUFlowML
import GPUFlowTesting
import Testing

/// The gate of the graph core: today's MLP, as a graph of matmuls and fused bias+activation
/// ops trained through the tape, gives the fixed pipeline's numbers bit for bit — same weights
/// after training, same losses — on every backend.
@Suite struct GraphMLPIdentityTests {
    static let algorithms: [TrainingAlgorithm] = [
        .adam(Adam(learningRate: 0.01)), .backpropagation(Backpropagation(learningRate: 0.05, momentum: 0.9)),
    ]

    @Test(arguments: BackendUnderTest.allCases, Activation.allCases.filter { $0 != .identity })
    func theGraphOfAnMLPTrainsToTheSameBits(_ which: BackendUnderTest, _ activation: Activation) throws {
        let data = try Generators.spirals(samples: 90, classes: 3, seed: 3)
        let mlp = MLPModel(inputs: 2, hidden: [12, 8], outputs: 3, activation: activation, seed: 5)
        for algorithm in Self.algorithms {
            let task = TrainingTask(algorithm: algorithm, epochs: 4, batchSize: 16)
            let fixed = try Trainer.train(model: mlp, data: data, task: task, backend: try which.make(), seed: 7)
            let graph = try GraphTrainer.train(
                try GraphModel(mlp: mlp), data: data, epochs: 4, batchSize: 16, algorithm: algorithm,
                backend: try which.make(), seed: 7)
            let expected = fixed.model.layers.flatMap { [$0.weights, $0.bias] }
            #expect(graph.model.parameters.map(\.values) == expected, "\(which) \(activation) \(algorithm.name): weights differ")
            #expect(
                graph.losses == fixed.epochs.map(\.loss),
                "\(which) \(activation) \(algorithm.name): losses \(graph.losses) vs \(fixed.epochs.map(\.loss))")
        }
    }

    /// The epoch schedule and the per-step warm-up reach both trainers alike: still the same bits.
    @Test(arguments: [BackendUnderTest.cpu, .simd])
    func schedulesAndWarmupKeepTheIdentity(_ which: BackendUnderTest) throws {
        let data = try Generators.spirals(samples: 90, classes: 3, seed: 3)
        let mlp = MLPModel(inputs: 2, hidden: [12], outputs: 3, activation: .tanh, seed: 5)
        var task = TrainingTask(algorithm: .adam(Adam(learningRate: 0.02)), epochs: 5, batchSize: 16, schedule: .cosine(minFactor: 0.1))
        task.warmupSteps = 10
        let fixed = try Trainer.train(model: mlp, data: data, task: task, backend: try which.make(), seed: 7)
        let graph = try GraphTrainer.train(
            try GraphModel(mlp: mlp), data: data, epochs: 5, batchSize: 16, algorithm: task.algorithm,
            backend: try which.make(), seed: 7, schedule: task.schedule, warmupSteps: 10)
        #expect(graph.model.parameters.map(\.values) == fixed.model.layers.flatMap { [$0.weights, $0.bias] })
        var plain = task
        plain.warmupSteps = nil
        let noWarmup = try Trainer.train(model: mlp, data: data, task: plain, backend: try which.make(), seed: 7)
        #expect(noWarmup.epochs.map(\.loss) != fixed.epochs.map(\.loss), "the warm-up changes the run")
    }

    @Test func warmupRisesLinearlyThenFollowsTheSchedule() {
        var t = TrainingTask(algorithm: .adam(Adam()), epochs: 4, schedule: .step(every: 2, gamma: 0.5))
        t.warmupSteps = 4
        #expect((1...5).map { t.rateFactor(epoch: 1, step: $0) } == [0.25, 0.5, 0.75, 1, 1])
        #expect(t.rateFactor(epoch: 3, step: 2) == 0.25, "the epoch's factor 0.5 times the warm-up's 0.5")
        t.warmupSteps = nil
        #expect(t.rateFactor(epoch: 3, step: 1) == 0.5)
    }

    /// Lowering and lifting keep every bit; only a chain of dense layers lifts.
    @Test func aChainOfDenseLayersLiftsBackToTheMLP() throws {
        let mlp = MLPModel(inputs: 4, hidden: [6, 5], outputs: 2, activation: .gelu, seed: 3)
        let lifted = try #require(MLPModel(graph: try GraphModel(mlp: mlp)))
        #expect(lifted.objectID == mlp.objectID && lifted.layers == mlp.layers)
        var other = GraphBuilder(inputShape: [4], seed: 1)
        try other.linear(outputs: 3)
        #expect(MLPModel(graph: other.finished()) == nil, "matmul + add is a linear layer, not the fused dense form")
        var withDropout = GraphBuilder(inputShape: [4], seed: 1)
        try withDropout.dense(weights: [Float](repeating: 0.1, count: 12), bias: [0, 0, 0], outputs: 3, activation: .relu)
        try withDropout.dropout(p: 0.5)
        #expect(MLPModel(graph: withDropout.finished()) == nil)
    }

    @Test func anMLPBecomesDenseLayersWithItsWeights() throws {
        let mlp = MLPModel(inputs: 4, hidden: [6], outputs: 2, activation: .tanh, seed: 1)
        let g = try GraphModel(mlp: mlp)
        #expect(g.parameters.map(\.name) == ["dense1.weight", "dense1.bias", "dense2.weight", "dense2.bias"])
        #expect(g.parameters[0].values == mlp.layers[0].weights && g.parameters[0].shape == [4, 6])
        #expect(try g.outputShape(rows: 3) == [3, 2])
        let cpu = CPUBackend()
        let xs = OpSamples.values(12, seed: 2)
        let graphOut = try cpu.read(try GraphRunner(g, on: cpu).predict(try cpu.tensor(xs, shape: [3, 4])))
        var h = HostArray(xs, [3, 4])
        for l in mlp.layers {
            let z = try ReferenceOps.run(.matmul(transA: false, transB: false), [h, HostArray(l.weights, [l.inputs, l.outputs])])[0]
            h = HostArray(
                try ReferenceOps.run(.biasActivation(l.activation), [HostArray(z, [3, l.outputs]), HostArray(l.bias, [l.outputs])])[0],
                [3, l.outputs])
        }
        #expect(graphOut == h.values)
    }
}
