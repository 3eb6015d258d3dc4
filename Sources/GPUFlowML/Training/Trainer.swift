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

/// Training of the fixed MLP pipeline: the training loop with the MLP's hand-written passes,
/// for SGD with momentum, Adam, RMSprop and transfer learning.
public enum Trainer {
    /// `monitor`: a held-out set evaluated after every epoch (its time is not counted), for
    /// learning curves and "epochs to reach an accuracy".
    public static func train(
        model: MLPModel, data: Dataset, task: TrainingTask, backend: Backend, seed: UInt64,
        cancel: CancellationToken = CancellationToken(), monitor: Dataset? = nil,
        onEpoch: ((EpochMetrics) -> Void)? = nil, recovery: TrainingRecovery? = nil
    ) throws -> TrainingResult {
        try Validation.check(model: model, data: data, loss: task.loss, context: "training")
        let (update, batchSize, trainable) = try plan(task, layers: model.layers.count)
        let r = try TrainingLoop.run(
            model: model, data: data, task: task, update: update, batchSize: batchSize, backend: backend, seed: seed, cancel: cancel,
            monitor: monitor, onEpoch: onEpoch, recovery: recovery,
            make: { try MLPTraining($0, on: backend, layers: trainable) })
        var result = TrainingResult(model: r.model, epochs: r.epochs, seconds: r.seconds, backend: backend.name)
        result.bestEpoch = r.bestEpoch
        result.stoppedEarly = r.stoppedEarly
        result.frozenLayers = trainable.indices.filter { !trainable[$0] }
        result.checkpointsWritten = r.checkpointsWritten
        result.resumedFromEpoch = r.resumedFromEpoch
        result.samplesTrained = r.samplesTrained
        return result
    }

    /// The optimizer a task trains with, its batch size, and which of `layers` layers it trains:
    /// transfer learning is Adam on the layers its strategy leaves unfrozen.
    static func plan(_ task: TrainingTask, layers: Int) throws -> (TrainingAlgorithm, Int, [Bool]) {
        switch task.algorithm {
        case .backpropagation(let b):
            return (task.algorithm, b.batchSize ?? task.batchSize, [Bool](repeating: true, count: layers))
        case .adam, .rmsprop:
            return (task.algorithm, task.batchSize, [Bool](repeating: true, count: layers))
        case .transfer(let t):
            return (
                .adam(Adam(learningRate: t.learningRate)), task.batchSize,
                Freezing.trainable(layers: layers, fineTuning: t.fineTuningLayers, strategy: t.freezingStrategy)
            )
        default:
            throw MLError(
                "training algorithm '\(task.algorithm.name)' is not available in this version: use backprop, adam, rmsprop or transfer")
        }
    }

    /// The learning rate a divergence message quotes.
    static func rate(_ algorithm: TrainingAlgorithm) -> Double? {
        switch algorithm {
        case .backpropagation(let b): return b.learningRate
        case .adam(let a): return a.learningRate
        case .rmsprop(let r): return r.learningRate
        default: return nil
        }
    }

    /// Refuses a model whose weights overflowed, before it is saved or returned. Every batch's
    /// loss is checked already (it is read anyway); this catches what the loss can miss: the
    /// last step's update, and NaNs that ReLU turns into zeros. It reads only weights the run
    /// exports anyway, so a step stays one device submission.
    static func checkFinite(_ model: MLPModel, epoch: Int, learningRate: Double?, gradientClip: Double?) throws {
        try MLPTraining.checkFinite(model, epoch: epoch, learningRate: learningRate, gradientClip: gradientClip)
    }
}

