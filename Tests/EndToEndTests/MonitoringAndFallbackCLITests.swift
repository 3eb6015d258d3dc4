import Foundation
import GPUFlowTesting
import Testing

/// `--metrics-out`, the learning history between runs, and injected faults, through the binary.
@Suite struct MonitoringAndFallbackCLITests {
    private let training = """
        local gpu = require "gpu"
        local ds = gpu.data.blobs{samples = 300, features = 8, centers = 3, seed = 3}
        local m = gpu.nn.mlp{inputs = 8, hidden = {16}, outputs = 3, seed = 1}
        local r = gpu.submit(gpu.training{model = m, data = ds, epochs = 6, batch_size = 32, seed = 5}):await()
        print(r.backend, ("%.6f"):format(r.metrics.loss), r.faults or 0, r.metrics.resumed_from_epoch or 0)
        """

    @Test func metricsOutWritesJSONAndPrometheus() throws {
        let dir = try TestPaths.temporaryDirectory()
        let script = try TestPaths.write(training, name: "train.lua")
        let json = dir.appendingPathComponent("m.json").path, prom = dir.appendingPathComponent("m.prom").path
        let a = try CLIRunner.run(["run", script, "--backend", "vulkan", "--metrics-out", json])
        #expect(a.status == 0, "\(a.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        let tasks = try #require(object["task_metrics"] as? [[String: Any]])
        #expect(tasks.count == 1 && (tasks.first?["gpu_s"] as? Double ?? 0) > 0)
        #expect((object["kernels"] as? [Any])?.isEmpty == false)
        #expect((object["device"] as? [String: Any])?["power_w"] as? String == "unavailable")
        #expect((object["series"] as? [Any]) != nil)
        let b = try CLIRunner.run(["run", script, "--backend", "simd", "--metrics-out", prom])
        #expect(b.status == 0, "\(b.stderr)")
        let text = try String(contentsOfFile: prom, encoding: .utf8)
        #expect(text.contains("gpuflow_tasks_total{kind=\"training\",backend=\"simd\"} 1"))
        let bad = try CLIRunner.run(["run", script, "--metrics-out", "/no/such/dir/m.json"])
        #expect(
            bad.status == 2 && bad.firstErrorLine == "error: --metrics-out /no/such/dir/m.json: cannot create the file", "\(bad.stderr)")
        #expect(bad.stdout.isEmpty, "nothing ran")
    }

    @Test func injectedDeviceLossFallsBackWithTheUndisturbedNumbers() throws {
        let script = try TestPaths.write(training, name: "train.lua")
        let profile = try TestPaths.write("fallback: {failure_threshold: 2, backends: [simd]}\nlearning: {history: none}\n", name: "p.yaml")
        let calm = try CLIRunner.run(["run", script, "--backend", "vulkan", "--profile", profile])
        let hurt = try CLIRunner.run(
            ["run", script, "--backend", "vulkan", "--profile", profile], environment: ["GPUFLOW_FAULT_VULKAN_AFTER": "400"])
        try #require(calm.status == 0, "undisturbed run exited \(calm.status): \(calm.stderr)")
        try #require(hurt.status == 0, "run with faults exited \(hurt.status): \(hurt.stderr)")
        let c = calm.stdout.split(separator: "\t"), h = hurt.stdout.split(separator: "\t")
        try #require(c.count == 4 && h.count == 4, "\(calm.stdout) / \(hurt.stdout)")
        #expect(c[0] == "vulkan" && h[0] == "simd", "\(calm.stdout) / \(hurt.stdout)")
        #expect(h[2] == "2" && h[3].hasPrefix("2"), "two faults, resumed after epoch 2: \(hurt.stdout)")
        let lc = Double(c[1]) ?? 0, lh = Double(h[1]) ?? 1
        #expect(abs(lc - lh) < 1e-4, "loss \(lc) undisturbed vs \(lh) after fallback")
        #expect(hurt.stderr.contains("device fault"))
    }

    @Test func theNextRunLearnsFromThisOne() throws {
        let data = try TestPaths.temporaryDirectory().path
        let script = try TestPaths.write(
            """
            local gpu = require "gpu"
            local ds = gpu.data.blobs{samples = 100, features = 4, centers = 2, seed = 1}
            local m = gpu.nn.mlp{inputs = 4, hidden = {8}, outputs = 2, seed = 1}
            local r = gpu.submit(gpu.inference{model = m, data = ds}):await()
            print(r.batch_size, r.batch_size_source)
            if arg[1] == "judge" then gpu.optimize_scheduling{{task = r, satisfaction = 0.2, suggestions = {"batch_size=32"}}} end
            """, name: "serve.lua")
        let first = try CLIRunner.run(["run", script, "--", "judge"], environment: ["GPUFLOW_DATA_DIR": data])
        let second = try CLIRunner.run(["run", script], environment: ["GPUFLOW_DATA_DIR": data])
        #expect(first.stdout == "64\tdefault\n", "\(first.stderr)")
        #expect(second.stdout == "32\tlearned\n", "\(second.stderr)")
        let history = try String(contentsOfFile: data + "/history.jsonl", encoding: .utf8)
        #expect(history.split(separator: "\n").count == 3)  // two inference runs and one judgement
    }
}
