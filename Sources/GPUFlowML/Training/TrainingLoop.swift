import Foundation
import GPUFlowCompute
import GPUFlowCore

/// What the training loop needs of a network, whichever kind it is (the fixed MLP pipeline,
/// a graph on the tape): its parameters on a backend, a training pass that yields each
/// parameter's gradient, outputs for evaluation, and its model read back.
protocol TrainableNetwork: AnyObject {
    associatedtype Model: Sendable
    var backend: Backend { get }
    /// In the order the optimizer's state (and a checkpoint's) keeps them.
    var parameters: [Tensor] { get }
    /// Per parameter: false leaves it exactly as it is.
    var trainable: [Bool] { get }
    /// Outputs per row.
    var outputCount: Int { get }
    /// The forward pass of a training step (`step` is 1-based and counts across epochs and
    /// resumes, so dropout's masks replay); its `gradients` take the loss gradient at the output.
    func trainingPass(_ x: Tensor, rows: Int, step: Int) throws -> TrainingPass
    /// The outputs with training off (dropout passes its input on).
    func outputs(_ x: Tensor, rows: Int) throws -> Tensor
    func export() throws -> Model
    /// The model as a checkpoint keeps it, and back: nil when the checkpoint's model is not
    /// this network's architecture.
    static func checkpointed(_ model: Model) -> CheckpointModel
    func restored(_ model: CheckpointModel) -> Model?
    /// Throws `TrainingError.diverged` naming the first parameter that is not a finite number.
    static func checkFinite(_ model: Model, epoch: Int, learningRate: Double?, gradientClip: Double?) throws
}

/// One recorded forward pass and the way back from its output.
struct TrainingPass {
    let output: Tensor
    /// Per parameter (the network's order): its gradient, nil where it is frozen or unused.
    let gradients: (_ outputGradient: Tensor) throws -> [Tensor?]
}

/// A checkpoint's model, of either kind.
enum CheckpointModel {
    case mlp(MLPModel)
    case graph(GraphModel)

    var bytes: [UInt8] {
        get throws {
            switch self {
            case .mlp(let m): return try ModelFile.encode(m)
            case .graph(let g): return try GraphModelFile.encode(g)
            }
        }
    }

    /// Its architecture in a few words, for messages.
    var summary: String {
        switch self {
        case .mlp(let m): return "an MLP with layer widths \(m.layers.map(\.outputs))"
        case .graph(let g): return "a graph of \(g.nodes.count) ops and \(g.parameters.count) parameters"
        }
    }

    init(bytes: [UInt8], file: String) throws {
        let object = try ModelFiles.decode(bytes, file: file)
        if let g = object as? GraphNetwork {
            self = .graph(g.graph)
        } else if let m = object as? MLPModel {
            self = .mlp(m)
        } else {
            throw DataError(file: file, "the checkpoint's model is neither an MLP nor a graph")
        }
    }
}

/// What one run of the loop produced.
struct LoopResult<Model> {
    var model: Model
    var epochs: [EpochMetrics]
    var seconds: Double
    var bestEpoch: Int?
    var stoppedEarly = false
    var checkpointsWritten = 0
    var resumedFromEpoch: Int?
    /// Rows this call trained on: the training split × the epochs it ran.
    var samplesTrained = 0
}

