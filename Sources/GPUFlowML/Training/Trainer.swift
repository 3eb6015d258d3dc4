import Foundation
import GPUFlowCompute
import GPUFlowCore

/// Metrics of one epoch, measured, never estimated.
public struct EpochMetrics: Sendable, Codable {
    public let epoch: Int
    public let loss: Double
    public let accuracy: Double?
    public let validationLoss: Double?
    public let validationAccuracy: Double?
    public let seconds: Double
    public let samplesPerSecond: Double
    /// Accuracy on a held-out monitor set, when the caller gave one (not counted in `seconds`).
    public var monitorAccuracy: Double? = nil
}

public struct TrainingResult: Sendable {
    public let model: MLPModel
    public let epochs: [EpochMetrics]
    public let seconds: Double
    public let backend: String
    /// The epoch whose model was returned when early stopping restored the best one.
    public var bestEpoch: Int? = nil
    /// Set when early stopping ended the run before its last epoch.
    public var stoppedEarly = false
    /// 0-based indices of the layers training left untouched (transfer learning).
    public var frozenLayers: [Int] = []
    public var checkpointsWritten = 0
    /// The epoch a resumed run started after.
    public var resumedFromEpoch: Int?
    /// Rows this call trained on: the training split × the epochs it ran (a resumed run's
    /// earlier epochs, the validation split and epochs early stopping skipped are not work done).
    public var samplesTrained: Int?
}

