import GPUFlowCompute
import GPUFlowCore

/// What a training task reports, whichever trainer ran it and whichever kind of model it trained.
struct TrainedRun {
    var epochs: [EpochMetrics]
    var seconds: Double
    /// nil: every row of the data set, every epoch.
    var samplesTrained: Int?
    var bestEpoch: Int?
    var stoppedEarly = false
    var checkpointsWritten = 0
    var resumedFromEpoch: Int?
    /// The layers left untouched: 1-based indices (an MLP's) or names (a graph's).
    var frozen: TaskValue?
    /// A transfer task's base model.
    var baseModel: String?
}

extension TrainedRun {
    init(_ r: TrainingResult) {
        self.init(
            epochs: r.epochs, seconds: r.seconds, samplesTrained: r.samplesTrained, bestEpoch: r.bestEpoch, stoppedEarly: r.stoppedEarly,
            checkpointsWritten: r.checkpointsWritten, resumedFromEpoch: r.resumedFromEpoch)
    }
}

extension WorkloadRunner {
    /// The training result table: model, metrics (the last epoch's, and what the run did),
    /// history (per epoch), backend, device and the declared-versus-measured usage.
    static func trainingValue(
        _ t: TrainingTask, model: any TaskObject, parameters: Int, run: TrainedRun, data: Dataset, backend: Backend
    ) -> TaskValue {
        let model = withSchema(model, data: data, loss: t.loss)
        let last = run.epochs.last
        let samples = run.samplesTrained ?? data.rows * run.epochs.count
        var metrics: [(String, TaskValue)] = [
            ("loss", .number(last?.loss ?? .nan)),
            ("seconds", .number(run.seconds)),
            ("samples_per_sec", .number(Double(samples) / max(run.seconds, 1e-9))),
            ("epochs", .integer(run.epochs.count)),
        ]
        if let a = last?.accuracy { metrics.append(("accuracy", .number(a))) }
        if let v = last?.validationLoss { metrics.append(("validation_loss", .number(v))) }
        if let v = last?.validationAccuracy { metrics.append(("validation_accuracy", .number(v))) }
        if let est = t.durationEstimate { metrics.append(("duration_estimate_s", .number(est))) }
        if let b = run.bestEpoch { metrics.append(("best_epoch", .integer(b))) }
        if t.checkpointEvery != nil { metrics.append(("checkpoints_written", .integer(run.checkpointsWritten))) }
        if let e = run.resumedFromEpoch { metrics.append(("resumed_from_epoch", .integer(e))) }
        if t.earlyStopping != nil { metrics.append(("stopped_early", .bool(run.stoppedEarly))) }
        if let f = run.frozen { metrics.append(("frozen_layers", f)) }
        if let b = run.baseModel { metrics.append(("base_model", .string(b))) }
        let history: [TaskValue] = run.epochs.map { e in
            var row: [(String, TaskValue)] = [
                ("epoch", .integer(e.epoch)), ("loss", .number(e.loss)),
                ("seconds", .number(e.seconds)), ("samples_per_sec", .number(e.samplesPerSecond)),
            ]
            if let a = e.accuracy { row.append(("accuracy", .number(a))) }
            if let v = e.validationLoss { row.append(("validation_loss", .number(v))) }
            if let v = e.validationAccuracy { row.append(("validation_accuracy", .number(v))) }
            return .table(row)
        }
        return .table([
            ("model", .object(model)), ("metrics", .table(metrics)), ("history", .array(history)),
            ("backend", .string(backend.name)), ("device", deviceReport(backend)),
            ("declared", DeclaredUsage.check(t, parameters: parameters, rows: data.rows, seconds: run.seconds, backend: backend)),
        ])
    }

    /// The trained model with what it was trained on (`ModelSchema`); a language model keeps
    /// its vocabulary instead.
    static func withSchema(_ model: any TaskObject, data: Dataset, loss: LossKind) -> any TaskObject {
        guard data.vocabulary == nil else { return model }
        let schema = ModelSchema(data: data, loss: loss)
        if let m = model as? MLPModel { return m.with(schema: schema) }
        if let g = model as? GraphNetwork, !g.graph.isSequenceModel {
            var graph = g.graph
            graph.schema = schema
            return GraphNetwork(graph)
        }
        return model
    }
}
