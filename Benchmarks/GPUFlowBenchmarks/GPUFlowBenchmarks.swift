// Microbenchmarks of gpuflow's Swift code with the ordo-one `benchmark` package:
//   swift package --allow-writing-to-package-directory benchmark --format markdown
// scripts/bench runs them and its suite puts each pair side by side in BENCHMARKS.md. Every
// pair below is a change the suite led to measured against what it replaced, in one process:
// fused bias+activation against the two separate kernels, and the orchestrator's enqueue (no
// round trip to the actor per task) against submit. Time, throughput and mallocs per iteration
// are the package's own measurements.
import Benchmark
import Foundation
import GPUFlowCompute
import GPUFlowCore
import GPUFlowML

/// Seeded inputs, so every run measures the same work.
private func uniforms(_ n: Int, seed: UInt64) -> [Float] {
    var r = Philox(seed: seed)
    return (0..<n).map { _ in r.uniform() - 0.5 }
}

private let rows = 1024, cols = 128

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput, .mallocCountTotal], maxDuration: .seconds(2))

    // A dense layer's bias and activation (the MLP's 1,024-row batch through its 128-wide layer).
    Benchmark("SIMD bias+relu fused, 1024x128") { benchmark in
        let b = SIMDBackend()
        let x = try b.tensor(uniforms(rows * cols, seed: 1), shape: [rows, cols])
        let bias = try b.tensor(uniforms(cols, seed: 2), shape: [cols]), y = try b.zeros(shape: [rows, cols])
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { try b.biasActivation(.relu, x, bias, y, rows: rows, cols: cols) }
    }
    Benchmark("SIMD bias+relu separate, 1024x128") { benchmark in
        let b = SIMDBackend()
        let x = try b.tensor(uniforms(rows * cols, seed: 1), shape: [rows, cols])
        let bias = try b.tensor(uniforms(cols, seed: 2), shape: [cols]), y = try b.zeros(shape: [rows, cols])
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            try b.addBias(x, bias, rows: rows, cols: cols)
            try b.activation(.relu, x, y)
        }
    }

    Benchmark("SIMD GEMM 256x256x256") { benchmark in
        let b = SIMDBackend()
        let a = try b.tensor(uniforms(256 * 256, seed: 3), shape: [256, 256])
        let w = try b.tensor(uniforms(256 * 256, seed: 4), shape: [256, 256]), c = try b.zeros(shape: [256, 256])
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            try b.gemm(a, w, c, m: 256, n: 256, k: 256, transA: false, transB: false, alpha: 1, beta: 0)
        }
    }

    // 1,000 no-op tasks queued from a plain thread (as the Lua host submits), then all awaited:
    // one iteration is the whole thousand. enqueue hands out ids at once; the peer is what
    // gpu.submit did before, a blocking round trip to the actor per task.
    let noop: @Sendable (Int) -> TaskSpec = { i in TaskSpec(name: "noop", kind: .plain) { _ in .integer(i) } }
    func orchestrator() -> GPUTaskOrchestrator {
        var p = Profile()
        p.learning.enabled = false
        return GPUTaskOrchestrator(configuration: .init(profile: p))
    }
    func blocking<T: Sendable>(_ op: @escaping @Sendable () async throws -> T) throws -> T {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: Result<T, Error>?
        Task.detached {
            do { result = .success(try await op()) } catch { result = .failure(error) }
            done.signal()
        }
        done.wait()
        guard let result else { throw CancellationError() }
        return try result.get()
    }
    Benchmark("orchestrator enqueue 1000 no-op tasks from a thread") { benchmark in
        for _ in benchmark.scaledIterations {
            let o = orchestrator(), ended = DispatchSemaphore(value: 0)
            for i in 0..<1000 { _ = try o.enqueue(noop(i)) { _, _ in ended.signal() } }
            for _ in 0..<1000 { ended.wait() }
        }
    }
    Benchmark("orchestrator blocking submit 1000 no-op tasks from a thread") { benchmark in
        for _ in benchmark.scaledIterations {
            let o = orchestrator()
            let ids = try (0..<1000).map { i in try blocking { try await o.submit(noop(i)) } }
            _ = try blocking { for id in ids { _ = await o.wait(id) } }
        }
    }

    // Percentiles of an inference run's batch latencies (an HdrHistogram per report).
    Benchmark("latency summary of 10000 samples") { benchmark in
        let samples = uniforms(10_000, seed: 5).map { Double($0 + 0.5) * 2 }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(LatencySummary(samples: samples)) }
    }
}
