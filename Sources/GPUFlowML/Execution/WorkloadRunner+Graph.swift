import Foundation
import GPUFlowCompute
import GPUFlowCore

/// Training and inference tasks on graph models (`nn.sequential`): the tape trains them, the
/// runner serves them, and their results have the shape of the MLP tasks' (model, metrics,
/// history; predictions, latency, accuracy).
extension WorkloadRunner {
    static func graphTraining(
        _ t: TrainingTask, graph: GraphNetwork, data: Dataset, backend: Backend, seed: UInt64, cancel: CancellationToken,
        onEpoch: ((EpochMetrics) -> Void)?, recovery: TrainingRecovery? = nil, lift: Bool = false
    ) throws -> TaskValue {
        let r = try GraphTrainer.train(
            graph.graph, data: data, task: t, backend: backend, seed: seed, cancel: cancel, onEpoch: onEpoch, recovery: recovery)
        var run = TrainedRun(
            epochs: r.epochs, seconds: r.seconds, samplesTrained: r.samplesTrained, bestEpoch: r.bestEpoch, stoppedEarly: r.stoppedEarly,
            checkpointsWritten: r.checkpointsWritten, resumedFromEpoch: r.resumedFromEpoch)
        if !r.frozenLayers.isEmpty { run.frozen = .array(r.frozenLayers.map { .string($0) }) }
        if case .transfer = t.algorithm { run.baseModel = graph.objectID }
        var trained: any TaskObject = GraphNetwork(r.model)
        if lift, let mlp = MLPModel(graph: r.model) { trained = mlp }
        return trainingValue(t, model: trained, parameters: graph.parameterCount, run: run, data: data, backend: backend)
    }

    /// Evolution of a small graph: fitness from a data set's loss, or from an environment's return.
    static func graphEvolution(
        _ t: TrainingTask, _ e: Evolutionary, graph: GraphNetwork, inputs: TaskInputs, backend: Backend, seed: UInt64,
        cancel: CancellationToken
    ) throws -> TaskValue {
        if let env = inputs.environment {
            let r = try GraphEvolution.train(
                graph.graph, environment: env.make, config: e, generations: t.epochs, backend: backend, seed: seed, cancel: cancel)
            return evolutionValue(
                model: GraphNetwork(r.model), generations: r.epochs, seconds: r.seconds, environment: env, backend: backend)
        }
        guard let data = inputs.data else { throw MLError("training: data is required (or an environment, for evolution)") }
        let r = try GraphEvolution.train(
            graph.graph, data: data, config: e, generations: t.epochs, loss: t.loss, options: t.lossOptions ?? LossOptions(),
            backend: backend,
            seed: seed, cancel: cancel)
        let run = TrainedRun(epochs: r.epochs, seconds: r.seconds, samplesTrained: nil)
        return trainingValue(t, model: GraphNetwork(r.model), parameters: graph.parameterCount, run: run, data: data, backend: backend)
    }

    static func graphInference(
        _ t: InferenceTask, graph: GraphNetwork, data: Dataset, backend: Backend, seed: UInt64, cancel: CancellationToken
    )
        throws -> TaskValue
    {
        if graph.graph.isSequenceModel {
            guard t.stream == nil else { throw MLError("inference: a language model is served with a prompt, not a request stream") }
            let r = try TextGeneration.perplexity(graph.graph, data: data, batchSize: t.batchSize, backend: backend)
            return servedValue(
                t,
                fields: [
                    ("mode", .string("perplexity")), ("loss", .number(r.loss)), ("perplexity", .number(r.perplexity)),
                    ("accuracy", .number(r.accuracy)), ("rows", .integer(data.rows)),
                    ("tokens", .integer(data.rows * (data.positions ?? 1))),
                    ("seconds", .number(r.seconds)),
                    ("tokens_per_sec", .number(Double(data.rows * (data.positions ?? 1)) / max(r.seconds, 1e-9))),
                ], p99: 0, throughput: Double(data.rows) / max(r.seconds, 1e-9), backend: backend)
        }
        let data = try graph.graph.schema?.prepare(data) ?? data
        let runner = try GraphRunner(graph.graph, on: backend)
        if let s = t.stream {
            let r = try StreamingInference.run(
                backend: backend, serve: { x, _ in try runner.predict(x) }, data: data, batchSize: t.batchSize, requests: s.requests,
                arrivalRate: s.arrivalRate, maxWaitMS: (t.maxLatencyMS ?? 2) / 2, seed: seed, cancel: cancel)
            return servedValue(t, fields: streamFields(r), p99: r.latencyMS.p99, throughput: r.throughputPerSec, backend: backend)
        }
        let raw = data.targets != nil
        let r = try GraphInference.run(runner, data: data, batchSize: t.batchSize, raw: raw, cancel: cancel)
        var fields: [(String, TaskValue)] = [
            ("mode", .string("batch")), ("predictions", .floats(r.predictions)), ("prediction_width", .integer(raw ? graph.outputs : 1)),
            ("rows", .integer(r.rows)), ("batch_size", .integer(r.batchSize)), ("batches", .integer(r.batches)),
            ("latency_ms", latencyValue(r.latencyMS)), ("throughput_per_sec", .number(r.throughputPerSec)), ("seconds", .number(r.seconds)),
        ]
        if let a = r.accuracy { fields.append(("accuracy", .number(a))) }
        fields = merged(
            fields, PredictionFields.fields(outputs: r.outputs ?? [], width: graph.outputs, data: data, schema: graph.graph.schema))
        if let layer = t.layer {
            fields.append(
                (
                    "embeddings",
                    try layerOutputs(graph.graph, layer: layer, data: data, batchSize: t.batchSize, backend: backend, cancel: cancel)
                ))
        }
        return servedValue(t, fields: fields, p99: r.latencyMS.p99, throughput: r.throughputPerSec, backend: backend)
    }

    /// `gpu.inference{model = lm, prompt = ...}`: the text, its speed and per-token latency.
    static func textGeneration(
        _ t: InferenceTask, _ g: InferenceTask.GenerationSettings, graph: GraphNetwork, backend: Backend, seed: UInt64,
        cancel: CancellationToken
    ) throws -> TaskValue {
        let runner = try GraphRunner(graph.graph, on: backend)
        let r = try TextGeneration.generate(runner, settings: g, seed: seed, cancel: cancel)
        return servedValue(
            t,
            fields: [
                ("mode", .string("generation")), ("prompt", .text(g.bytes)), ("text", .text(r.bytes)),
                ("token_ids", .array(r.ids.map(TaskValue.integer))), ("tokens", .integer(r.tokens)),
                ("seconds", .number(r.seconds)), ("tokens_per_sec", .number(r.tokensPerSecond)), ("latency_ms", latencyValue(r.latencyMS)),
                ("seed", .integer(Int(truncatingIfNeeded: g.seed ?? seed))),
            ], p99: r.latencyMS.p99, throughput: r.tokensPerSecond, backend: backend)
    }
}