/// Mini-batch gradient descent for MLPs with the Backpropagation (SGD + momentum) and Adam
/// algorithms, written once against `Backend`.
public enum Trainer {
    /// `monitor`: a held-out set evaluated after every epoch (its time is not counted), for
    /// learning curves and "epochs to reach an accuracy".
    public static func train(model: MLPModel, data: Dataset, task: TrainingTask, backend: Backend, seed: UInt64,
                             cancel: CancellationToken = CancellationToken(), monitor: Dataset? = nil,
                             onEpoch: ((EpochMetrics) -> Void)? = nil, recovery: TrainingRecovery? = nil) throws -> TrainingResult {
        try Validation.check(model: model, data: data, loss: task.loss, context: "training")
        let (train, validation) = data.holdingOut(task.validationSplit, seed: seed)
        let batchSize: Int
        let update: TrainingAlgorithm
        var trainable = [Bool](repeating: true, count: model.layers.count)
        switch task.algorithm {
        case .backpropagation(let b):
            batchSize = b.batchSize ?? task.batchSize
            update = task.algorithm
        case .adam:
            batchSize = task.batchSize
            update = task.algorithm
        case .transfer(let t):
            batchSize = task.batchSize
            update = .adam(Adam(learningRate: t.learningRate))
            trainable = Freezing.trainable(layers: model.layers.count, fineTuning: t.fineTuningLayers, strategy: t.freezingStrategy)
        default:
            throw DataError("training algorithm '\(task.algorithm.name)' is not available in this version: use backprop, adam or transfer")
        }
        if task.earlyStopping != nil, validation == nil {
            throw DataError("training: early stopping watches the validation loss; set validation_split above 0")
        }
        if task.checkpointEvery != nil, task.checkpointPath == nil {
            throw DataError("training: checkpoint_every needs checkpoint_path")
        }
        var resumed: TrainingCheckpoint?
        if let path = task.resumeFrom {
            let c = try TrainingCheckpoint.load(path: path)
            guard c.model.layers.map({ [$0.inputs, $0.outputs] }) == model.layers.map({ [$0.inputs, $0.outputs] }) else {
                throw DataError(file: path, "the checkpoint's network (\(c.model.layers.map(\.outputs))) is not this task's model")
            }
            guard c.epoch <= task.epochs else {
                throw DataError(file: path, "the checkpoint is at epoch \(c.epoch), past this task's \(task.epochs) epochs")
            }
            guard c.seed == seed, c.algorithm == update.name else {
                throw DataError(file: path, "the checkpoint was written with seed \(c.seed) and \(c.algorithm), not seed \(seed) and \(update.name)")
            }
            resumed = c
        }
        if let c = recovery?.checkpoint {  // a retry after a device fault: go on from the last good epoch
            guard c.seed == seed, c.algorithm == update.name, c.epoch <= task.epochs else {
                throw DataError("training: the recovery checkpoint (epoch \(c.epoch), seed \(c.seed), \(c.algorithm)) is not this task's")
            }
            resumed = c
        }
        let net = try NetworkOnBackend(resumed?.model ?? model, on: backend)
        let optimizer = try Optimizer(update, net: net, trainable: trainable)
        var rng = Philox(seed: seed)
        var history: [EpochMetrics] = []
        var stopper = task.earlyStopping.map { EarlyStopper($0) }
        var bestModel: MLPModel?
        var stoppedEarly = false
        var checkpoints = 0
        if let c = resumed {
            try optimizer.restore(c.optimizerState, step: c.step, backend: backend)
            rng = Philox(seed: seed, position: (c.rngCounter, c.rngUsed))
            history = c.history
            if let rule = task.earlyStopping {
                stopper = EarlyStopper(rule, bestLoss: c.bestLoss, bestEpoch: c.bestEpoch, sinceBest: c.sinceBest)
                bestModel = c.bestModel
            }
        }
        let start = Date()
        var epochsRun = 0
        for epoch in ((resumed?.epoch ?? 0) + 1)..<(task.epochs + 1) {
            epochsRun += 1
            let epochStart = Date()
            optimizer.rateFactor = Float(task.schedule.factor(epoch: epoch, of: task.epochs))
            let order = rng.permutation(train.rows)
            var lossSum = 0.0, correct = 0
            var offset = 0, batchNumber = 0
            while offset < train.rows {
                batchNumber += 1
                try cancel.check()
                let idx = Array(order[offset..<min(offset + batchSize, train.rows)])
                offset += idx.count
                if task.warmupSteps != nil { optimizer.rateFactor = Float(task.rateFactor(epoch: epoch, step: optimizer.steps + 1)) }
                let batch = try Batch(train, rows: idx, backend: backend, loss: task.loss, outputs: model.outputs, options: task.lossOptions ?? LossOptions())
                // The whole step — forward, loss, backward, update, argmax — is recorded before the
                // one read that needs the device, so a GPU backend submits it once.
                let pass = try net.forward(batch.x, rows: idx.count)
                let (losses, grad) = try batch.loss(pass.output, backend: backend)
                let grads = try net.backward(pass, outputGrad: grad)
                if let clip = task.gradientClipNorm { try Self.clip(grads, trainable: trainable, to: Float(clip), backend: backend) }
                try optimizer.step(net: net, grads: grads)
                let m = try batch.metrics(output: pass.output, losses: losses, backend: backend)
                guard m.loss.isFinite else {
                    throw TrainingError.diverged(epoch: epoch, batch: batchNumber, what: "the loss is \(m.loss)", learningRate: Self.rate(update),
                                                 gradientClip: task.gradientClipNorm)
                }
                lossSum += m.loss
                correct += m.correct
            }
            let seconds = Date().timeIntervalSince(epochStart)
            var vLoss: Double?, vAcc: Double?
            if let validation {
                let e = try Evaluator.evaluate(net: net, data: validation, loss: task.loss, batchSize: max(batchSize, 256), options: task.lossOptions ?? LossOptions())
                vLoss = e.loss
                vAcc = e.accuracy
            }
            var m = EpochMetrics(epoch: epoch, loss: lossSum / Double(train.rows),
                                 accuracy: task.loss == .cross_entropy ? Double(correct) / Double(train.rows) : nil,
                                 validationLoss: vLoss, validationAccuracy: vAcc, seconds: seconds,
                                 samplesPerSecond: Double(train.rows) / max(seconds, 1e-9))
            if let monitor {
                m.monitorAccuracy = try Evaluator.evaluate(net: net, data: monitor, loss: task.loss, batchSize: 512).accuracy
            }
            history.append(m)
            onEpoch?(m)
            if var s = stopper, let vLoss {
                switch s.observe(validationLoss: vLoss, epoch: epoch) {
                case .best: bestModel = s.rule.restoreBest ? try net.export() : nil
                case .stop: stoppedEarly = epoch < task.epochs
                case .wait: break
                }
                stopper = s
            }
            // The state after this epoch, early-stopping bookkeeping included, so a resumed run
            // continues exactly as an uninterrupted one.
            let fileDue = task.checkpointEvery.map { epoch % $0 == 0 } ?? false
            if fileDue || recovery != nil {
                let exported = try net.export()
                try Self.checkFinite(exported, epoch: epoch, learningRate: Self.rate(update), gradientClip: task.gradientClipNorm)
                let position = rng.position
                let c = TrainingCheckpoint(
                    seed: seed, algorithm: update.name, epoch: epoch, step: optimizer.steps, rngCounter: position.counter,
                    rngUsed: position.used, history: history, bestEpoch: stopper?.bestEpoch, bestLoss: stopper?.bestLoss, sinceBest: stopper?.sinceBest ?? 0,
                    model: exported, bestModel: bestModel, optimizerState: try optimizer.state(backend: backend))
                if fileDue, let path = task.checkpointPath {
                    try c.save(path: path)
                    checkpoints += 1
                }
                recovery?.checkpoint = c
            }
            if stoppedEarly { break }
        }
        let final = try bestModel ?? net.export()
        try Self.checkFinite(final, epoch: history.last?.epoch ?? 0, learningRate: Self.rate(update), gradientClip: task.gradientClipNorm)
        var result = TrainingResult(model: final, epochs: history, seconds: Date().timeIntervalSince(start), backend: backend.name)
        result.bestEpoch = bestModel != nil ? stopper?.bestEpoch : nil
        result.stoppedEarly = stoppedEarly
        result.frozenLayers = trainable.indices.filter { !trainable[$0] }
        result.checkpointsWritten = checkpoints
        result.resumedFromEpoch = resumed.map(\.epoch)
        result.samplesTrained = train.rows * epochsRun
        return result
    }

