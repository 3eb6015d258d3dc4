import Foundation
import GPUFlowCompute
import GPUFlowCore
import GPUFlowTesting
import Testing

@testable import GPUFlowML

/// A graph model trains through the same loop as the MLP, so everything the loop does holds
/// for graphs too: checkpoints and resume (dropout's masks included), recovery after a fault,
/// gradient clipping, transfer learning by layer, and RMSprop.
@Suite struct GraphTrainingLoopTests {
    static let data = try! Generators.blobs(samples: 150, features: 4, centers: 3, seed: 2)

    /// Stopping after epoch 3 and resuming from its checkpoint file gives the model of an
    /// uninterrupted 6-epoch run, bit for bit, with dropout drawing the same masks.
    @Test(arguments: [BackendUnderTest.cpu, .vulkan])
    func aResumedGraphTrainsToTheUninterruptedBits(_ which: BackendUnderTest) throws {
        let model = try GraphModelTests.residualNet(inputs: 4, classes: 3)
        let path = try TestPaths.temporaryDirectory().appendingPathComponent("graph.gfckpt").path
        var full = TrainingTask(algorithm: .adam(Adam(learningRate: 0.01)), epochs: 6, batchSize: 16, validationSplit: 0.2)
        full.earlyStopping = EarlyStopping(patience: 50)
        let uninterrupted = try GraphTrainer.train(model, data: Self.data, task: full, backend: try which.make(), seed: 4)

        var first = full
        first.epochs = 3
        first.checkpointEvery = 3
        first.checkpointPath = path
        let part = try GraphTrainer.train(model, data: Self.data, task: first, backend: try which.make(), seed: 4)
        #expect(part.checkpointsWritten == 1)
        var rest = full
        rest.resumeFrom = path
        let resumed = try GraphTrainer.train(model, data: Self.data, task: rest, backend: try which.make(), seed: 4)
        #expect(resumed.resumedFromEpoch == 3)
        #expect(resumed.epochs.first?.epoch == 1 && resumed.epochs.count == 6, "the history carries the first three epochs")
        #expect(resumed.samplesTrained == 120 * 3, "only the last three epochs ran")
        #expect(resumed.model.contentHash == uninterrupted.model.contentHash, "\(which): the resumed model differs")
        #expect(resumed.losses == uninterrupted.losses)
    }

