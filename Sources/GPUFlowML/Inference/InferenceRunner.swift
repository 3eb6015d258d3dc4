import Foundation
import GPUFlowCompute
import GPUFlowCore

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
}

public struct LatencySummary: Sendable {
    public let mean: Double
    public let p50: Double
    public let p95: Double
    public let p99: Double
    public let max: Double

    /// Nearest-rank percentiles of the samples.
    public init(samples: [Double]) {
        let s = samples.sorted()
        func pct(_ p: Double) -> Double {
            guard !s.isEmpty else { return 0 }
            let rank = Int((p / 100 * Double(s.count)).rounded(.up))
            return s[Swift.max(0, Swift.min(s.count - 1, rank - 1))]
        }
        mean = s.isEmpty ? 0 : s.reduce(0, +) / Double(s.count)
        p50 = pct(50)
        p95 = pct(95)
        p99 = pct(99)
        max = s.last ?? 0
    }
}

public enum InferenceRunner {
    /// Runs `model` over every row of `data` in batches and measures each batch.
    public static func run(model: MLPModel, data: Dataset, batchSize: Int, backend: Backend,
                           cancel: CancellationToken = CancellationToken()) throws -> InferenceReport {
        guard data.cols == model.inputs else {
            throw DataError("inference: data set \(data.source) has \(data.cols) features but the model expects \(model.inputs) inputs")
        }
        guard batchSize > 0 else { throw DataError("inference: batch_size must be positive, got \(batchSize)") }
        let net = try NetworkOnBackend(model, on: backend)
        var latencies: [Double] = []
        var predictions: [Float] = []
        predictions.reserveCapacity(data.rows)
        let start = Date()
        var offset = 0
        while offset < data.rows {
            try cancel.check()
            let n = min(batchSize, data.rows - offset)
            let t0 = Date()
            let x = try backend.tensor(Array(data.features[(offset * data.cols)..<((offset + n) * data.cols)]), shape: [n, data.cols])
            let pass = try net.forward(x, rows: n)
            if model.outputs > 1 {
                let arg = try backend.zeros(shape: [n])
                try backend.rowArgmax(pass.output, rows: n, cols: model.outputs, arg)
                predictions += try backend.read(arg)
            } else {
                predictions += try backend.read(pass.output)
            }
            latencies.append(Date().timeIntervalSince(t0) * 1000)
            offset += n
        }
        let seconds = Date().timeIntervalSince(start)
        var accuracy: Double?
        if model.outputs > 1, data.classCount != nil {
            accuracy = Double(zip(predictions, data.labels).filter { $0 == $1 }.count) / Double(data.rows)
        }
        return InferenceReport(rows: data.rows, batchSize: batchSize, batches: latencies.count, predictions: predictions,
                               accuracy: accuracy, latencyMS: LatencySummary(samples: latencies),
                               throughputPerSec: Double(data.rows) / max(seconds, 1e-9), seconds: seconds,
                               tensorBytes: model.forwardTensorBytes(batch: min(batchSize, data.rows)), backend: backend.name)
    }
}
