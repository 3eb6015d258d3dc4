import GPUFlowCompute
import GPUFlowCore
import GPUFlowTesting
import Testing

@testable import GPUFlowML

@Suite struct TrainingTests {
    let backend = CPUBackend()

    /// The whole network's analytic gradient against central differences of the loss.
    @Test(arguments: [Activation.relu, .tanh, .sigmoid, .gelu])
    func backpropMatchesFiniteDifferences(_ act: Activation) throws {
        let model = MLPModel(inputs: 3, hidden: [4], outputs: 3, activation: act, seed: 3)
        let data = try Generators.blobs(samples: 5, features: 3, centers: 3, seed: 5)
        let net = try NetworkOnBackend(model, on: backend)
        func loss() throws -> Float {
            let batch = try Batch(data, rows: Array(0..<5), backend: backend, loss: .cross_entropy, outputs: 3)
            let pass = try net.forward(batch.x, rows: 5)
            let (losses, _) = try batch.loss(pass.output, backend: backend)
            return try backend.sum(losses) / 5
        }
        let batch = try Batch(data, rows: Array(0..<5), backend: backend, loss: .cross_entropy, outputs: 3)
        let pass = try net.forward(batch.x, rows: 5)
        let (_, grad) = try batch.loss(pass.output, backend: backend)
        let grads = try net.backward(pass, outputGrad: grad)
        for (layer, g) in grads.weights.enumerated() {
            let analytic = try backend.read(g)
            var w = try backend.read(net.weights[layer])
            for i in stride(from: 0, to: w.count, by: 2) {
                let h: Float = 1e-2
                let orig = w[i]
                w[i] = orig + h; try backend.write(net.weights[layer], w)
                let up = try loss()
                w[i] = orig - h; try backend.write(net.weights[layer], w)
                let down = try loss()
                w[i] = orig; try backend.write(net.weights[layer], w)
                let numeric = (up - down) / (2 * h)
                #expect(abs(numeric - analytic[i]) < 2e-3 + 0.05 * abs(numeric), "layer \(layer) weight \(i): \(numeric) vs \(analytic[i])")
            }
        }
    }

    private func task(_ algorithm: TrainingAlgorithm, epochs: Int = 30, validation: Double = 0) -> TrainingTask {
        TrainingTask(algorithm: algorithm, epochs: epochs, batchSize: 16, validationSplit: validation)
    }

    @Test func adamLearnsBlobs() throws {
        let data = try Generators.blobs(samples: 300, features: 4, centers: 3, seed: 2).standardized()
        let model = MLPModel(inputs: 4, hidden: [16], outputs: 3, activation: .relu, seed: 1)
        let r = try Trainer.train(
            model: model, data: data, task: task(.adam(Adam(learningRate: 0.01)), validation: 0.2),
            backend: backend, seed: 1)
        #expect(r.epochs.count == 30)
        let last = try #require(r.epochs.last)
        #expect(last.loss < r.epochs[0].loss)
        #expect((last.accuracy ?? 0) > 0.95)
        #expect((last.validationAccuracy ?? 0) > 0.9)
        #expect(r.model.objectID != model.objectID, "training returns a new model")
    }

    @Test func sgdWithMomentumLearnsIris() throws {
        let iris = try CSVLoader.load(path: TestPaths.sharedData("iris.csv")).standardized()
        let model = MLPModel(inputs: 4, hidden: [16], outputs: 3, activation: .tanh, seed: 1)
        let r = try Trainer.train(
            model: model, data: iris, task: task(.backpropagation(.init(learningRate: 0.05, momentum: 0.9))),
            backend: backend, seed: 1)
        #expect((r.epochs.last?.accuracy ?? 0) > 0.9)
    }

