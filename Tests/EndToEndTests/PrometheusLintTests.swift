import Foundation
import GPUFlowTesting
import Testing

/// Prometheus's own linter on both expositions.
///
/// `--metrics-out FILE.prom` (the monitor's figures) and the job server's `/metrics`. promtool
/// comes from Debian's prometheus package, which scripts/test installs; without it these tests
/// are skipped and say so.
@Suite(.serialized) struct PrometheusLintTests {
    /// promtool on PATH, or nil.
    static let promtool: String? = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        .split(separator: ":").map { "\($0)/promtool" }.first { FileManager.default.isExecutableFile(atPath: $0) }

    /// `promtool check metrics` on `text`: its exit status and everything it printed.
    static func lint(_ text: String) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try #require(promtool))
        p.arguments = ["check", "metrics"]
        let input = Pipe(), output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        p.standardError = output
        try p.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, printed)
    }

    /// Two Vulkan training runs: an undisturbed one (kernels, queues, the pool, transfers) and one
    /// with injected device faults (a circuit breaker opens, the task falls back to SIMD).
    @Test(.enabled(if: promtool != nil, "promtool is not installed (Debian package prometheus; scripts/test installs it)"))
    func metricsOutPassesPromtool() throws {
        let script = try TestPaths.write(
            """
            local gpu = require "gpu"
            local ds = gpu.data.blobs{samples = 300, features = 8, centers = 3, seed = 3}
            local m = gpu.nn.mlp{inputs = 8, hidden = {16}, outputs = 3, seed = 1}
            print(gpu.submit(gpu.training{model = m, data = ds, epochs = 6, batch_size = 32, seed = 5}):await().backend)
            """, name: "train.lua")
        let profile = try TestPaths.write("fallback: {failure_threshold: 2, backends: [simd]}\nlearning: {history: none}\n", name: "p.yaml")
        let dir = try TestPaths.temporaryDirectory()
        let runs: [(name: String, environment: [String: String], families: [String])] = [
            (
                "calm", [:],
                [
                    "gpuflow_tasks_total", "gpuflow_task_seconds_total", "gpuflow_kernel_seconds_total", "gpuflow_kernel_dispatches_total",
                    "gpuflow_transfer_bytes_total", "gpuflow_queue_utilization_ratio", "gpuflow_metric_available",
                ]
            ),
            (
                "faulted", ["GPUFLOW_FAULT_VULKAN_AFTER": "400"],
                ["gpuflow_tasks_total", "gpuflow_breaker_failures_total", "gpuflow_breaker_open"]
            ),
        ]
        for r in runs {
            let prom = dir.appendingPathComponent("\(r.name).prom").path
            let run = try CLIRunner.run(
                ["run", script, "--backend", "vulkan", "--profile", profile, "--metrics-out", prom], environment: r.environment)
            try #require(run.status == 0, "\(r.name): \(run.stderr)")
            let text = try String(contentsOfFile: prom, encoding: .utf8)
            for family in r.families {
                #expect(text.contains("# TYPE \(family) "), "\(r.name): no \(family) in:\n\(text)")
            }
            let lint = try Self.lint(text)
            #expect(
                lint.status == 0 && lint.output.isEmpty,
                "\(r.name): promtool check metrics (exit \(lint.status)):\n\(lint.output)\non:\n\(text)")
        }
    }

    /// The server's counters after a job under time slices (the slice figures appear only then).
    @Test(.enabled(if: promtool != nil, "promtool is not installed (Debian package prometheus; scripts/test installs it)"))
    func serverMetricsPassPromtool() throws {
        let s = try JobServerTests.Server(profile: "learning: {history: none}\ncoordination: {pattern: time_sliced, time_slice_ms: 30}\n")
        let id = try s.submit(
            """
            local gpu = require "gpu"
            local ds = gpu.data.blobs{samples = 100, features = 4, centers = 2, seed = 1}
            gpu.submit(gpu.training{model = gpu.nn.mlp{inputs = 4, hidden = {8}, outputs = 2, seed = 1}, data = ds, epochs = 3}):await()
            """, token: "alice-token")
        #expect(try s.wait(id, token: "alice-token")["state"] as? String == "succeeded", "\(s.log)")
        let text = try s.request("GET", "/metrics").text
        #expect(text.contains("gpuflow_time_slices_total{agent=\"alice\"}"), "\(text)")
        let lint = try Self.lint(text)
        #expect(lint.status == 0 && lint.output.isEmpty, "promtool check metrics (exit \(lint.status)):\n\(lint.output)\non:\n\(text)")
    }
}
