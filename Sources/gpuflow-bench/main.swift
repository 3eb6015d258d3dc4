// gpuflow-bench — measurements that are not tests (scripts/bench runs it in release mode).
//   gpuflow-bench gemm [N ...]     GFLOP/s of square GEMM on the Vulkan and CPU backends
//   gpuflow-bench pool-trace       the memory pool vs one allocation per request, on the
//                                  allocation trace of a real training run on Vulkan
//   gpuflow-bench parity           every kernel against the CPU reference on this device
//   gpuflow-bench conv [REPS] [BACKEND ...]  direct convolution vs im2col + GEMM per backend
// Figures are medians of repeated runs; every number printed was measured in this run.
import Foundation
import GPUFlowCompute
import GPUFlowCore
import GPUFlowML
import Logging

HostMemory.keepFreedPages()

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.isEmpty ? .nan : (s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2)
}

func pad(_ s: String, _ w: Int) -> String { String(repeating: " ", count: max(0, w - s.count)) + s }

/// `tsv`: one machine-readable line per size (n, wall s, kernel s, cpu s, max |Δ|) for scripts/bench.
func gemmBenchmark(sizes: [Int], tsv: Bool) throws {
    let context = try VulkanContext.shared()
    if !tsv {
        print(
            "# GEMM C = A·B, float32, square; device: \(context.info.name) (\(context.info.type)); median of timed runs after one warm-up")
        print(
            [pad("n", 6), pad("vulkan wall", 16), pad("vulkan kernel", 16), pad("cpu reference", 16), pad("max |Δ|", 9)].joined(
                separator: " "))
    }
    for n in sizes {
        var r = Philox(seed: UInt64(n))
        let a = (0..<(n * n)).map { _ in r.uniform() - 0.5 }, b = (0..<(n * n)).map { _ in r.uniform() - 0.5 }
        let flops = 2.0 * Double(n) * Double(n) * Double(n)
        let v = try VulkanBackend(context: context)
        let ta = try v.tensor(a, shape: [n, n]), tb = try v.tensor(b, shape: [n, n]), tc = try v.zeros(shape: [n, n])
        var wall: [Double] = []
        let reps = n <= 256 ? 5 : 3
        for i in 0...reps {
            let t0 = now()
            try v.gemm(ta, tb, tc, m: n, n: n, k: n, transA: false, transB: false, alpha: 1, beta: 0)
            _ = try v.sum(tc)  // forces the submission and waits
            if i > 0 { wall.append(now() - t0) }
        }
        let kernel = v.kernelTimings.first { $0.kernel == "gemm" }.map { $0.totalNS / Double($0.dispatches) / 1e9 }
        var cpuSeconds = Double.nan
        var maxDiff = Double.nan
        if n <= 512 {  // the reference loops are O(n³) in plain Swift: keep them short
            let cpu = CPUBackend()
            let ca = try cpu.tensor(a, shape: [n, n]), cb = try cpu.tensor(b, shape: [n, n]), cc = try cpu.zeros(shape: [n, n])
            let t0 = now()
            try cpu.gemm(ca, cb, cc, m: n, n: n, k: n, transA: false, transB: false, alpha: 1, beta: 0)
            cpuSeconds = now() - t0
            maxDiff = Double(zip(try v.read(tc), try cpu.read(cc)).map { abs($0 - $1) }.max() ?? 0)
        }
        if tsv {
            print(
                [String(n), String(median(wall)), kernel.map { String($0) } ?? "nan", String(cpuSeconds), String(maxDiff)]
                    .joined(separator: "\t"))
            continue
        }
        func gf(_ s: Double?) -> String { s.map { $0.isNaN ? "-" : String(format: "%.2f GFLOP/s", flops / $0 / 1e9) } ?? "unavailable" }
        print(
            [
                pad(String(n), 6), pad(gf(median(wall)), 16), pad(gf(kernel), 16), pad(gf(cpuSeconds), 16),
                pad(maxDiff.isNaN ? "-" : String(format: "%.1e", maxDiff), 9),
            ].joined(separator: " "))
    }
}

