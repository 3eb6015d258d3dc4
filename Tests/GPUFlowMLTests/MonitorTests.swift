import Foundation
import GPUFlowCompute
import GPUFlowCore
import GPUFlowTesting
import Testing

@testable import GPUFlowML

@Suite struct MonitorTests {
    @Test func samplesOnItsOwnQueueAndGathersTaskFigures() async throws {
        let m = GPUPerformanceMonitor(intervalMS: 5, nvml: nil)
        m.start()
        let s = ExecutionServices(learning: GPULearningEngine(enabled: true), breakers: CircuitBreakerBoard(), monitor: m)
        let model = MLPModel(inputs: 4, hidden: [16], outputs: 3, activation: .relu, seed: 1)
        let data = try Generators.blobs(samples: 200, features: 4, centers: 3, seed: 1)
        let task = GPUTaskType.training(TrainingTask(algorithm: .adam(Adam()), epochs: 3, batchSize: 32))
        _ = try ResilientRunner.run(
            task, inputs: TaskInputs(model: model, data: data), backend: .vulkan, services: s, seed: 1, taskID: 7, taskName: "t7")
        _ = try ResilientRunner.run(
            task, inputs: TaskInputs(model: model, data: data), backend: .simd, services: s, seed: 1, taskID: 8, taskName: "t8")
        try await Task.sleep(nanoseconds: 60_000_000)
        m.stop()
        let o = m.overview()
        #expect(o.samples >= 3, "\(o.samples) samples in \(o.wallS) s at 5 ms")
        #expect(o.samplingS / o.wallS < 0.5)
        let tasks = m.taskMetrics()
        #expect(tasks.map(\.id) == [7, 8])
        let gpu = try #require(tasks.first), host = try #require(tasks.last)
        // Vulkan has device timestamps and copies; the SIMD backend has neither.
        #expect((gpu.gpuS ?? 0) > 0 && (gpu.gpuS ?? 0) <= gpu.wallS)
        #expect((gpu.utilization ?? 0) > 0 && (gpu.utilization ?? 2) <= 1)
        #expect((gpu.transfers?.uploadBytes ?? 0) > 0 && gpu.uploadBytesPerSecond != nil)
        #expect(host.gpuS == nil && host.utilization == nil && host.transfers == nil)
        #expect((host.peakTensorBytes ?? 0) > 0)
        #expect(m.kernelTotals().contains { $0.kernel.hasPrefix("gemm") && $0.dispatches > 0 })
        let v = MonitorReport.value(m, breakers: s.breakers)
        #expect(v["device"]?["power_w"]?.stringValue == "unavailable")
        #expect(v["task_metrics"]?.arrayCount == 2)
        #expect(v["queues"]?.arrayCount == 1)
        let json = TaskValueJSON.encode(v)
        let parsed = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        #expect(parsed?["kernels"] != nil)
    }

    @Test func prometheusTextUsesDCGMStyleNamesAndMarksWhatIsUnavailable() throws {
        let m = GPUPerformanceMonitor(intervalMS: 0, nvml: nil)
        let s = ExecutionServices(learning: GPULearningEngine(enabled: true), breakers: CircuitBreakerBoard(), monitor: m)
        let model = MLPModel(inputs: 4, hidden: [8], outputs: 2, activation: .relu, seed: 1)
        let data = try Generators.blobs(samples: 64, features: 4, centers: 2, seed: 1)
        _ = try ResilientRunner.run(
            .training(TrainingTask(algorithm: .adam(Adam()), epochs: 1)), inputs: TaskInputs(model: model, data: data),
            backend: .vulkan, services: s, seed: 1)
        s.breakers.recordFailure("vulkan:test")
        let text = PrometheusExport.text(m, breakers: s.breakers)
        for line in [
            "# TYPE gpuflow_kernel_seconds_total counter", "gpuflow_metric_available{metric=\"power\"} 0.0",
            "gpuflow_tasks_total{kind=\"training\",backend=\"vulkan\"} 1", "gpuflow_breaker_failures_total{backend=\"vulkan:test\"} 1",
        ] {
            #expect(text.contains(line), "missing \(line) in\n\(text)")
        }
        #expect(!text.contains("gpuflow_power_watts"))  // unavailable: absent, not zero
        #expect(text.contains("gpuflow_queue_utilization_ratio{device="))
    }

    @Test func jsonEncodingEscapesAndNullsNonFinite() {
        let v = TaskValue.table([
            ("a", .string("q\"\n")), ("b", .number(.nan)), ("c", .array([.integer(1), .bool(false)])), ("d", .floats([1.5])),
        ])
        #expect(TaskValueJSON.encode(v, indent: nil) == #"{"a":"q\"\n","b":null,"c":[1,false],"d":[1.5]}"#)
    }
}

extension TaskValue {
    var arrayCount: Int? {
        if case .array(let a) = self { return a.count }
        return nil
    }
}
