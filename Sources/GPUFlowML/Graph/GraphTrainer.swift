import Foundation
import GPUFlowCompute
import GPUFlowCore

/// Mini-batch training of a `GraphModel`: the training loop with the forward pass on a tape
/// and every parameter's gradient from the tape's rules. No value comes back to the host
/// inside a step but the loss, read once per batch.
public enum GraphTrainer {
    public struct Result: Sendable {
        public let model: GraphModel
        public var epochs: [EpochMetrics] = []
        /// Mean loss per epoch.
        public var losses: [Double] { epochs.map(\.loss) }
        /// The last epoch's training accuracy (classification).
        public var accuracy: Double? { epochs.last?.accuracy }
        public var seconds: Double = 0
        /// With early stopping's restore_best: the epoch whose weights the model holds.
        public var bestEpoch: Int?
        public var stoppedEarly = false
        /// Rows trained on, over every epoch run (the validation rows excluded).
        public var samplesTrained = 0
        public var checkpointsWritten = 0
        /// The epoch a resumed run started after.
        public var resumedFromEpoch: Int?
        /// The layers training left untouched, in the model's order.
        public var frozenLayers: [String] = []
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

    /// A language model trains on text whose vocabulary is the one it was trained with (if
    /// any), and text only trains a model that predicts a token at every position.
    static func checkText(_ model: GraphModel, data: Dataset, context: String) throws {
        let shape = try model.outputShape(rows: 1)
        guard let v = data.vocabulary else {
            if model.isSequenceModel {
                throw MLError(
                    "\(context): the model predicts the next token at every position; data set \(data.source) is not text (use data.text)")
            }
            return
        }
        guard model.isSequenceModel, shape.count == 3, shape[1] == data.positions else {
            throw MLError(
                "\(context): data set \(data.source) is text with \(data.positions ?? 0) positions per sample; the model's output has shape \(shape.dropFirst()), not [\(data.positions ?? 0), \(v.count)] (a language model ends with a linear layer to the tokens, without nn.flatten)"
            )
        }
        // The token table must have a row for every token of the text.
        if let g = model.nodes.first(where: { $0.op == .gather && $0.inputs.count == 2 && $0.inputs[1] == .input }),
            case .parameter(let name) = g.inputs[0], let table = model.parameters.first(where: { $0.name == name }),
            let rows = table.shape.first, rows < v.count
        {
            throw MLError(
                "\(context): layer \(table.layer) embeds \(rows) tokens; data set \(data.source) has \(v.count) (leave tokens out to take the data set's vocabulary)"
            )
        }
        if let mine = model.vocabulary, mine != v {
            throw MLError(
                "\(context): the model was trained on a \(mine.level.rawValue)-level vocabulary of \(mine.count) tokens; data set \(data.source) has another (\(v.level.rawValue), \(v.count) tokens)"
            )
        }
    }

    /// Trains as `task` says: epochs, batch size, algorithm, loss and its options, schedule and
    /// warm-up, frozen layers (named, or a transfer task's strategy over the layers that have
    /// parameters), gradient clipping, validation split, early stopping, checkpoints, resume and
    /// recovery — the training loop the MLP trains with.
    public static func train(
        _ model: GraphModel, data: Dataset, task: TrainingTask, backend: Backend, seed: UInt64,
        cancel: CancellationToken? = nil, onEpoch: ((EpochMetrics) -> Void)? = nil, recovery: TrainingRecovery? = nil
    ) throws -> Result {
        guard model.inputShape == data.sampleShape else {
            throw MLError(
                "training: the model takes samples of shape \(model.inputShape), data set \(data.source)'s are \(data.sampleShape)")
        }
        try Validation.check(
            inputs: data.cols, outputs: try GraphTraining.outputWidth(model), data: data, loss: task.loss, context: "training")
        try Self.checkText(model, data: data, context: "training")
        var model = model
        if model.vocabulary == nil { model.vocabulary = data.vocabulary }
        var seen = Set<String>()
        let layers = model.parameters.map(\.layer).filter { seen.insert($0).inserted }
        let (update, batchSize, trainable) = try Trainer.plan(task, layers: layers.count)
        // Layers named by `freeze` are the frozen ones; without it, a transfer task's strategy
        // (fine_tuning_layers, freezing_strategy) chooses.
        let frozen = task.frozenLayers.map { Set($0) } ?? Set(layers.indices.filter { !trainable[$0] }.map { layers[$0] })
        let r = try TrainingLoop.run(
            model: model, data: data, task: task, update: update, batchSize: batchSize, backend: backend, seed: seed, cancel: cancel,
            onEpoch: onEpoch, recovery: recovery,
            make: { try GraphTraining($0, on: backend, frozen: frozen, seed: seed) })
        var result = Result(model: r.model, epochs: r.epochs, seconds: r.seconds)
        result.bestEpoch = r.bestEpoch
        result.stoppedEarly = r.stoppedEarly
        result.samplesTrained = r.samplesTrained
        result.checkpointsWritten = r.checkpointsWritten
        result.resumedFromEpoch = r.resumedFromEpoch
        result.frozenLayers = layers.filter { frozen.contains($0) }
        return result
    }
}
