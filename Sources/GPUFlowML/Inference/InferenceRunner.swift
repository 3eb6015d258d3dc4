import Foundation
import GPUFlowCompute
import GPUFlowCore
import Histogram

/// Measured figures of one inference run. Latency is per batch, host wall time from upload to
/// the predictions being back on the host.
public struct InferenceReport: Sendable {
    public let rows: Int
    public let batchSize: Int
    public let batches: Int
    public let predictions: [Float]
    public let accuracy: Double?
    public let latencyMS: LatencySummary
    public let throughputPerSec: Double
    public let seconds: Double
    public let tensorBytes: Int
    public let backend: String
    /// Every output of every row (rows × the model's outputs), for probabilities and metrics;
    /// nil for a language model, whose outputs are a distribution per position.
    public var outputs: [Float]? = nil
}

public struct LatencySummary: Sendable {
    public let mean: Double
    public let p50: Double
    public let p95: Double
    public let p99: Double
    public let max: Double
    /// Counts in 16 logarithmic buckets from the fastest to the slowest sample: (upper bound ms,
    /// count). With weights, a sample counts as many times as its weight: a batch's latency
    /// once per request (row) it answered, so the histogram shows what every request waited,
    /// not how many batches there were (four batches made a chart of four bars).
    public let histogram: [(upperMS: Double, count: Int)]

    /// Percentiles from an HdrHistogram of the samples (milliseconds, recorded in microseconds
    /// with three significant digits, so within 0.1 %); the mean and max are exact.
    public init(samples: [Double], weights: [Int]? = nil) {
        var h = Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
        for s in samples { _ = h.record(UInt64(Swift.max(0, (s * 1000).rounded()))) }
        func pct(_ p: Double) -> Double { samples.isEmpty ? 0 : Double(h.valueAtPercentile(p)) / 1000 }
        mean = samples.isEmpty ? 0 : samples.reduce(0, +) / Double(samples.count)
        p50 = pct(50)
        p95 = pct(95)
        p99 = pct(99)
        max = samples.max() ?? 0
        let lo = Swift.max(samples.min() ?? 0, 1e-6), hi = Swift.max(max, lo * 1.0001)
        let edges = (1...16).map { lo * pow(hi / lo, Double($0) / 16) }
        var counts = [Int](repeating: 0, count: 16)
        for (i, s) in samples.enumerated() {
            counts[edges.firstIndex { s <= $0 * (1 + 1e-12) } ?? 15] += weights.map { i < $0.count ? $0[i] : 1 } ?? 1
        }
        histogram = samples.isEmpty ? [] : zip(edges, counts).map { ($0, $1) }
    }
}

public enum InferenceRunner {
    /// Runs `model` over every row of `data` in batches and measures each batch.
    public static func run(
        model: MLPModel, data: Dataset, batchSize: Int, backend: Backend,
        cancel: CancellationToken = CancellationToken()
    ) throws -> InferenceReport {
        guard data.cols == model.inputs else {
            throw MLError("inference: data set \(data.source) has \(data.cols) features but the model expects \(model.inputs) inputs")
        }
        guard batchSize > 0 else { throw MLError("inference: batch_size must be positive, got \(batchSize)") }
        return try run(net: NetworkOnBackend(model, on: backend), model: model, data: data, batchSize: batchSize, cancel: cancel)
    }

    /// The same over a network already resident on its backend (the model cache's).
    static func run(
        net: NetworkOnBackend, model: MLPModel, data: Dataset, batchSize: Int,
        cancel: CancellationToken = CancellationToken()
    ) throws -> InferenceReport {
        let backend = net.backend
        var latencies: [Double] = [], rowsPerBatch: [Int] = []
        var predictions: [Float] = [], outputs: [Float] = []
        predictions.reserveCapacity(data.rows)
        outputs.reserveCapacity(data.rows * model.outputs)
        let start = Date()
        var offset = 0
        // Full batches share one set of buffers (input, activations, argmax); a short last batch
        // gets its own.
        let full = min(batchSize, data.rows)
        let workspace = try net.workspace(rows: full)
        let fullInput = try backend.zeros(shape: [full, data.cols]), fullArg = try backend.zeros(shape: [full])
        while offset < data.rows {
            try cancel.check()
            let n = min(batchSize, data.rows - offset)
            let t0 = Date()
            let values = Array(data.features[(offset * data.cols)..<((offset + n) * data.cols)])
            let x: Tensor
            if n == full {
                try backend.write(fullInput, values)
                x = fullInput
            } else {
                x = try backend.tensor(values, shape: [n, data.cols])
            }
            let pass = try net.forward(x, rows: n, workspace: workspace)
            outputs += try backend.read(pass.output).prefix(n * model.outputs)
            if model.outputs > 1 {
                let arg = try n == full ? fullArg : backend.zeros(shape: [n])
                try backend.rowArgmax(pass.output, rows: n, cols: model.outputs, arg)
                predictions += try backend.read(arg)
            } else {
                predictions += try backend.read(pass.output)
            }
            latencies.append(Date().timeIntervalSince(t0) * 1000)
            rowsPerBatch.append(n)
            offset += n
        }
        let seconds = Date().timeIntervalSince(start)
        var accuracy: Double?
        if model.outputs > 1, data.classCount != nil {
            accuracy = Double(zip(predictions, data.labels).filter { $0 == $1 }.count) / Double(data.rows)
        }
        return InferenceReport(
            rows: data.rows, batchSize: batchSize, batches: latencies.count, predictions: predictions,
            accuracy: accuracy, latencyMS: LatencySummary(samples: latencies, weights: rowsPerBatch),
            throughputPerSec: Double(data.rows) / max(seconds, 1e-9), seconds: seconds,
            tensorBytes: model.forwardTensorBytes(batch: min(batchSize, data.rows)), backend: backend.name,
            outputs: outputs)
    }
}
