import Foundation
import GPUFlowCore
import GPUFlowLua
import GPUFlowTesting
import Testing

/// gpu.metrics, gpu.optimize_scheduling and adaptive hybrid tasks as a script uses them.
@Suite struct LearningFromLuaTests {
    @Test func metricsSnapshotTaskAndPrometheus() async throws {
        let run = try await runLua(
            """
            local gpu = require "gpu"
            local ds = gpu.data.blobs{samples = 120, features = 4, centers = 3, seed = 1}
            local m = gpu.nn.mlp{inputs = 4, hidden = {8}, outputs = 3, seed = 1}
            local h = gpu.submit(gpu.training{model = m, data = ds, epochs = 2})
            local r = h:await()
            local t = gpu.metrics.task(h)
            print(t.name, t.backend, t.wall_s > 0, t.gpu_s, t.peak_tensor_bytes > 0)
            local s = gpu.metrics.snapshot()
            print(s.device.power_w, #s.task_metrics, s.monitor.interval_ms, type(s.process.cpu_s))
            print(gpu.metrics.prometheus():match("gpuflow_tasks_total{kind=\\"training\\",backend=\\"cpu\\"} 1") ~= nil)
            print(gpu.metrics.report():match("monitor: %d+ samples at 100 ms") ~= nil)
            print(pcall(gpu.metrics.task, "x"))
            """)
        #expect(run.result.exitCode == 0, "\(run.result.message ?? "")")
        #expect(
            run.lines == [
                "training\tcpu\ttrue\tunavailable\ttrue", "unavailable\t1\t100\tnumber", "true", "true",
                "false\tgpu.metrics.task: expected a task handle or id, got string",
            ], "\(run.output)")
    }

    @Test func feedbackSetsTheNextInferenceBatchSizeAndReportsChanges() async throws {
        let run = try await runLua(
            """
            local gpu = require "gpu"
            local ds = gpu.data.blobs{samples = 200, features = 4, centers = 3, seed = 1}
            local m = gpu.nn.mlp{inputs = 4, hidden = {8}, outputs = 3, seed = 1}
            local first = gpu.submit(gpu.inference{model = m, data = ds}):await()
            local given = gpu.submit(gpu.inference{model = m, data = ds, batch_size = 16}):await()
            local t = gpu.submit(gpu.training{model = m, data = ds, epochs = 1}):await()
            local out = gpu.optimize_scheduling{
              {task = first, satisfaction = 0.3, suggestions = {"batch_size=128"}},
              {task = t, satisfaction = 0.5, actual = {duration_s = 2}, expected = {duration_s = 1}},
            }
            local second = gpu.submit(gpu.inference{model = m, data = ds}):await()
            local again = gpu.submit(gpu.inference{model = m, data = ds, batch_size = 16}):await()
            print(first.batch_size, first.batch_size_source, given.batch_size_source)
            print(second.batch_size, second.batch_size_source, again.batch_size)
            for _, c in ipairs(out.changes) do print(c) end
            print(pcall(gpu.optimize_scheduling, {{task = t, satisfaction = 1, actual = {duration_s = 2}}}))
            print(pcall(gpu.optimize_scheduling, {{task = t, satisfaction = 1, actual = {duration_s = -2}, expected = {duration_s = 1}}}))
            """)
        #expect(run.result.exitCode == 0, "\(run.result.message ?? "")")
        #expect(run.lines.count >= 5, "\(run.output)")
        #expect(run.lines[0] == "64\tdefault\tgiven")
        #expect(run.lines[1] == "128\tlearned\t16")
        #expect(run.lines.contains("training on cpu: duration predictions ×2.00"), "\(run.output)")
        #expect(run.lines.contains { $0.hasPrefix("false") && $0.contains("actual and expected go together") })
        #expect(run.lines.contains { $0.hasPrefix("false") && $0.contains("duration_s") })
    }

    @Test func adaptiveHybridExploresThenChoosesAndSaysWhy() async throws {
        let run = try await runLua(
            """
            local gpu = require "gpu"
            local ds = gpu.data.blobs{samples = 100, features = 4, centers = 3, seed = 1}
            local m = gpu.nn.mlp{inputs = 4, hidden = {8}, outputs = 3, seed = 1}
            local t = gpu.training{model = m, data = ds, epochs = 1}
            for i = 1, 5 do
              local r = gpu.submit(gpu.hybrid_compute{task = t, primary_backend = "cpu",
                                                      fallback = {adaptive = {backends = {"simd"}, exploration = 0}}}):await()
              print(r.backend, r.reason:match("^adaptive: %a+"), r.reason:match("^adaptive: (%a+ %a+)"))
            end
            print(pcall(gpu.hybrid_compute, {task = t, fallback = {adaptive = {backends = {"tpu"}}}}))
            print(pcall(gpu.hybrid_compute, {task = t, fallback = {other = 1}}))
            """)
        #expect(run.result.exitCode == 0, "\(run.result.message ?? "")")
        #expect(
            Array(run.lines.prefix(4)) == [
                "cpu\tadaptive: exploring\texploring cpu", "cpu\tadaptive: exploring\texploring cpu",
                "simd\tadaptive: exploring\texploring simd", "simd\tadaptive: exploring\texploring simd",
            ],
            "\(run.output)")
        // Then the predictions decide: the faster one by more than the threshold, or the primary.
        #expect(
            ["simd scores", "cpu scores", "staying on"].contains(run.lines[4].split(separator: "\t").last.map(String.init) ?? ""),
            "\(run.lines[4])")
        #expect(run.lines[5].contains("unknown backend 'tpu'"))
        #expect(run.lines[6].contains("fallback table must be a list of backends or {adaptive"), "\(run.lines[6])")
    }
}
