import Foundation
import GPUFlowCompute
import GPUFlowCore

/// Mini-batch training of a `GraphModel`: forward on a tape, the loss kernels of today's
/// trainer (softmax cross-entropy, MSE) for the loss and its gradient at the output, the tape's
/// rules for every parameter's gradient, and Adam or SGD with momentum on the backend. No
/// value comes back to the host inside a step but the loss, read once per batch.
public enum GraphTrainer {
    public struct Result: Sendable {
        public let model: GraphModel
        /// Mean loss per epoch.
        public let losses: [Double]
        public let accuracy: Double?
        public var epochs: [EpochMetrics] = []
        public var seconds: Double = 0
    }

    public static func train(
        _ model: GraphModel, data: Dataset, epochs: Int, batchSize: Int, algorithm: TrainingAlgorithm,
        loss: LossKind = .cross_entropy, backend: Backend, seed: UInt64,
        frozen: Set<String> = [], cancel: CancellationToken? = nil, onEpoch: ((EpochMetrics) -> Void)? = nil,
        lossOptions: LossOptions = LossOptions(),
        schedule: LearningRateSchedule = .constant, warmupSteps: Int? = nil
    ) throws -> Result {
        guard model.inputShape == [data.cols] else {
            throw DataError("the model takes samples of shape \(model.inputShape), the data set's are [\(data.cols)]")
        }
        let outputs = try model.outputShape(rows: 1).last ?? 0
        let runner = try GraphRunner(model, on: backend)
        let trainable = model.parameters.map { !frozen.contains($0.layer) }
        var state1: [Tensor] = [], state2: [Tensor] = []
        for p in runner.parameters {
            state1.append(try backend.zeros(shape: p.shape))
            state2.append(try backend.zeros(shape: p.shape))
        }
        var rng = Philox(seed: seed)
        var losses: [Double] = []
        var correct = 0
        var step = 0
        var history: [EpochMetrics] = []
        let started = Date()
        for epoch in 1...max(epochs, 1) {
            let epochStart = Date()
            let order = rng.permutation(data.rows)
            var sum = 0.0
            correct = 0
            var offset = 0
            while offset < data.rows {
                try cancel?.check()
                let idx = Array(order[offset..<min(offset + batchSize, data.rows)])
                offset += idx.count
                step += 1
                // The epoch schedule and the warm-up, as the MLP trainer applies them (1 when neither is set).
                var shape = TrainingTask(algorithm: algorithm, epochs: epochs, batchSize: batchSize)
                shape.schedule = schedule
                shape.warmupSteps = warmupSteps
                let rate = Float(shape.rateFactor(epoch: epoch, step: step))
                let batch = try Batch(data, rows: idx, backend: backend, loss: loss, outputs: outputs, options: lossOptions)
                let tape = Tape(backend: backend)
                let pass = try runner.forward(
                    batch.x, on: tape, training: true, seed: seed, step: step,
                    trainable: { p in !frozen.contains(p.layer) })
                let out = tape.tensor(pass.output)
                let (rowLosses, grad) = try batch.loss(out, backend: backend)
                let grads = try tape.gradients(of: pass.output, seed: grad)
                for (i, p) in runner.parameters.enumerated() where trainable[i] {
                    guard let g = grads[pass.parameters[i]] else { continue }
                    switch algorithm {
                    case .adam(let a):
                        try backend.adam(
                            param: p, grad: g, m: state1[i], v: state2[i], step: step, learningRate: Float(a.learningRate) * rate,
                            beta1: Float(a.beta1), beta2: Float(a.beta2), epsilon: Float(a.epsilon), weightDecay: Float(a.weightDecay))
                    case .backpropagation(let b):
                        try backend.sgdMomentum(
                            param: p, grad: g, velocity: state1[i], learningRate: Float(b.learningRate) * rate, momentum: Float(b.momentum))
                    default:
                        throw DataError("training algorithm '\(algorithm.name)' has no gradient update for a graph model")
                    }
                }
                let m = try batch.metrics(output: out, losses: rowLosses, backend: backend)
                guard m.loss.isFinite else {
                    throw TrainingError.diverged(
                        epoch: losses.count + 1, batch: step, what: "the loss is \(m.loss)", learningRate: nil, gradientClip: nil)
                }
                sum += m.loss
                correct += m.correct
            }
            losses.append(sum / Double(data.rows))
            let seconds = Date().timeIntervalSince(epochStart)
            let m = EpochMetrics(
                epoch: epoch, loss: sum / Double(data.rows),
                accuracy: loss == .cross_entropy ? Double(correct) / Double(data.rows) : nil,
                validationLoss: nil, validationAccuracy: nil, seconds: seconds,
                samplesPerSecond: Double(data.rows) / max(seconds, 1e-9))
            history.append(m)
            onEpoch?(m)
        }
        return Result(
            model: try runner.export(), losses: losses, accuracy: loss == .cross_entropy ? Double(correct) / Double(data.rows) : nil,
            epochs: history, seconds: Date().timeIntervalSince(started))
    }
}