    /// A checkpoint of another graph, or of an MLP, is refused with the file named.
    @Test func aCheckpointOfAnotherModelIsRefused() throws {
        let path = try TestPaths.temporaryDirectory().appendingPathComponent("mlp.gfckpt").path
        var task = TrainingTask(algorithm: .adam(Adam()), epochs: 2, batchSize: 16)
        task.checkpointEvery = 1
        task.checkpointPath = path
        _ = try Trainer.train(
            model: MLPModel(inputs: 4, hidden: [8], outputs: 3, activation: .relu, seed: 1), data: Self.data, task: task,
            backend: CPUBackend(),
            seed: 1)
        var resume = TrainingTask(algorithm: .adam(Adam()), epochs: 4, batchSize: 16)
        resume.resumeFrom = path
        #expect {
            _ = try GraphTrainer.train(
                try GraphModelTests.residualNet(inputs: 4, classes: 3), data: Self.data, task: resume, backend: CPUBackend(), seed: 1)
        } throws: { e in
            "\(e)".contains(path) && "\(e)".contains("an MLP with layer widths [8, 3]") && "\(e)".contains("is not this task's model")
        }
    }

    /// Checkpoints written before graphs (format 1: the optimizer state of all weights, then of
    /// all biases) still resume an MLP to the uninterrupted run's bits.
    @Test func aFormatOneCheckpointStillResumes() throws {
        let model = MLPModel(inputs: 4, hidden: [8, 6], outputs: 3, activation: .tanh, seed: 3)
        let dir = try TestPaths.temporaryDirectory()
        let path = dir.appendingPathComponent("old.gfckpt").path
        let full = TrainingTask(algorithm: .adam(Adam(learningRate: 0.02)), epochs: 4, batchSize: 16)
        let uninterrupted = try Trainer.train(model: model, data: Self.data, task: full, backend: CPUBackend(), seed: 2)
        var first = full
        first.epochs = 2
        first.checkpointEvery = 2
        first.checkpointPath = path
        _ = try Trainer.train(model: model, data: Self.data, task: first, backend: CPUBackend(), seed: 2)
        // Rewrite it as format 1 laid it out.
        var json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        #expect(json["format"] as? Int == 2)
        let state = try #require(json["optimizerState"] as? [String])
        let layers = 3
        var old: [String] = []
        for base in stride(from: 0, to: state.count, by: 2 * layers) {
            for i in 0..<layers { old.append(state[base + 2 * i]) }
            for i in 0..<layers { old.append(state[base + 2 * i + 1]) }
        }
        json["optimizerState"] = old
        json["format"] = 1
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
        var rest = full
        rest.resumeFrom = path
        let resumed = try Trainer.train(model: model, data: Self.data, task: rest, backend: CPUBackend(), seed: 2)
        #expect(resumed.resumedFromEpoch == 2)
        #expect(resumed.model.objectID == uninterrupted.model.objectID, "the reordered state gives the same training")
    }

    /// A recovery (the resilient runner's, after a device fault) carries a graph's training
    /// across attempts: the second goes on after the last finished epoch, its per-step
    /// schedule at the step the first stopped at.
    @Test func aRecoveryCarriesAGraphAcrossAttempts() throws {
        let model = try GraphModelTests.residualNet(inputs: 4, classes: 3)
        var task = TrainingTask(algorithm: .adam(Adam(learningRate: 0.01)), epochs: 5, batchSize: 16, schedule: .cosine(minFactor: 0.1))
        task.schedulePerStep = true
        let uninterrupted = try GraphTrainer.train(model, data: Self.data, task: task, backend: CPUBackend(), seed: 8)
        let recovery = TrainingRecovery()
        let cancel = CancellationToken()
        #expect(throws: (any Error).self) {
            _ = try GraphTrainer.train(
                model, data: Self.data, task: task, backend: CPUBackend(), seed: 8, cancel: cancel,
                onEpoch: { if $0.epoch == 2 { cancel.cancel() } }, recovery: recovery)
        }
        #expect(recovery.completedEpochs == 2)
        let second = try GraphTrainer.train(model, data: Self.data, task: task, backend: CPUBackend(), seed: 8, recovery: recovery)
        #expect(second.resumedFromEpoch == 2)
        #expect(second.samplesTrained == 150 * 3)
        #expect(second.model.contentHash == uninterrupted.model.contentHash, "the same bits as one uninterrupted attempt")
    }

    /// With plain SGD (no momentum) at rate 1, one full-batch step moves the parameters by the
    /// clipped gradient: its norm is the clip limit.
    @Test(arguments: [BackendUnderTest.cpu, .vulkan])
    func gradientClippingBoundsAGraphStep(_ which: BackendUnderTest) throws {
        let model = try GraphModelTests.residualNet(inputs: 4, classes: 3)
        func step(clip: Double?) throws -> Double {
            var task = TrainingTask(
                algorithm: .backpropagation(Backpropagation(learningRate: 1, momentum: 0)), epochs: 1, batchSize: 150,
                gradientClipNorm: clip)
            task.loss = .cross_entropy
            let r = try GraphTrainer.train(model, data: Self.data, task: task, backend: try which.make(), seed: 1)
            let moved = zip(r.model.parameters, model.parameters).flatMap { a, b in zip(a.values, b.values).map { Double($0 - $1) } }
            return moved.map { $0 * $0 }.reduce(0, +).squareRoot()
        }
        let free = try step(clip: nil)
        #expect(free > 0.05, "the unclipped step is larger than the limit: \(free)")
        let clipped = try step(clip: 0.05)
        #expect(Swift.abs(clipped - 0.05) < 1e-4, "\(which): the clipped step's norm is \(clipped)")
    }

    /// Transfer learning from a saved graph: the strategy counts the layers that have
    /// parameters, the frozen ones keep their bits, the rest train, and their names are reported.
    @Test func transferLearningFreezesAGraphByLayer() throws {
        let base = try GraphModelTests.residualNet(inputs: 4, classes: 3)
        let path = try TestPaths.temporaryDirectory().appendingPathComponent("base.safetensors").path
        try GraphNetwork(base).save(to: path)
        let loaded = try #require(try ModelFiles.load(path: path) as? GraphNetwork)
        let task = TrainingTask(
            algorithm: .transfer(
                TransferLearning(baseModel: path, fineTuningLayers: 1, freezingStrategy: .early_layers, learningRate: 0.01)),
            epochs: 3, batchSize: 16)
        let r = try GraphTrainer.train(loaded.graph, data: Self.data, task: task, backend: CPUBackend(), seed: 1)
        #expect(r.frozenLayers == ["linear1", "layer_norm1", "linear2"], "\(r.frozenLayers)")
        for (after, before) in zip(r.model.parameters, base.parameters) {
            if after.layer == "linear3" {
                #expect(after.values != before.values, "\(after.name) trains")
            } else {
                #expect(after.values == before.values, "\(after.name) is frozen")
            }
        }
    }

    /// A schedule per step runs over every optimizer step of the run (PyTorch's per-step
    /// schedulers): a cosine from 1 at the first step to its floor at the last, and `every`
    /// counting steps; per epoch, the factor holds for a whole epoch.
    @Test func schedulesRunPerStepWhenAsked() throws {
        var t = TrainingTask(algorithm: .adam(Adam()), epochs: 2, schedule: .cosine(minFactor: 0.1))
        t.schedulePerStep = true
        #expect(t.rateFactor(epoch: 1, step: 1, stepsPerEpoch: 5) == 1)
        #expect(Swift.abs(t.rateFactor(epoch: 2, step: 10, stepsPerEpoch: 5) - 0.1) < 1e-12)
        #expect(
            t.rateFactor(epoch: 1, step: 3, stepsPerEpoch: 5) < t.rateFactor(epoch: 1, step: 2, stepsPerEpoch: 5),
            "it falls within an epoch")
        t.schedulePerStep = nil
        #expect(t.rateFactor(epoch: 1, step: 3, stepsPerEpoch: 5) == 1, "per epoch: the first epoch's factor throughout")
        var steps = TrainingTask(algorithm: .adam(Adam()), epochs: 3, schedule: .step(every: 4, gamma: 0.5))
        steps.schedulePerStep = true
        #expect([1, 4, 5, 9].map { steps.rateFactor(epoch: 1, step: $0, stepsPerEpoch: 10) } == [1, 1, 0.5, 0.25])
        // The trainers follow it: a per-step cosine trains to other weights than a per-epoch one.
        let model = try GraphModelTests.residualNet(inputs: 4, classes: 3)
        var task = TrainingTask(algorithm: .adam(Adam(learningRate: 0.02)), epochs: 2, batchSize: 16, schedule: .cosine(minFactor: 0))
        let perEpoch = try GraphTrainer.train(model, data: Self.data, task: task, backend: CPUBackend(), seed: 1)
        task.schedulePerStep = true
        let perStep = try GraphTrainer.train(model, data: Self.data, task: task, backend: CPUBackend(), seed: 1)
        #expect(perStep.model.contentHash != perEpoch.model.contentHash)
    }

    /// RMSprop trains graphs and MLPs, and its checkpoint carries both of its state tensors.
    @Test func rmspropTrainsBothKindsAndResumes() throws {
        let algorithm = TrainingAlgorithm.rmsprop(RMSprop(learningRate: 0.01, momentum: 0.5))
        let graph = try GraphTrainer.train(
            try GraphModelTests.residualNet(inputs: 4, classes: 3), data: Self.data, epochs: 8, batchSize: 16, algorithm: algorithm,
            backend: CPUBackend(), seed: 1)
        #expect(try #require(graph.losses.last) < graph.losses[0] * 0.5, "graph: \(graph.losses)")
        let mlp = MLPModel(inputs: 4, hidden: [8], outputs: 3, activation: .relu, seed: 1)
        let full = TrainingTask(algorithm: algorithm, epochs: 6, batchSize: 16)
        let uninterrupted = try Trainer.train(model: mlp, data: Self.data, task: full, backend: CPUBackend(), seed: 1)
        #expect(try #require(uninterrupted.epochs.last?.loss) < uninterrupted.epochs[0].loss * 0.5)
        let path = try TestPaths.temporaryDirectory().appendingPathComponent("rms.gfckpt").path
        var first = full
        first.epochs = 3
        first.checkpointEvery = 3
        first.checkpointPath = path
        _ = try Trainer.train(model: mlp, data: Self.data, task: first, backend: CPUBackend(), seed: 1)
        var rest = full
        rest.resumeFrom = path
        let resumed = try Trainer.train(model: mlp, data: Self.data, task: rest, backend: CPUBackend(), seed: 1)
        #expect(resumed.model.objectID == uninterrupted.model.objectID, "square averages and momentum buffers came back")
    }
}
