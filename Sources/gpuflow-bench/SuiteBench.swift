import Foundation
import GPUFlowCompute
import GPUFlowCore
import GPUFlowML

/// The suite's gpuflow side of rows 1 and 3, one TSV line per measurement so scripts/bench can
/// alternate them with the peers' runs and take medians itself.
enum SuiteBench {
    /// GEMM C = A·B on a backend: one line per (m, n, k): m n k seconds (median of reps after a warm-up).
    static func gemm(_ kind: BackendKind, shapes: [(Int, Int, Int)], reps: Int) throws {
        let backend = try BackendSelector.make(kind).backend
        for (m, n, k) in shapes {
            var r = Philox(seed: UInt64(m * 31 + n * 7 + k))
            let a = (0..<(m * k)).map { _ in r.uniform() - 0.5 }, b = (0..<(k * n)).map { _ in r.uniform() - 0.5 }
            let ta = try backend.tensor(a, shape: [m, k]), tb = try backend.tensor(b, shape: [k, n]), tc = try backend.zeros(shape: [m, n])
            var times: [Double] = []
            for i in 0...reps {
                let t0 = now()
                try backend.gemm(ta, tb, tc, m: m, n: n, k: k, transA: false, transB: false, alpha: 1, beta: 0)
                if kind == .vulkan { _ = try backend.sum(tc) }  // waits for the device; the host backends are done on return
                if i > 0 { times.append(now() - t0) }
            }
            print("\(m)\t\(n)\t\(k)\t\(median(times))")
        }
    }

    /// Inference of an MLP 64-128-64-10 at each batch size over `rows` rows: batch, rows/s, p99 ms.
    static func infer(_ kind: BackendKind, batches: [Int], rows: Int) throws {
        let backend = try BackendSelector.make(kind).backend
        let data = try Generators.blobs(samples: rows, features: 64, centers: 10, seed: 3)
        let model = MLPModel(inputs: 64, hidden: [128, 64], outputs: 10, activation: .relu, seed: 1)
        for b in batches {
            _ = try InferenceRunner.run(model: model, data: data, batchSize: b, backend: backend)  // warm-up
            let r = try InferenceRunner.run(model: model, data: data, batchSize: b, backend: backend)
            print("\(b)\t\(r.throughputPerSec)\t\(r.latencyMS.p99)")
        }
    }
}