/// Replays a pool trace as one driver allocation per request: how many allocations, and the
/// peaks of bytes requested and of bytes such allocations (the driver's rounded sizes) would hold.
func replayPerRequest(_ trace: [PoolTraceEvent]) -> (allocations: Int, peakRequested: Int, peakPerRequest: Int) {
    var live: [Int: PoolTraceEvent] = [:]
    var requested = 0, perRequest = 0, peakRequested = 0, peakPerRequest = 0, allocations = 0
    for e in trace {
        if e.allocate {
            live[e.id] = e
            requested += e.requested
            perRequest += e.size
            allocations += 1
        } else if let a = live.removeValue(forKey: e.id) {
            requested -= a.requested
            perRequest -= a.size
        }
        peakRequested = max(peakRequested, requested)
        peakPerRequest = max(peakPerRequest, perRequest)
    }
    return (allocations, peakRequested, peakPerRequest)
}

func poolTrace() throws {
    let context = try VulkanContext(preference: .any)  // a fresh pool, so its statistics are this run's
    let data = try Generators.blobs(samples: 2048, features: 32, centers: 10, seed: 1)
    let model = MLPModel(inputs: 32, hidden: [128, 64], outputs: 10, activation: .relu, seed: 1)
    context.pool.recordTrace(true)
    let backend = try VulkanBackend(context: context)
    _ = try Trainer.train(
        model: model, data: data,
        task: TrainingTask(algorithm: .adam(Adam()), epochs: 3, batchSize: 64), backend: backend, seed: 1)
    let stats = context.pool.statistics()
    let trace = context.pool.recordTrace(false)
    let (allocations, peakRequested, peakPerRequest) = replayPerRequest(trace)
    print(
        "# memory on the allocation trace of a real training run (MLP 32-128-64-10, Adam, batch 64, 3 epochs, 2048 rows) on \(context.info.name)"
    )
    print("allocations in the trace:            \(allocations)")
    print("peak bytes requested:                \(peakRequested)")
    print(
        String(
            format:
                "one allocation per request: peak %d bytes held, %.3f× requested, %d vkAllocateMemory calls (modeled: the trace replayed, each request its own allocation of its aligned size)",
            peakPerRequest, Double(peakPerRequest) / Double(max(peakRequested, 1)), allocations))
    print(
        String(
            format: "tiered pool:                peak %d bytes held, %.3f× requested, %d vkAllocateMemory calls (%d blocks)",
            stats.peakReservedBytes, Double(stats.peakReservedBytes) / Double(max(peakRequested, 1)), stats.driverAllocations,
            stats.blocks))
    for t in stats.tiers where t.blocks > 0 { print("  tier \(t.name): \(t.blocks) blocks, \(t.reservedBytes) bytes") }
}

