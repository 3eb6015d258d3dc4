import GPUFlowCompute
import GPUFlowCore
import GPUFlowTesting
import Testing

@testable import GPUFlowML

@Suite struct ServingTests {
    @Test func modelCacheHitsAndEvictsLeastRecentlyUsed() throws {
        let cache = ModelCache(capacityBytes: 10_000)
        let backend = CPUBackend()
        let a = MLPModel(inputs: 10, hidden: [100], outputs: 2, activation: .relu, seed: 1)  // 1,302 params = 5,208 bytes
        let b = MLPModel(inputs: 10, hidden: [100], outputs: 2, activation: .relu, seed: 2)
        #expect(try cache.withNetwork(a, on: backend, owner: { CPUBackend() }) { _ in 1 }.hit == false)
        #expect(try cache.withNetwork(a, on: backend, owner: { CPUBackend() }) { _ in 1 }.hit == true)
        _ = try cache.withNetwork(b, on: backend, owner: { CPUBackend() }) { _ in 1 }  // 10,416 bytes > 10,000: a goes
        let s = cache.statistics()
        #expect(s.residentModels == 1 && s.evictions == 1 && s.hits == 1 && s.misses == 2)
        #expect(try cache.withNetwork(b, on: backend, owner: { CPUBackend() }) { _ in 1 }.hit == true)
        #expect(try cache.withNetwork(a, on: backend, owner: { CPUBackend() }) { _ in 1 }.hit == false, "a was evicted")
    }

    /// A hit serves the current task on its own backend and charges its own agent: the cached
    /// weights kept an earlier task's backend, so Vulkan inference reported its GPU time
    /// "unavailable" and the weights stayed charged to the first agent.
    @Test(arguments: [BackendUnderTest.cpu, .vulkan, .vulkanStaged])
    func aCacheHitRunsOnTheTasksBackendAndChargesItsAgent(_ kind: BackendUnderTest) throws {
        let quotas = AgentQuotas(limits: AgentMemoryLimits())
        let data = try Generators.blobs(samples: 256, features: 8, centers: 2, seed: 1)
        let model = MLPModel(inputs: 8, hidden: [64], outputs: 2, activation: .relu, seed: 41)
        let weights = 4 * model.parameterCount
        let task = InferenceTask(modelID: model.objectID, batchSize: 64)
        for (agent, expectHit) in [("alice", false), ("bob", true)] {
            let backend = try kind.make()
            backend.tensorMeter?.quota = quotas.quota(for: agent)
            let r = try WorkloadRunner.run(.inference(task), inputs: TaskInputs(model: model, data: data), backend: backend, seed: 1)
            let peak = backend.tensorBytesPeak ?? 0
            #expect(r["model_cache"]?["hit"]?.boolValue == expectHit, "\(agent)")
            #expect(peak >= weights, "\(agent)'s backend counted the weights it used (\(peak) of \(weights) bytes)")
            if kind == .vulkan, backend.name == "vulkan" {
                #expect(r["device"]?["gpu_time_ms"]?.doubleValue != nil, "\(agent): GPU time on the task's own backend")
            }
            // The cached weights are the model's on every memory path (staged uploads submitted).
            let reference = try WorkloadRunner.run(
                .inference(task), inputs: TaskInputs(model: model, data: data), backend: CPUBackend(), seed: 1)
            #expect(r["accuracy"]?.doubleValue == reference["accuracy"]?.doubleValue, "\(agent): same predictions as the CPU")
            #expect(quotas.quota(for: agent).usedBytes == 0, "\(agent) holds nothing once its task ended")
            #expect(quotas.quota(for: agent).peakBytes >= weights, "\(agent) was charged the weights while it served")
        }
    }

    @Test func dynamicBatchingFillsBatchesUnderLoadAndWaitsNoLongerThanItsBudget() throws {
        let data = try Generators.blobs(samples: 64, features: 4, centers: 2, seed: 1)
        let net = try NetworkOnBackend(MLPModel(inputs: 4, hidden: [8], outputs: 2, activation: .relu, seed: 1), on: CPUBackend())
        // Far more arrivals than the batcher's wait: batches fill to the batch size.
        let busy = try StreamingInference.run(
            net: net, data: data, batchSize: 16, requests: 640, arrivalRate: 1_000_000, maxWaitMS: 50,
            seed: 1, cancel: CancellationToken())
        #expect(busy.requests == 640 && busy.meanBatchSize > 12, "mean batch \(busy.meanBatchSize)")
        // Sparse arrivals and a 1 ms wait: batches go out small, and no request waits much past its budget.
        let quiet = try StreamingInference.run(
            net: net, data: data, batchSize: 16, requests: 40, arrivalRate: 200, maxWaitMS: 1,
            seed: 1, cancel: CancellationToken())
        #expect(quiet.meanBatchSize < 2, "mean batch \(quiet.meanBatchSize)")
        #expect(quiet.latencyMS.p50 < 20, "p50 \(quiet.latencyMS.p50) ms")
        #expect(quiet.throughputPerSec < 400, "the stream cannot be served faster than it arrives")
    }

    @Test func sloReportsSayWhetherAndByHowMuch() throws {
        let data = try Generators.blobs(samples: 128, features: 4, centers: 2, seed: 1)
        let model = MLPModel(inputs: 4, hidden: [8], outputs: 2, activation: .relu, seed: 3)
        let impossible = InferenceTask(modelID: model.objectID, batchSize: 32, maxLatencyMS: 1e-6, minThroughputPerSec: 1e12)
        let out = try WorkloadRunner.run(
            .inference(impossible), inputs: TaskInputs(model: model, data: data), backend: CPUBackend(), seed: 1)
        guard case .table(let slo)? = out["slo"], case .table(let lat)? = out["latency_ms"] else {
            Issue.record("no slo in \(out)")
            return
        }
        let p99 = lat.first { $0.0 == "p99" }?.1.doubleValue ?? -1
        #expect(
            slo.contains {
                $0.0 == "latency_met"
                    && {
                        if case .bool(false) = $0 { return true }; return false
                    }($0.1)
            })
        #expect(slo.first { $0.0 == "latency_margin_ms" }?.1.doubleValue == 1e-6 - p99)
        #expect(
            slo.contains {
                $0.0 == "throughput_met"
                    && {
                        if case .bool(false) = $0 { return true }; return false
                    }($0.1)
            })
        #expect((slo.first { $0.0 == "throughput_margin_per_sec" }?.1.doubleValue ?? 0) < 0)
    }
}
