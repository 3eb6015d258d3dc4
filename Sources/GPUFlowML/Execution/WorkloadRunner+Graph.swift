import Foundation
import GPUFlowCompute
import GPUFlowCore

/// Training and inference tasks on graph models (`nn.sequential`): the tape trains them, the
/// runner serves them, and their results have the shape of the MLP tasks' (model, metrics,
/// history; predictions, latency, accuracy).
extension WorkloadRunner {
    static func graphTraining(
        _ t: TrainingTask, graph: GraphNetwork, data: Dataset, backend: Backend, seed: UInt64, cancel: CancellationToken,
        onEpoch: ((EpochMetrics) -> Void)?, recovery: TrainingRecovery? = nil
    ) throws -> TaskValue {
        let r = try GraphTrainer.train(
            graph.graph, data: data, task: t, backend: backend, seed: seed, cancel: cancel, onEpoch: onEpoch, recovery: recovery)
        var run = TrainedRun(
            epochs: r.epochs, seconds: r.seconds, samplesTrained: r.samplesTrained, bestEpoch: r.bestEpoch, stoppedEarly: r.stoppedEarly,
            checkpointsWritten: r.checkpointsWritten, resumedFromEpoch: r.resumedFromEpoch)
        if !r.frozenLayers.isEmpty { run.frozen = .array(r.frozenLayers.map { .string($0) }) }
        if case .transfer = t.algorithm { run.baseModel = graph.objectID }
        return trainingValue(t, model: GraphNetwork(r.model), parameters: graph.parameterCount, run: run, data: data, backend: backend)
    }

    static func graphInference(_ t: InferenceTask, graph: GraphNetwork, data: Dataset, backend: Backend, cancel: CancellationToken) throws
        -> TaskValue
    {
        guard t.stream == nil else {
            throw DataError("inference: streams of requests serve MLP models so far; a graph model serves batches")
        }
        let runner = try GraphRunner(graph.graph, on: backend)
        let outputs = graph.outputs
        var predictions: [Float] = [], latencies: [Double] = []
        let start = Date()
        var offset = 0
        while offset < data.rows {
            try cancel.check()
            let n = min(t.batchSize, data.rows - offset)
            let rows = Array(data.features[(offset * data.cols)..<((offset + n) * data.cols)])
            let t0 = Date()
            let out = try backend.read(try runner.predict(try backend.tensor(rows, shape: [n, data.cols])))
            latencies.append(Date().timeIntervalSince(t0) * 1000)
            for r in 0..<n {
                let row = out[(r * outputs)..<((r + 1) * outputs)]
                predictions.append(
                    outputs == 1 ? row[row.startIndex] : Float(row.indices.max { row[$0] < row[$1] }.map { $0 - row.startIndex } ?? 0))
            }
            offset += n
        }
        let seconds = Date().timeIntervalSince(start)
        let sorted = latencies.sorted()
        func pct(_ p: Double) -> Double {
            sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int((p * Double(sorted.count)).rounded(.up)) - 1)]
        }
        var fields: [(String, TaskValue)] = [
            ("mode", .string("batch")), ("predictions", .floats(predictions)), ("rows", .integer(data.rows)),
            ("batch_size", .integer(t.batchSize)),
            ("batches", .integer(latencies.count)),
            (
                "latency_ms",
                .table([
                    ("p50", .number(pct(0.5))), ("p95", .number(pct(0.95))), ("p99", .number(pct(0.99))),
                    ("max", .number(sorted.last ?? 0)),
                ])
            ),
            ("throughput_per_sec", .number(Double(data.rows) / max(seconds, 1e-9))), ("seconds", .number(seconds)),
        ]
        if outputs > 1, data.classCount != nil {
            fields.append(("accuracy", .number(Double(zip(predictions, data.labels).filter { $0 == $1 }.count) / Double(data.rows))))
        }
        fields += [
            ("batch_size_source", .string(t.batchSizeSource)), ("backend", .string(backend.name)), ("device", deviceReport(backend)),
        ]
        return .table(fields)
    }
}