    /// The learning rate a divergence message quotes.
    static func rate(_ algorithm: TrainingAlgorithm) -> Double? {
        switch algorithm {
        case .backpropagation(let b): return b.learningRate
        case .adam(let a): return a.learningRate
        default: return nil
        }
    }

    /// Refuses a model whose weights overflowed, before it is saved or returned. Every batch's
    /// loss is checked already (it is read anyway); this catches what the loss can miss: the
    /// last step's update, and NaNs that ReLU turns into zeros. It reads only weights the run
    /// exports anyway, so a step stays one device submission.
    static func checkFinite(_ model: MLPModel, epoch: Int, learningRate: Double?, gradientClip: Double?) throws {
        for (i, layer) in model.layers.enumerated() {
            for (values, name) in [(layer.weights, "weights"), (layer.bias, "biases")] {
                guard let bad = values.firstIndex(where: { !$0.isFinite }) else { continue }
                throw TrainingError.diverged(epoch: epoch, what: "layer \(i + 1)'s \(name) hold \(values[bad]) (element \(bad + 1))",
                                             learningRate: learningRate, gradientClip: gradientClip)
            }
        }
    }

    /// Scales the trainable gradients so their global L2 norm is at most `limit` (one read of
    /// the norm per step, so clipping costs a device round trip).
    static func clip(_ grads: (weights: [Tensor], biases: [Tensor]), trainable: [Bool], to limit: Float, backend: Backend) throws {
        let tensors = zip(grads.weights, grads.biases).enumerated().filter { trainable[$0.offset] }.flatMap { [$0.element.0, $0.element.1] }
        var squares: Float = 0
        for t in tensors { squares += try backend.sumOfSquares(t) }
        let norm = squares.squareRoot()
        guard norm > limit, norm.isFinite else { return }
        for t in tensors { try backend.scale(t, limit / norm) }
    }
}

/// Which layers a transfer-learning strategy trains (true) or freezes (false).
public enum Freezing {
    public static func trainable(layers n: Int, fineTuning k: Int, strategy: FreezingStrategy) -> [Bool] {
        let k = min(max(k, 1), n)
        switch strategy {
        case .early_layers: return (0..<n).map { $0 >= n - k }         // freeze the first n−k
        case .late_layers: return (0..<n).map { $0 < k }              // freeze the last n−k
        case .alternating:                                           // every other layer from the output back
            let picked = Set(stride(from: n - 1, through: 0, by: -2).prefix(k))
            return (0..<n).map { picked.contains($0) }
        }
    }
}