let args = Array(CommandLine.arguments.dropFirst())
do {
    switch args.first {
    case "gemm":
        let sizes = args.dropFirst().compactMap { Int($0) }
        try gemmBenchmark(sizes: sizes.isEmpty ? [128, 256, 512, 1024] : sizes, tsv: args.contains("--tsv"))
    case "pool-trace":
        try poolTrace()
    case "mlp":
        // gpuflow-bench mlp DIR EPOCHS cpu|vulkan: the MLP benchmark on DIR/{x,y}_{train,test}.npy
        // (scripts/peers/mlp_peers.py prepare DIR). Prints "epoch train_seconds test_accuracy".
        guard args.count >= 4, let epochs = Int(args[2]), let kind = BackendKind(rawValue: args[3]) else {
            FileHandle.standardError.write(Data("usage: gpuflow-bench mlp DIR EPOCHS cpu|vulkan\n".utf8))
            exit(2)
        }
        let dir = args[1]
        func load(_ x: String, _ y: String) throws -> Dataset {
            try BinaryLoaders.dataset(
                features: BinaryLoaders.npy(path: "\(dir)/\(x).npy"), labels: BinaryLoaders.npy(path: "\(dir)/\(y).npy"),
                source: x)
        }
        let train = try load("x_train", "y_train"), test = try load("x_test", "y_test")
        let model = MLPModel(inputs: 64, hidden: [128, 64], outputs: 10, activation: .relu, seed: 0)
        let backend = try BackendSelector.make(kind).backend
        _ = try Trainer.train(
            model: model, data: train, task: TrainingTask(algorithm: .adam(Adam(learningRate: 1e-3)), epochs: epochs, batchSize: 64),
            backend: backend, seed: 0, monitor: test
        ) { e in
            print(e.epoch, String(format: "%.6f", e.seconds), String(format: "%.6f", e.monitorAccuracy ?? 0))
        }
    case "graph-mlp":
        // gpuflow-bench graph-mlp EPOCHS cpu|simd|vulkan [ROUNDS]: the suite's MLP (64-128-64-10,
        // Adam, batch 64, 1,437 rows) trained by the fixed pipeline and as a graph through the
        // tape, alternating; prints each round's seconds and the median ratio graph / fixed.
        guard args.count >= 3, let epochs = Int(args[1]), let kind = BackendKind(rawValue: args[2]) else {
            FileHandle.standardError.write(Data("usage: gpuflow-bench graph-mlp EPOCHS cpu|simd|vulkan [ROUNDS]\n".utf8))
            exit(2)
        }
        let rounds = args.count > 3 ? Int(args[3]) ?? 5 : 5
        let data = try Generators.blobs(samples: 1437, features: 64, centers: 10, seed: 1)
        let model = MLPModel(inputs: 64, hidden: [128, 64], outputs: 10, activation: .relu, seed: 0)
        let graph = try GraphModel(mlp: model)
        var fixedTimes: [Double] = [], graphTimes: [Double] = []
        for _ in 0..<rounds {
            let backend = try BackendSelector.make(kind).backend
            var t0 = Date()
            _ = try Trainer.train(
                model: model, data: data, task: TrainingTask(algorithm: .adam(Adam(learningRate: 1e-3)), epochs: epochs, batchSize: 64),
                backend: backend, seed: 0)
            fixedTimes.append(Date().timeIntervalSince(t0))
            t0 = Date()
            _ = try GraphTrainer.train(
                graph, data: data, epochs: epochs, batchSize: 64, algorithm: .adam(Adam(learningRate: 1e-3)), backend: backend, seed: 0)
            graphTimes.append(Date().timeIntervalSince(t0))
            print(String(format: "fixed %.4f s\tgraph %.4f s", fixedTimes.last ?? 0, graphTimes.last ?? 0))
        }
        let ratios = zip(graphTimes, fixedTimes).map { $0 / $1 }.sorted()
        print(
            String(format: "median graph / fixed: %.3f (min %.3f, max %.3f)", ratios[ratios.count / 2], ratios.first ?? 0, ratios.last ?? 0)
        )
    case "cartpole":
        // CartPole with each policy type: episodes until the 100-episode average reaches 195.
        let kinds = args.dropFirst().compactMap { PolicyType(rawValue: $0) }
        for kind in kinds.isEmpty ? [PolicyType.policy_gradient, .actor_critic] : kinds {
            let model = MLPModel(inputs: 4, hidden: [32], outputs: 2, activation: .tanh, seed: 1)
            let config = ReinforcementLearning(
                policyType: kind, rewardShaping: .dense,
                exploration: kind == .q_network ? .epsilon_greedy : .boltzmann,
                learningRate: 0.01, discount: 0.99)
            let r = try ReinforcementTrainer.train(
                model: model, environment: { CartPole() }, config: config,
                options: .init(episodes: 2000, parallel: 16, solveThreshold: 195),
                backend: CPUBackend(), seed: 7)
            print(
                "\(kind.rawValue): \(r.solvedAtEpisode.map { "solved after \($0) episodes" } ?? "not solved in \(r.returns.count) episodes"), "
                    + String(format: "last-100 average %.1f, %.1f s", r.averageLast100, r.seconds))
        }
    case "hybrid":
        // gpuflow-bench hybrid [--quick]: issue 5's figures (fallback vs Vulkan, warm starts, monitor overhead).
        let quick = args.contains("--quick")
        LoggingSystem.bootstrap { label in  // the injected faults' warnings would bury the table
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = .error
            return h
        }
        try HybridBench.run(rounds: quick ? 2 : 3, epochs: quick ? 4 : 10)
    case "agents":
        // gpuflow-bench agents [--quick]: issue 6's figures (patterns vs back to back, fairness, multi-agent memory).
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = .error
            return h
        }
        let quick = args.contains("--quick")
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var failure: Error?
        Task.detached {
            do { try await AgentsBench.run(quick: quick) } catch { failure = error }
            done.signal()
        }
        done.wait()
        if let failure { throw failure }
    case "gemm-shapes":
        // gpuflow-bench gemm-shapes BACKEND REPS MxNxK...: one TSV line per shape.
        guard args.count >= 3, let kind = BackendKind(rawValue: args[1]), let reps = Int(args[2]) else {
            throw DataError("usage: gpuflow-bench gemm-shapes cpu|simd|vulkan REPS MxNxK...")
        }
        let shapes = args.dropFirst(3).compactMap { s -> (Int, Int, Int)? in
            let p = s.split(separator: "x").compactMap { Int($0) }
            return p.count == 3 ? (p[0], p[1], p[2]) : nil
        }
        try SuiteBench.gemm(kind, shapes: shapes, reps: reps)
    case "infer":
        // gpuflow-bench infer BACKEND ROWS BATCH...: one TSV line per batch size.
        guard args.count >= 4, let kind = BackendKind(rawValue: args[1]), let rows = Int(args[2]) else {
            throw DataError("usage: gpuflow-bench infer cpu|simd|vulkan ROWS BATCH...")
        }
        try SuiteBench.infer(kind, batches: args.dropFirst(3).compactMap { Int($0) }, rows: rows)
    case "orchestrate":
        // gpuflow-bench orchestrate [TASKS] [ROUNDS]: no-op tasks from Swift, one TSV line per round.
        let n = args.count > 1 ? Int(args[1]) ?? 10000 : 10000, rounds = args.count > 2 ? Int(args[2]) ?? 3 : 3
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = .error
            return h
        }
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var failure: Error?
        Task.detached {
            do { try await OrchestrationBench.run(tasks: n, rounds: rounds) } catch { failure = error }
            done.signal()
        }
        done.wait()
        if let failure { throw failure }
    case "conv":
        // gpuflow-bench conv [REPS] [cpu|simd|vulkan ...] [--small]: direct vs im2col + GEMM per backend.
        let reps = args.count > 1 ? Int(args[1]) ?? 7 : 7
        let kinds = args.dropFirst(2).compactMap { BackendKind(rawValue: $0) }
        try ConvBench.run(kinds.isEmpty ? [.cpu, .simd, .vulkan] : kinds, reps: reps, small: args.contains("--small"))
    case "parity":
        // Every kernel against the CPU reference on this machine's Vulkan device (both memory paths).
        var failures = 0
        for staging in [false, true] {
            let context = try VulkanContext.shared(staging: staging)
            print("# kernel parity on \(context.info.name), \(context.memoryPath) memory, tolerance \(KernelParity.tolerance)")
            for r in try KernelParity.run(VulkanBackend(context: context)) {
                print(r)
                if !r.passed { failures += 1 }
            }
        }
        print("\(failures == 0 ? "all kernels match" : "\(failures) checks FAILED")")
        exit(failures == 0 ? 0 : 1)
    default:
        FileHandle.standardError.write(
            Data(
                "usage: gpuflow-bench gemm [N ...] [--tsv] | pool-trace | parity | conv [REPS] [BACKEND ...] [--small] | hybrid [--quick] | agents [--quick]\n"
                    .utf8))
        exit(2)
    }
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