    @Test func sameSeedGivesTheSameModel() throws {
        let data = try Generators.spirals(samples: 60, classes: 2, seed: 1)
        let model = MLPModel(inputs: 2, hidden: [8], outputs: 2, activation: .relu, seed: 4)
        let a = try Trainer.train(model: model, data: data, task: task(.adam(Adam()), epochs: 3), backend: backend, seed: 9)
        let b = try Trainer.train(model: model, data: data, task: task(.adam(Adam()), epochs: 3), backend: backend, seed: 9)
        let c = try Trainer.train(model: model, data: data, task: task(.adam(Adam()), epochs: 3), backend: backend, seed: 10)
        #expect(a.model.objectID == b.model.objectID)
        #expect(a.model.objectID != c.model.objectID, "the seed drives the shuffle")
    }

    @Test func mismatchedDataIsRefusedWithNumbers() throws {
        let data = try Generators.blobs(samples: 30, features: 5, centers: 4, seed: 1)
        do {
            _ = try Trainer.train(
                model: MLPModel(inputs: 4, hidden: [], outputs: 4, activation: .relu, seed: 1), data: data,
                task: task(.adam(Adam())), backend: backend, seed: 1)
            Issue.record("wrong input width accepted")
        } catch let e as MLError {
            #expect(e.message.contains("has 5 features but the model expects 4 inputs"))
            #expect(e.kind == .input, "a model and data that do not fit is the caller's input, exit 2")
        }
        #expect(throws: MLError.self) {
            try Trainer.train(
                model: MLPModel(inputs: 5, hidden: [], outputs: 3, activation: .relu, seed: 1), data: data,
                task: self.task(.adam(Adam())), backend: self.backend, seed: 1)
        }
    }

    @Test func cancellationStopsTraining() throws {
        let data = try Generators.blobs(samples: 200, features: 2, centers: 2, seed: 1)
        let token = CancellationToken()
        token.cancel()
        #expect(throws: CancellationError.self) {
            try Trainer.train(
                model: MLPModel(inputs: 2, hidden: [4], outputs: 2, activation: .relu, seed: 1), data: data,
                task: self.task(.adam(Adam())), backend: self.backend, seed: 1, cancel: token)
        }
    }
}

/// A run whose numbers overflow stops with the epoch and a hint, as a `TrainingError` (a failed
/// run, exit 1), not a `DataError` (a bad file, exit 2).
@Suite struct TrainingDivergenceTests {
    @Test func aHugeLearningRateStopsWithTheEpochAndAHint() throws {
        let data = try Generators.blobs(samples: 64, features: 4, centers: 3, seed: 2)
        let model = MLPModel(inputs: 4, hidden: [16], outputs: 3, activation: .relu, seed: 1)
        let task = TrainingTask(algorithm: .backpropagation(.init(learningRate: 1e30, momentum: 0.9)), epochs: 5, batchSize: 16)
        let e = try #require(throws: TrainingError.self) {
            try Trainer.train(model: model, data: data, task: task, backend: CPUBackend(), seed: 1)
        }
        #expect(e.epoch == 1)
        #expect(e.description.hasPrefix("training diverged in epoch 1"), "\(e)")
        #expect(e.description.hasSuffix("lower the learning rate (it is 1e+30) or clip gradients (gradient_clip = 1)"), "\(e)")
    }

    @Test func weightsThatOverflowWithoutTheLossShowingItAreRefused() throws {
        let layer = MLPModel.Layer(inputs: 2, outputs: 1, weights: [1, .infinity], bias: [0], activation: .identity)
        let e = try #require(throws: TrainingError.self) {
            try Trainer.checkFinite(MLPModel(layers: [layer]), epoch: 7, learningRate: 0.5, gradientClip: 2)
        }
        #expect(
            e.description == "training diverged in epoch 7: layer 1's weights hold inf (element 2), so the weights are no longer numbers; "
                + "lower the learning rate (it is 0.5) or clip gradients harder (gradient_clip is 2.0)")
        #expect(throws: Never.self) {
            try Trainer.checkFinite(
                MLPModel(inputs: 2, hidden: [3], outputs: 1, activation: .relu, seed: 1), epoch: 1, learningRate: nil, gradientClip: nil)
        }
    }
}