/// Mini-batch gradient descent, written once for every kind of network: shuffling, the
/// epoch schedule and warm-up, the loss and its gradient at the output, gradient clipping,
/// the optimizer, validation, early stopping, checkpoints, resume and recovery after a
/// device fault. The MLP trainer and the graph trainer are this loop with their network.
enum TrainingLoop {
    /// `update`: the optimizer (a transfer task's Adam); `make` builds the network from a model
    /// (the task's, or a checkpoint's when it resumes).
    static func run<Net: TrainableNetwork>(
        model: Net.Model, data: Dataset, task: TrainingTask, update: TrainingAlgorithm, batchSize: Int, backend: Backend, seed: UInt64,
        cancel: CancellationToken?, monitor: Dataset? = nil, onEpoch: ((EpochMetrics) -> Void)?, recovery: TrainingRecovery?,
        make: (Net.Model) throws -> Net
    ) throws -> LoopResult<Net.Model> {
        let (train, validation) = data.holdingOut(task.validationSplit, seed: seed)
        if task.earlyStopping != nil, validation == nil {
            throw MLError("training: early stopping watches the validation loss; set validation_split above 0")
        }
        if task.checkpointEvery != nil, task.checkpointPath == nil {
            throw MLError("training: checkpoint_every needs checkpoint_path")
        }
        let probe = try make(model)
        var resumed: (TrainingCheckpoint, Net.Model)?
        if let path = task.resumeFrom {
            let c = try TrainingCheckpoint.load(path: path)
            guard let m = probe.restored(c.model) else {
                throw DataError(file: path, "the checkpoint's network (\(c.model.summary)) is not this task's model")
            }
            guard c.epoch <= task.epochs else {
                throw DataError(file: path, "the checkpoint is at epoch \(c.epoch), past this task's \(task.epochs) epochs")
            }
            guard c.seed == seed, c.algorithm == update.name else {
                throw DataError(
                    file: path, "the checkpoint was written with seed \(c.seed) and \(c.algorithm), not seed \(seed) and \(update.name)")
            }
            resumed = (c, m)
        }
        if let c = recovery?.checkpoint {  // a retry after a device fault: go on from the last good epoch
            guard c.seed == seed, c.algorithm == update.name, c.epoch <= task.epochs, let m = probe.restored(c.model) else {
                throw MLError("training: the recovery checkpoint (epoch \(c.epoch), seed \(c.seed), \(c.algorithm)) is not this task's")
            }
            resumed = (c, m)
        }
        let net = try resumed.map { try make($0.1) } ?? probe
        let optimizer = try Optimizer(update, parameters: net.parameters, trainable: net.trainable, backend: backend)
        var rng = Philox(seed: seed)
        var history: [EpochMetrics] = []
        var stopper = task.earlyStopping.map { EarlyStopper($0) }
        var bestModel: Net.Model?
        var stoppedEarly = false
        var checkpoints = 0
        if let (c, _) = resumed {
            try optimizer.restore(c.optimizerState, step: c.step, backend: backend)
            rng = Philox(seed: seed, position: (c.rngCounter, c.rngUsed))
            history = c.history
            if let rule = task.earlyStopping {
                stopper = EarlyStopper(rule, bestLoss: c.bestLoss, bestEpoch: c.bestEpoch, sinceBest: c.sinceBest)
                bestModel = c.bestModel.flatMap { net.restored($0) }
            }
        }
        let options = task.lossOptions ?? LossOptions()
        let rate = Trainer.rate(update)
        let stepsPerEpoch = (train.rows + batchSize - 1) / max(batchSize, 1)
        let start = Date()
        var epochsRun = 0
        for epoch in ((resumed?.0.epoch ?? 0) + 1)..<(max(task.epochs, 1) + 1) {
            epochsRun += 1
            let epochStart = Date()
            optimizer.rateFactor = Float(task.schedule.factor(epoch: epoch, of: task.epochs))
            let order = rng.permutation(train.rows)
            var lossSum = 0.0, correct = 0.0
            var offset = 0, batchNumber = 0
            while offset < train.rows {
                batchNumber += 1
                try cancel?.check()
                let idx = Array(order[offset..<min(offset + batchSize, train.rows)])
                offset += idx.count
                if task.warmupSteps != nil || task.schedulePerStep == true {
                    optimizer.rateFactor = Float(task.rateFactor(epoch: epoch, step: optimizer.steps + 1, stepsPerEpoch: stepsPerEpoch))
                }
                let step = optimizer.steps + 1
                let augment = task.augmentation.map { a in
                    { (rows: inout [Float]) in a.apply(&rows, shape: train.sampleShape, seed: seed, step: step) }
                }
                let batch = try Batch(
                    train, rows: idx, backend: backend, loss: task.loss, outputs: net.outputCount, options: options, augment: augment)
                // The whole step — forward, loss, backward, update, argmax — is recorded before the
                // one read that needs the device, so a GPU backend submits it once.
                let pass = try net.trainingPass(batch.x, rows: idx.count, step: optimizer.steps + 1)
                let (losses, grad) = try batch.loss(pass.output, backend: backend)
                let grads = try pass.gradients(grad)
                if let clip = task.gradientClipNorm { try Self.clip(grads, trainable: net.trainable, to: Float(clip), backend: backend) }
                try optimizer.step(parameters: net.parameters, gradients: grads, backend: backend)
                let m = try batch.metrics(output: pass.output, losses: losses, backend: backend)
                guard m.loss.isFinite else {
                    throw TrainingError.diverged(
                        epoch: epoch, batch: batchNumber, what: "the loss is \(m.loss)", learningRate: rate,
                        gradientClip: task.gradientClipNorm)
                }
                lossSum += m.loss
                correct += m.correct
            }
            let seconds = Date().timeIntervalSince(epochStart)
            var vLoss: Double?, vAcc: Double?
            if let validation {
                (vLoss, vAcc) = try evaluate(net, data: validation, loss: task.loss, batchSize: max(batchSize, 256), options: options)
            }
            var m = EpochMetrics(
                epoch: epoch, loss: lossSum / Double(train.rows),
                accuracy: task.loss == .cross_entropy ? correct / Double(train.rows) : nil,
                validationLoss: vLoss, validationAccuracy: vAcc, seconds: seconds,
                samplesPerSecond: Double(train.rows) / max(seconds, 1e-9))
            if let monitor {
                m.monitorAccuracy = try evaluate(net, data: monitor, loss: task.loss, batchSize: 512, options: LossOptions()).1
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
                try Net.checkFinite(exported, epoch: epoch, learningRate: rate, gradientClip: task.gradientClipNorm)
                let position = rng.position
                let c = TrainingCheckpoint(
                    seed: seed, algorithm: update.name, epoch: epoch, step: optimizer.steps, rngCounter: position.counter,
                    rngUsed: position.used, history: history, bestEpoch: stopper?.bestEpoch, bestLoss: stopper?.bestLoss,
                    sinceBest: stopper?.sinceBest ?? 0, model: Net.checkpointed(exported), bestModel: bestModel.map(Net.checkpointed),
                    optimizerState: try optimizer.state(backend: backend))
                if fileDue, let path = task.checkpointPath {
                    try c.save(path: path)
                    checkpoints += 1
                }
                recovery?.checkpoint = c
            }
            if stoppedEarly { break }
        }
        let final = try bestModel ?? net.export()
        try Net.checkFinite(final, epoch: history.last?.epoch ?? 0, learningRate: rate, gradientClip: task.gradientClipNorm)
        var result = LoopResult(model: final, epochs: history, seconds: Date().timeIntervalSince(start))
        result.bestEpoch = bestModel != nil ? stopper?.bestEpoch : nil
        result.stoppedEarly = stoppedEarly
        result.checkpointsWritten = checkpoints
        result.resumedFromEpoch = resumed.map(\.0.epoch)
        result.samplesTrained = train.rows * epochsRun
        return result
    }