/// Parameter updates for the two gradient algorithms; state (velocity, moments) lives on the backend.
final class Optimizer {
    private let algorithm: TrainingAlgorithm
    private var state1: [Tensor] = []
    private var state2: [Tensor] = []
    private var step = 0
    /// Per layer: false leaves its weights and bias exactly as they were.
    private let trainable: [Bool]
    /// The schedule's factor for the current epoch.
    var rateFactor: Float = 1
    var steps: Int { step }

    /// The moment/velocity tensors, read back for a checkpoint.
    func state(backend: Backend) throws -> [[Float]] { try backend.read(state1 + state2) }

    func restore(_ values: [[Float]], step: Int, backend: Backend) throws {
        let tensors = state1 + state2
        guard values.count == tensors.count, zip(values, tensors).allSatisfy({ $0.count == $1.count }) else {
            throw DataError("checkpoint: optimizer state does not fit this network and algorithm")
        }
        for (t, v) in zip(tensors, values) { try backend.write(t, v) }
        self.step = step
    }

    init(_ algorithm: TrainingAlgorithm, net: NetworkOnBackend, trainable: [Bool]) throws {
        self.algorithm = algorithm
        self.trainable = trainable
        for t in net.weights + net.biases {
            state1.append(try net.backend.zeros(shape: t.shape))
            if case .adam = algorithm { state2.append(try net.backend.zeros(shape: t.shape)) }
        }
    }

    func step(net: NetworkOnBackend, grads: (weights: [Tensor], biases: [Tensor])) throws {
        step += 1
        let params = net.weights + net.biases
        let g = grads.weights + grads.biases
        let layers = net.weights.count
        for i in params.indices where trainable[i % layers] {
            switch algorithm {
            case .backpropagation(let b):
                try net.backend.sgdMomentum(param: params[i], grad: g[i], velocity: state1[i],
                                            learningRate: Float(b.learningRate) * rateFactor, momentum: Float(b.momentum),
                                            weightDecay: Float(b.weightDecay ?? 0), nesterov: b.nesterov ?? false)
            case .adam(let a):
                try net.backend.adam(param: params[i], grad: g[i], m: state1[i], v: state2[i], step: step,
                                     learningRate: Float(a.learningRate) * rateFactor, beta1: Float(a.beta1), beta2: Float(a.beta2),
                                     epsilon: Float(a.epsilon), weightDecay: Float(a.weightDecay))
            default:
                throw DataError("training algorithm '\(algorithm.name)' has no gradient update")
            }
        }
    }
}

/// One mini-batch uploaded to a backend, with its targets in the shape the loss needs.
struct Batch {
    let x: Tensor
    let target: Tensor
    let labels: [Float]
    let rows: Int
    let cols: Int
    let lossKind: LossKind
    let lossOptions: LossOptions

    init(_ data: Dataset, rows idx: [Int], backend: Backend, loss: LossKind, outputs: Int, options: LossOptions = LossOptions()) throws {
        var xs: [Float] = []
        xs.reserveCapacity(idx.count * data.cols)
        for r in idx { xs.append(contentsOf: data.row(r)) }
        labels = idx.map { data.labels[$0] }
        x = try backend.tensor(xs, shape: [idx.count, data.cols])
        rows = idx.count
        cols = outputs
        lossKind = loss
        lossOptions = options
        switch loss {
        case .cross_entropy where options.labelSmoothing > 0:
            // The smoothed distribution: (1 − ε) on the label, ε spread over every class.
            let e = Float(options.labelSmoothing)
            var q = [Float](repeating: e / Float(outputs), count: idx.count * outputs)
            for (r, l) in labels.enumerated() { q[r * outputs + Int(l)] += 1 - e }
            target = try backend.tensor(q, shape: [idx.count, outputs])
        case .cross_entropy:
            target = try backend.tensor(labels, shape: [idx.count])
        case .mse, .l1, .huber, .bce_with_logits:
            if outputs == 1 {
                target = try backend.tensor(labels, shape: [idx.count, 1])
            } else {  // a class index against several outputs: one-hot targets
                var onehot = [Float](repeating: 0, count: idx.count * outputs)
                for (r, l) in labels.enumerated() { onehot[r * outputs + Int(l)] = 1 }
                target = try backend.tensor(onehot, shape: [idx.count, outputs])
            }
        }
    }

