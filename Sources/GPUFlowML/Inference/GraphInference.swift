import Foundation
import GPUFlowCompute
import GPUFlowCore

/// A graph model served over every row of a data set in batches, each batch measured: the
/// counterpart of `InferenceRunner` for graphs (inference tasks, optimization trials).
enum GraphInference {
    /// `raw`: every output as it is, row by row (several targets per row); otherwise a class
    /// (the largest output) or the one value per row.
    static func run(_ runner: GraphRunner, data: Dataset, batchSize: Int, raw: Bool = false, cancel: CancellationToken) throws
        -> InferenceReport
    {
        guard data.sampleShape == runner.model.inputShape else {
            throw MLError(
                "inference: data set \(data.source) has samples of shape \(data.sampleShape); the model takes \(runner.model.inputShape)")
        }
        guard batchSize > 0 else { throw MLError("inference: batch_size must be positive, got \(batchSize)") }
        let backend = runner.backend
        let outputs = try GraphTraining.outputWidth(runner.model)
        // A language model predicts at every position: a token per position, its accuracy
        // against the next tokens.
        let positions = runner.model.isSequenceModel ? try runner.model.outputShape(rows: 1)[1] : 1
        var predictions: [Float] = [], latencies: [Double] = [], all: [Float] = [], rowsPerBatch: [Int] = []
        let start = Date()
        var offset = 0
        while offset < data.rows {
            try cancel.check()
            let n = min(batchSize, data.rows - offset)
            let rows = Array(data.features[(offset * data.cols)..<((offset + n) * data.cols)])
            let t0 = Date()
            let out = try runner.predict(try backend.tensor(rows, shape: [n] + data.sampleShape))
            if positions == 1 {
                let values = try backend.read(out)
                all += values
                if raw || outputs == 1 {
                    predictions += values
                } else {  // the class: the first largest output, as the backends' argmax takes it
                    for r in 0..<n {
                        var best = 0
                        for c in 1..<outputs where values[r * outputs + c] > values[r * outputs + best] { best = c }
                        predictions.append(Float(best))
                    }
                }
            } else {  // the class: the backend's argmax, as the MLP's inference takes it
                let arg = try backend.zeros(shape: [n * positions])
                try backend.rowArgmax(out.view(shape: [n * positions, outputs]), rows: n * positions, cols: outputs, arg)
                predictions += try backend.read(arg)
            }
            latencies.append(Date().timeIntervalSince(t0) * 1000)
            rowsPerBatch.append(n)
            offset += n
        }
        let seconds = Date().timeIntervalSince(start)
        var accuracy: Double?
        if positions > 1, let targets = data.targets, data.vocabulary != nil {
            accuracy = Double(zip(predictions, targets).filter { $0 == $1 }.count) / Double(max(targets.count, 1))
        } else if outputs > 1, !raw, data.classCount != nil {
            accuracy = Double(zip(predictions, data.labels).filter { $0 == $1 }.count) / Double(data.rows)
        }
        // The weights and, per batch, the input and the output: what the tensor meter would see
        // at the least (it measures the activations too where the backend counts its tensors).
        let batch = min(batchSize, data.rows)
        let bytes = 4 * (runner.model.parameterCount + batch * (data.cols + outputs * positions))
        return InferenceReport(
            rows: data.rows, batchSize: batchSize, batches: latencies.count, predictions: predictions, accuracy: accuracy,
            latencyMS: LatencySummary(samples: latencies, weights: rowsPerBatch), throughputPerSec: Double(data.rows) / max(seconds, 1e-9),
            seconds: seconds,
            tensorBytes: bytes, backend: backend.name, outputs: positions == 1 ? all : nil)
    }
}