/// Which layers a transfer-learning strategy trains (true) or freezes (false).
public enum Freezing {
    public static func trainable(layers n: Int, fineTuning k: Int, strategy: FreezingStrategy) -> [Bool] {
        let k = min(max(k, 1), n)
        switch strategy {
        case .early_layers: return (0..<n).map { $0 >= n - k }  // freeze the first n−k
        case .late_layers: return (0..<n).map { $0 < k }  // freeze the last n−k
        case .alternating:  // every other layer from the output back
            let picked = Set(stride(from: n - 1, through: 0, by: -2).prefix(k))
            return (0..<n).map { picked.contains($0) }
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
    /// Token positions per row of a text batch (its outputs are [rows, positions, cols] and
    /// the loss is the mean cross-entropy per token); 1 for every other batch.
    let positions: Int

    /// `augment` changes the rows' features before they are uploaded (a training batch's crops and flips).
    init(
        _ data: Dataset, rows idx: [Int], backend: Backend, loss: LossKind, outputs: Int, options: LossOptions = LossOptions(),
        augment: ((inout [Float]) -> Void)? = nil
    ) throws {
        var xs: [Float] = []
        xs.reserveCapacity(idx.count * data.cols)
        for r in idx { xs.append(contentsOf: data.row(r)) }
        augment?(&xs)
        // A text batch's labels are its next tokens, row after row.
        labels = data.vocabulary == nil ? idx.map { data.labels[$0] } : idx.flatMap { data.target($0) }
        x = try backend.tensor(xs, shape: [idx.count] + data.sampleShape)
        rows = idx.count
        cols = outputs
        lossKind = loss
        lossOptions = options
        positions = data.positions ?? 1
        switch loss {
        case _ where data.vocabulary != nil:  // next tokens: a class per position
            let t = labels
            if options.labelSmoothing > 0 {
                let e = Float(options.labelSmoothing)
                var q = [Float](repeating: e / Float(outputs), count: t.count * outputs)
                for (r, l) in t.enumerated() { q[r * outputs + Int(l)] += 1 - e }
                target = try backend.tensor(q, shape: [t.count, outputs])
            } else {
                target = try backend.tensor(t, shape: [t.count])
            }
        case _ where data.targets != nil:  // several targets per row, as they are (checked: not cross-entropy)
            var t: [Float] = []
            t.reserveCapacity(idx.count * outputs)
            for r in idx { t.append(contentsOf: data.target(r)) }
            target = try backend.tensor(t, shape: [idx.count, outputs])
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
        if positions > 1 || output.shape.count == 3 {
            // Per token, then each row's mean: the mean over rows is the mean over tokens, whose
            // gradient the kernel gives for the [rows·positions, classes] view.
            let tokens = rows * positions
            guard Shapes.count(output.shape) == tokens * cols else {
                throw MLError(
                    "the model gives \(Shapes.count(output.shape) / max(rows, 1)) values per sample; text with \(positions) positions and \(cols) tokens needs [\(positions), \(cols)] (a language model, nn.token_embedding first)"
                )
            }
            let flat = output.view(shape: [tokens, cols])
            let perToken: Tensor, grad: Tensor
            if lossOptions.labelSmoothing == 0 {
                perToken = try backend.zeros(shape: [tokens])
                grad = try backend.zeros(shape: [tokens, cols])
                try backend.softmaxCrossEntropy(flat, target, rows: tokens, cols: cols, losses: perToken, grad: grad)
            } else {
                (perToken, grad) = try LossFunctions.rowsAndGradient(
                    lossKind, options: lossOptions, output: flat, target: target, backend: backend)
            }
            let perRow = try backend.run(.reduce(.mean, axis: 1), [perToken.view(shape: [rows, positions])])[0]
            return (perRow.view(shape: [rows]), grad.view(shape: output.shape))
        }
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
    /// A text batch counts its right tokens as fractions of rows (a row all right counts 1),
    /// so accuracy is the share of next tokens predicted.
    func metrics(output: Tensor, losses: Tensor, backend: Backend) throws -> (loss: Double, correct: Double) {
        guard lossKind == .cross_entropy else {
            return (Double(try backend.read(losses).reduce(0, +)), 0)
        }
        let tokens = rows * positions
        let arg = try backend.zeros(shape: [tokens])
        try backend.rowArgmax(output.view(shape: [tokens, cols]), rows: tokens, cols: cols, arg)
        let values = try backend.read([losses, arg])
        let lossSum = values[0].reduce(0, +)  // the trainer and the evaluator check it is finite
        return (Double(lossSum), Double(zip(values[1], labels).filter { $0 == $1 }.count) / Double(positions))
    }
}

/// Loss and accuracy of a network over a whole data set, in batches.
enum Evaluator {
    static func evaluate(net: NetworkOnBackend, data: Dataset, loss: LossKind, batchSize: Int, options: LossOptions = LossOptions()) throws
        -> (loss: Double, accuracy: Double?)
    {
        let n = try MLPTraining(sharing: net)
        return try TrainingLoop.evaluate(n, data: data, loss: loss, batchSize: batchSize, options: options)
    }
}

/// Checks that a model and a data set fit together, with messages that say which numbers differ.
public enum Validation {
    public static func check(model: MLPModel, data: Dataset, loss: LossKind, context: String) throws {
        if data.vocabulary != nil {
            throw MLError(
                "\(context): data set \(data.source) is text, whose next tokens are predicted at every position; an nn.mlp predicts one row per sample (build a language model with nn.sequential, nn.token_embedding first)"
            )
        }
        try check(inputs: model.inputs, outputs: model.outputs, data: data, loss: loss, context: context)
    }

    /// The same checks for any model with `inputs` features in and `outputs` values out.
    public static func check(inputs: Int, outputs: Int, data: Dataset, loss: LossKind, context: String) throws {
        guard data.cols == inputs else {
            throw MLError("\(context): data set \(data.source) has \(data.cols) features but the model expects \(inputs) inputs")
        }
        guard data.rows > 0 else { throw MLError("\(context): data set \(data.source) has no rows") }
        if let v = data.vocabulary {  // next-token prediction: a class per position
            guard loss == .cross_entropy else {
                throw MLError(
                    "\(context): data set \(data.source) is text; its next tokens are classes, trained with cross_entropy, not \(loss.rawValue)"
                )
            }
            guard outputs == v.count else {
                throw MLError("\(context): data set \(data.source) has \(v.count) tokens but the model has \(outputs) outputs per position")
            }
            return
        }
        if data.targets != nil {  // multi-label or multi-output: one output per target, no classes
            let w = data.targetWidth
            guard loss != .cross_entropy else {
                throw MLError(
                    "\(context): data set \(data.source) has \(w) targets per row; cross_entropy takes one class per row (use bce_with_logits for several labels, mse, l1 or huber for several values)"
                )
            }
            guard outputs == w else {
                throw MLError("\(context): data set \(data.source) has \(w) targets per row but the model has \(outputs) outputs")
            }
            if loss == .bce_with_logits, let t = data.targets, let bad = t.firstIndex(where: { $0 != 0 && $0 != 1 }) {
                throw MLError(
                    "\(context): bce_with_logits needs targets 0 or 1; row \(bad / w + 1), target \(bad % w + 1) of \(data.source) is \(t[bad])"
                )
            }
            return
        }
        if loss == .bce_with_logits, outputs == 1, let bad = data.labels.firstIndex(where: { $0 != 0 && $0 != 1 }) {
            throw MLError(
                "\(context): bce_with_logits with one output needs labels 0 or 1; row \(bad + 1) of \(data.source) has \(data.labels[bad])")
        }
        if loss == .cross_entropy || outputs > 1 {
            guard let k = data.classCount else {
                throw MLError("\(context): labels of \(data.source) are not class indices (non-negative integers)")
            }
            guard k <= outputs else {
                throw MLError("\(context): data set \(data.source) has \(k) classes but the model has \(outputs) outputs")
            }
        }
    }
}