    /// Loss and (for classification) accuracy over a whole data set, in batches, training off.
    static func evaluate<Net: TrainableNetwork>(
        _ net: Net, data: Dataset, loss: LossKind, batchSize: Int, options: LossOptions
    ) throws -> (Double, Double?) {
        var lossSum = 0.0, correct = 0.0, offset = 0
        while offset < data.rows {
            let idx = Array(offset..<min(offset + batchSize, data.rows))
            offset += idx.count
            let batch = try Batch(data, rows: idx, backend: net.backend, loss: loss, outputs: net.outputCount, options: options)
            let out = try net.outputs(batch.x, rows: idx.count)
            let (losses, _) = try batch.loss(out, backend: net.backend)
            let m = try batch.metrics(output: out, losses: losses, backend: net.backend)
            guard !m.loss.isNaN else {
                throw MLError("evaluation: the loss over \(data.source) is NaN (the model's weights are not finite numbers)", kind: .script)
            }
            lossSum += m.loss
            correct += m.correct
        }
        return (lossSum / Double(max(data.rows, 1)), loss == .cross_entropy ? correct / Double(max(data.rows, 1)) : nil)
    }

    /// Scales the trainable gradients so their global L2 norm is at most `limit` (one read of
    /// the norm per step, so clipping costs a device round trip).
    static func clip(_ grads: [Tensor?], trainable: [Bool], to limit: Float, backend: Backend) throws {
        let tensors = grads.enumerated().compactMap { i, g in trainable[i] ? g : nil }
        var squares: Float = 0
        for t in tensors { squares += try backend.sumOfSquares(t) }
        let norm = squares.squareRoot()
        guard norm > limit, norm.isFinite else { return }
        for t in tensors { try backend.scale(t, limit / norm) }
    }
}