    /// Per-row losses and the gradient of the mean loss with respect to the output.
    func loss(_ output: Tensor, backend: Backend) throws -> (Tensor, Tensor) {
        let losses = try backend.zeros(shape: [rows])
        let grad = try backend.zeros(shape: [rows, cols])
        switch lossKind {
        case .cross_entropy where lossOptions.labelSmoothing == 0:
            try backend.softmaxCrossEntropy(output, target, rows: rows, cols: cols, losses: losses, grad: grad)
        case .mse:
            try backend.mse(output, target, rows: rows, cols: cols, losses: losses, grad: grad)
        default:
            return try LossFunctions.rowsAndGradient(lossKind, options: lossOptions, output: output, target: target, backend: backend)
        }
        return (losses, grad)
    }

    /// The batch's summed loss and, for classification, how many rows were right, read back in
    /// one go. Losses are summed in row order, as the CPU reference's `sum` does.
    func metrics(output: Tensor, losses: Tensor, backend: Backend) throws -> (loss: Double, correct: Int) {
        guard lossKind == .cross_entropy else {
            return (Double(try backend.read(losses).reduce(0, +)), 0)
        }
        let arg = try backend.zeros(shape: [rows])
        try backend.rowArgmax(output, rows: rows, cols: cols, arg)
        let values = try backend.read([losses, arg])
        let lossSum = values[0].reduce(0, +)  // the trainer and the evaluator check it is finite
        return (Double(lossSum), zip(values[1], labels).filter { $0 == $1 }.count)
    }
}

/// Loss and accuracy of a network over a whole data set, in batches.
enum Evaluator {
    static func evaluate(net: NetworkOnBackend, data: Dataset, loss: LossKind, batchSize: Int, options: LossOptions = LossOptions()) throws
        -> (loss: Double, accuracy: Double?)
    {
        var lossSum = 0.0, correct = 0, offset = 0
        let outputs = net.layers.last?.outputs ?? 0
        while offset < data.rows {
            let idx = Array(offset..<min(offset + batchSize, data.rows))
            offset += idx.count
            let batch = try Batch(data, rows: idx, backend: net.backend, loss: loss, outputs: outputs, options: options)
            let pass = try net.forward(batch.x, rows: idx.count)
            let (losses, _) = try batch.loss(pass.output, backend: net.backend)
            let m = try batch.metrics(output: pass.output, losses: losses, backend: net.backend)
            guard !m.loss.isNaN else {
                throw DataError("evaluation: the loss over \(data.source) is NaN (the model's weights are not finite numbers)")
            }
            lossSum += m.loss
            correct += m.correct
        }
        return (lossSum / Double(max(data.rows, 1)), loss == .cross_entropy ? Double(correct) / Double(max(data.rows, 1)) : nil)
    }
}

/// Checks that a model and a data set fit together, with messages that say which numbers differ.
public enum Validation {
    public static func check(model: MLPModel, data: Dataset, loss: LossKind, context: String) throws {
        guard data.cols == model.inputs else {
            throw DataError("\(context): data set \(data.source) has \(data.cols) features but the model expects \(model.inputs) inputs")
        }
        guard data.rows > 0 else { throw DataError("\(context): data set \(data.source) has no rows") }
        if loss == .bce_with_logits, model.outputs == 1, let bad = data.labels.firstIndex(where: { $0 != 0 && $0 != 1 }) {
            throw DataError("\(context): bce_with_logits with one output needs labels 0 or 1; row \(bad + 1) of \(data.source) has \(data.labels[bad])")
        }
        if loss == .cross_entropy || model.outputs > 1 {
            guard let k = data.classCount else {
                throw DataError("\(context): labels of \(data.source) are not class indices (non-negative integers)")
            }
            guard k <= model.outputs else {
                throw DataError("\(context): data set \(data.source) has \(k) classes but the model has \(model.outputs) outputs")
            }
        }
    }
}
