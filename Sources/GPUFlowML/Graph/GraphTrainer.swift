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
        /// With early stopping's restore_best: the epoch whose weights the model holds.
        public var bestEpoch: Int?
        public var stoppedEarly = false
        /// Rows trained on, over every epoch run (the validation rows excluded).
        public var samplesTrained = 0
    }

    /// The convenience form (tests, benchmarks): the settings a TrainingTask would carry.
    public static func train(
        _ model: GraphModel, data: Dataset, epochs: Int, batchSize: Int, algorithm: TrainingAlgorithm,
        loss: LossKind = .cross_entropy, backend: Backend, seed: UInt64,
        frozen: Set<String> = [], cancel: CancellationToken? = nil, onEpoch: ((EpochMetrics) -> Void)? = nil,
        lossOptions: LossOptions = LossOptions(),
        schedule: LearningRateSchedule = .constant, warmupSteps: Int? = nil
    ) throws -> Result {
        var task = TrainingTask(algorithm: algorithm, epochs: epochs, batchSize: batchSize, loss: loss, schedule: schedule)
        task.lossOptions = lossOptions
        task.warmupSteps = warmupSteps
        task.frozenLayers = frozen.isEmpty ? nil : frozen.sorted()
        return try train(model, data: data, task: task, backend: backend, seed: seed, cancel: cancel, onEpoch: onEpoch)
    }

    /// Trains as `task` says: epochs, batch size, algorithm, loss and its options, schedule and
    /// warm-up, frozen layers, validation split and early stopping (the MLP trainer's rules).
    public static func train(
        _ model: GraphModel, data: Dataset, task: TrainingTask, backend: Backend, seed: UInt64,
        cancel: CancellationToken? = nil, onEpoch: ((EpochMetrics) -> Void)? = nil
    ) throws -> Result {
        guard model.inputShape == [data.cols] else {
            throw DataError("the model takes samples of shape \(model.inputShape), the data set's are [\(data.cols)]")
        }
        let algorithm = task.algorithm, loss = task.loss, lossOptions = task.lossOptions ?? LossOptions()
        var batchSize = task.batchSize
        if case .backpropagation(let b) = algorithm, let size = b.batchSize { batchSize = size }
        let frozen = Set(task.frozenLayers ?? [])
        let (train, validation) = data.holdingOut(task.validationSplit, seed: seed)
        if task.earlyStopping != nil, validation == nil {
            throw DataError("training: early stopping watches the validation loss; set validation_split above 0")
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
        var stopper = task.earlyStopping.map { EarlyStopper($0) }
        var bestModel: GraphModel?
        var stoppedEarly = false
        let started = Date()
        for epoch in 1...max(task.epochs, 1) {
            let epochStart = Date()
            let order = rng.permutation(train.rows)
            var sum = 0.0
            correct = 0
            var offset = 0
            while offset < train.rows {
                try cancel?.check()
                let idx = Array(order[offset..<min(offset + batchSize, train.rows)])
                offset += idx.count
                step += 1
                // The epoch schedule and the warm-up, as the MLP trainer applies them (1 when neither is set).
                let rate = Float(task.rateFactor(epoch: epoch, step: step))
                let batch = try Batch(train, rows: idx, backend: backend, loss: loss, outputs: outputs, options: lossOptions)
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
                            param: p, grad: g, velocity: state1[i], learningRate: Float(b.learningRate) * rate, momentum: Float(b.momentum),
                            weightDecay: Float(b.weightDecay ?? 0), nesterov: b.nesterov ?? false)
                    default:
                        throw DataError("training algorithm '\(algorithm.name)' has no gradient update for a graph model")
                    }
                }
                let m = try batch.metrics(output: out, losses: rowLosses, backend: backend)
                guard m.loss.isFinite else {
                    throw TrainingError.diverged(
                        epoch: epoch, batch: step, what: "the loss is \(m.loss)", learningRate: nil, gradientClip: nil)
                }
                sum += m.loss
                correct += m.correct
            }
            losses.append(sum / Double(train.rows))
            let seconds = Date().timeIntervalSince(epochStart)
            var vLoss: Double?, vAcc: Double?
            if let validation {
                (vLoss, vAcc) = try evaluate(runner, data: validation, loss: loss, options: lossOptions, outputs: outputs)
            }
            let m = EpochMetrics(
                epoch: epoch, loss: sum / Double(train.rows),
                accuracy: loss == .cross_entropy ? Double(correct) / Double(train.rows) : nil,
                validationLoss: vLoss, validationAccuracy: vAcc, seconds: seconds,
                samplesPerSecond: Double(train.rows) / max(seconds, 1e-9))
            history.append(m)
            onEpoch?(m)
            if var s = stopper, let vLoss {
                let decision = s.observe(validationLoss: vLoss, epoch: epoch)
                stopper = s
                if decision == .best { bestModel = s.rule.restoreBest ? try runner.export() : nil }
                if decision == .stop {
                    stoppedEarly = epoch < task.epochs
                    if stoppedEarly { break }
                }
            }
        }
        var result = Result(
            model: try bestModel ?? runner.export(), losses: losses,
            accuracy: loss == .cross_entropy ? Double(correct) / Double(train.rows) : nil,
            epochs: history, seconds: Date().timeIntervalSince(started))
        result.bestEpoch = bestModel != nil ? stopper?.bestEpoch : nil
        result.stoppedEarly = stoppedEarly
        result.samplesTrained = train.rows * history.count
        return result
    }

    /// Loss and accuracy over a whole data set, dropout off.
    static func evaluate(_ runner: GraphRunner, data: Dataset, loss: LossKind, options: LossOptions, outputs: Int) throws -> (
        Double, Double?
    ) {
        var sum = 0.0, correct = 0, offset = 0
        while offset < data.rows {
            let idx = Array(offset..<min(offset + 256, data.rows))
            offset += idx.count
            let batch = try Batch(data, rows: idx, backend: runner.backend, loss: loss, outputs: outputs, options: options)
            let out = try runner.predict(batch.x)
            let (rowLosses, _) = try batch.loss(out, backend: runner.backend)
            let m = try batch.metrics(output: out, losses: rowLosses, backend: runner.backend)
            sum += m.loss
            correct += m.correct
        }
        return (sum / Double(max(data.rows, 1)), loss == .cross_entropy ? Double(correct) / Double(max(data.rows, 1)) : nil)
    }
}
