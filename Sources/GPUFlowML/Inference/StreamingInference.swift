import Foundation
import GPUFlowCompute
import GPUFlowCore

/// What serving a stream of requests measured.
public struct StreamReport: Sendable {
    public let requests: Int
    public let batches: Int
    public let meanBatchSize: Double
    /// Arrival to answer, per request.
    public let latencyMS: LatencySummary
    public let throughputPerSec: Double
    public let seconds: Double
}

/// Requests arrive one row at a time (a seeded Poisson process at `arrivalRate` per second, in
/// real time) and a dynamic batcher serves them: a batch goes when it holds `batchSize`
/// requests, or when its oldest request has waited `maxWaitMS` — half the latency budget, so
/// the other half is left for the computation. Every latency is measured, none simulated.
enum StreamingInference {
    /// `serve` computes a batch's outputs ([rows] + sample shape in) on `backend`, whichever
    /// kind of model it is.
    static func run(
        net: NetworkOnBackend, data: Dataset, batchSize: Int, requests: Int, arrivalRate: Double, maxWaitMS: Double,
        seed: UInt64, cancel: CancellationToken
    ) throws -> StreamReport {
        try run(
            backend: net.backend, serve: { x, n in try net.forward(x, rows: n).output }, data: data, batchSize: batchSize,
            requests: requests, arrivalRate: arrivalRate, maxWaitMS: maxWaitMS, seed: seed, cancel: cancel)
    }

    static func run(
        backend: Backend, serve: (Tensor, Int) throws -> Tensor, data: Dataset, batchSize: Int, requests: Int,
        arrivalRate: Double, maxWaitMS: Double, seed: UInt64, cancel: CancellationToken
    ) throws -> StreamReport {
        guard requests > 0, arrivalRate > 0 else { throw MLError("inference: requests and arrival_rate must be positive") }
        guard data.rows > 0 else { throw DataError(file: data.source, "inference: the data set has no rows to serve") }
        var rng = Philox(seed: seed ^ 0x57AE)
        var arrivals: [Double] = []  // seconds after the start
        var t = 0.0
        for _ in 0..<requests {
            t += -log(Double(max(rng.uniform(), 1e-7))) / arrivalRate
            arrivals.append(t)
        }
        let start = DispatchTime.now().uptimeNanoseconds
        func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        var next = 0  // first request not yet arrived
        var queue: [Int] = []  // arrived, waiting
        var latencies: [Double] = []
        var batches = 0
        let maxWait = maxWaitMS / 1000
        while latencies.count < requests {
            try cancel.check()
            let clock = now()
            while next < requests, arrivals[next] <= clock { queue.append(next); next += 1 }
            guard let oldest = queue.first else {
                Thread.sleep(forTimeInterval: max(0, arrivals[next] - clock))
                continue
            }
            let deadline = arrivals[oldest] + maxWait
            if queue.count >= batchSize || clock >= deadline || next == requests {
                let take = Array(queue.prefix(batchSize))
                queue.removeFirst(take.count)
                var xs: [Float] = []
                xs.reserveCapacity(take.count * data.cols)
                for r in take { xs.append(contentsOf: data.row(r % data.rows)) }
                _ = try backend.read(try serve(try backend.tensor(xs, shape: [take.count] + data.sampleShape), take.count))
                let done = now()
                for r in take { latencies.append((done - arrivals[r]) * 1000) }
                batches += 1
            } else {
                let wake = next < requests ? min(deadline, arrivals[next]) : deadline
                Thread.sleep(forTimeInterval: max(0, wake - clock))
            }
        }
        let seconds = now()
        return StreamReport(
            requests: requests, batches: batches, meanBatchSize: Double(requests) / Double(max(batches, 1)),
            latencyMS: LatencySummary(samples: latencies), throughputPerSec: Double(requests) / max(seconds, 1e-9),
            seconds: seconds)
    }
}
