import Foundation
import GPUFlowCore
import GPUFlowLua
import GPUFlowTesting
import Testing

/// Two to four agents, each a script with its own Lua state in one process, under each pattern:
/// the property the pattern promises, measured on the tasks' real start and end times.
@Suite(.serialized) struct CoordinationFromLuaTests {
    private func profile(_ yaml: String) throws -> Profile {
        var p = try ProfileLoader.parse(yaml, file: "test.yaml")
        p.learning.history = "none"
        return p
    }

    private let trainer = """
        local gpu = require "gpu"
        local ds = gpu.data.blobs{samples = 300, features = 8, centers = 3, seed = 1}
        local m = gpu.nn.mlp{inputs = 8, hidden = {32}, outputs = 3, seed = 1}
        local hs = {}
        for i = 1, 2 do hs[i] = gpu.submit(gpu.training{model = m, data = ds, epochs = 4, batch_size = 16, seed = 3}) end
        for _, r in ipairs(gpu.await_all(hs)) do print(("%.6f"):format(r.metrics.loss)) end
        """

    @Test func exclusiveLeasesNeverOverlapAndPassInArrivalOrder() async throws {
        let run = try await runLua(
            [trainer, trainer, trainer], profile: profile("coordination: {pattern: exclusive}"), agents: ["x", "y", "z"])
        #expect(run.results.allSatisfy { $0.exitCode == 0 }, "\(run.results.compactMap(\.message))")
        let records = await run.orchestrator.records().filter { $0.typeName == "training" }
        #expect(records.count == 6)
        for a in records {
            for b in records where a.agent != b.agent {
                let (s1, e1, s2, e2) = (a.startedAt ?? 0, a.finishedAt ?? 0, b.startedAt ?? 0, b.finishedAt ?? 0)
                #expect(e1 <= s2 || e2 <= s1, "\(a.agent ?? "") #\(a.id) and \(b.agent ?? "") #\(b.id) overlap")
            }
        }
        let grants = await run.orchestrator.coordinationDecisions().filter { $0.kind == "lease" && $0.winner != nil }.compactMap(\.winner)
        #expect(grants == ["x", "y", "z"])
        #expect(Set(run.lines).count == 1, "the same training gives the same loss under any lease: \(run.lines)")
    }

    @Test func timeSlicesHaveTheRequestedLengthNobodyStarvesAndNoWorkIsLost() async throws {
        let p = try profile(
            """
            coordination: {pattern: time_sliced, time_slice_ms: 20, preemption_allowed: true, sharing_policy: {max_starvation_time_s: 0.25}}
            """)
        let long = trainer.replacingOccurrences(of: "epochs = 4", with: "epochs = 12")
        let run = try await runLua([long, long, long, long], profile: p, agents: ["a", "b", "c", "d"])
        #expect(run.results.allSatisfy { $0.exitCode == 0 }, "\(run.results.compactMap(\.message))")
        let slices = run.orchestrator.gate.achievedSlices().filter(\.contested)
        #expect(slices.count >= 8, "\(slices.count) contested slices")
        let mean = slices.map(\.seconds).reduce(0, +) / Double(max(slices.count, 1))
        // A slice ends at the first step boundary after 20 ms: the mean is 20 ms plus about half a
        // step (well under 10 ms unloaded; CI machines run other suites beside this one).
        #expect(mean > 0.018 && mean < 0.045, "mean slice \(mean * 1000) ms for 20 ms slices")
        for (agent, wait) in run.orchestrator.gate.longestWait() {
            #expect(wait < 0.25 + 0.1, "\(agent) waited \(wait) s for a step (max_starvation_time 0.25 s, plus the step in progress)")
        }
        // Preempted at step boundaries and resumed, training gives the uninterrupted numbers.
        let alone = try await runLua(long)
        #expect(Set(run.lines) == Set(alone.lines), "\(run.lines) vs \(alone.lines)")
    }

    @Test func anAgentOverItsPartitionIsRefusedWhileTheOtherFinishes() async throws {
        let p = try profile(
            """
            resources: {memory_pool_mb: 64, max_concurrent_tasks: 4}
            coordination: {pattern: space_partitioned, partition_strategy: static, agents: [hog, good]}
            """)
        let hog = """
            local gpu = require "gpu"
            local ds = gpu.data.blobs{samples = 64, features = 2048, centers = 2, seed = 1}
            local m = gpu.nn.mlp{inputs = 2048, hidden = {4096}, outputs = 2, seed = 1}   -- 32 MB of weights alone
            local ok, err = pcall(function() return gpu.submit(gpu.training{model = m, data = ds, epochs = 1, memory_mb = 8}):await() end)
            print("hog", ok, err)
            """
        let good = """
            local gpu = require "gpu"
            local ds = gpu.data.blobs{samples = 400, features = 8, centers = 2, seed = 1}
            local m = gpu.nn.mlp{inputs = 8, hidden = {16}, outputs = 2, seed = 1}
            local r = gpu.submit(gpu.training{model = m, data = ds, epochs = 5, memory_mb = 8}):await()
            print("good", r.metrics.accuracy > 0.9)
            local am = gpu.agent_metrics()
            print("limits", am.hog.memory_limit_bytes, am.good.memory_limit_bytes, am.hog.refused_allocations)
            """
        let run = try await runLua([hog, good], profile: p, agents: ["hog", "good"])
        #expect(
            run.lines.contains {
                $0.hasPrefix("hog\tfalse") && $0.contains("agent hog:") && $0.contains("over its limit of 33554432 bytes")
            },
            "\(run.output)")
        #expect(run.lines.contains("good\ttrue"))
        #expect(run.lines.contains("limits\t33554432\t33554432\t1"), "\(run.output)")
    }

    @Test func dynamicRebalancingLendsUnusedShareAndTakesItBack() async throws {
        let p = try profile(
            """
            resources: {memory_pool_mb: 100, max_concurrent_tasks: 4}
            coordination: {pattern: space_partitioned, partition_strategy: dynamic, dynamic_rebalancing: true, agents: [a, b]}
            """)
        // a wants three 40 MB tasks: with b idle it borrows (80 MB > its 50 MB share); once b asks,
        // b's task goes before a's third.
        let a = """
            local gpu = require "gpu"
            local ds = gpu.data.blobs{samples = 600, features = 8, centers = 2, seed = 1}
            local m = gpu.nn.mlp{inputs = 8, hidden = {64}, outputs = 2, seed = 1}
            local hs = {}
            for i = 1, 3 do hs[i] = gpu.submit(gpu.training{model = m, data = ds, epochs = 8, memory_mb = 40}, {name = "a" .. i}) end
            gpu.await_all(hs)
            """
        let b = """
            local gpu = require "gpu"
            local ds = gpu.data.blobs{samples = 100, features = 8, centers = 2, seed = 1}
            local m = gpu.nn.mlp{inputs = 8, hidden = {8}, outputs = 2, seed = 1}
            gpu.submit(gpu.training{model = m, data = ds, epochs = 1, memory_mb = 40}, {name = "b1"}):await()
            """
        let run = try await runLua([a, b], profile: p, agents: ["a", "b"])
        #expect(run.results.allSatisfy { $0.exitCode == 0 }, "\(run.results.compactMap(\.message))")
        let r = Dictionary(uniqueKeysWithValues: await run.orchestrator.records().map { ($0.name, $0) })
        let a1 = try #require(r["a1"]), a2 = try #require(r["a2"]), a3 = try #require(r["a3"]), b1 = try #require(r["b1"])
        #expect((a2.startedAt ?? 1) < (a1.finishedAt ?? 0), "a borrowed: a1 and a2 ran together (80 MB over a 50 MB share)")
        #expect((b1.startedAt ?? 1) <= (a3.startedAt ?? 0), "b took its share back before a's third task")
        #expect(await run.orchestrator.usage().peakMemoryMB <= 100)
    }

    @Test func pipelineStagesOverlapAndBackPressureHoldsTheProducer() async throws {
        let p = try profile("coordination: {pattern: pipeline, stages: [load, train, judge], buffer_sizes: [1, 1]}")
        let load = """
            local gpu = require "gpu"
            local s = gpu.stage()
            local t0 = gpu.now()
            for i = 1, 6 do s.output:put({i = i, data = gpu.data.blobs{samples = 200, features = 8, centers = 3, seed = i}}) end
            print("load", s.output:stats().peak_occupancy, s.output:stats().producer_wait_s > 0.05)
            """
        let train = """
            local gpu = require "gpu"
            local s = gpu.stage()
            local m = gpu.nn.mlp{inputs = 8, hidden = {32}, outputs = 3, seed = 1}
            local busy = 0
            while true do
              local item = s.input:get()
              if not item then break end
              local t0 = gpu.now()
              local r = gpu.submit(gpu.training{model = m, data = item.data, epochs = 15}):await()
              busy = busy + gpu.now() - t0
              s.output:put({i = item.i, model = r.model, data = item.data})
            end
            print("train busy", busy)
            """
        let judge = """
            local gpu = require "gpu"
            local s = gpu.stage()
            local n, busy, t0 = 0, 0, gpu.now()
            while true do
              local item = s.input:get()
              if not item then break end
              local t1 = gpu.now()
              local r = gpu.submit(gpu.training{model = item.model, data = item.data, epochs = 15}):await()
              busy = busy + gpu.now() - t1
              n = n + 1
            end
            print("judged", n)
            print("judge busy", busy)
            print("judge wall", gpu.now() - t0)
            """
        let run = try await runLua([load, train, judge], profile: p, agents: ["load", "train", "judge"])
        #expect(run.results.allSatisfy { $0.exitCode == 0 }, "\(run.results.compactMap(\.message))")
        #expect(run.lines.contains("load\t1\ttrue"), "peak occupancy ≤ capacity 1 and the producer waited: \(run.output)")
        #expect(run.lines.contains("judged\t6"))
        func value(_ prefix: String) -> Double {
            run.lines.first { $0.hasPrefix(prefix) }.flatMap { Double($0.split(separator: "\t").last ?? "") } ?? 0
        }
        let trainBusy = value("train busy"), judgeBusy = value("judge busy"), wall = value("judge wall")
        // Overlap: the whole pipeline took less than its two heavy stages back to back.
        #expect(wall < 0.9 * (trainBusy + judgeBusy), "wall \(wall) s vs stages \(trainBusy) + \(judgeBusy) s")
    }

    @Test func collaborativeDecisionsFollowTheDeclaredRule() async throws {
        let p = try profile(
            """
            resources: {max_concurrent_tasks: 1}
            coordination: {pattern: collaborative, negotiation: auction, conflict_resolution: priority}
            """)
        let run = try await runLua(
            """
            local gpu = require "gpu"
            local ds = gpu.data.blobs{samples = 300, features = 8, centers = 3, seed = 1}
            local m = gpu.nn.mlp{inputs = 8, hidden = {16}, outputs = 3, seed = 1}
            local hs = {}
            hs[1] = gpu.submit(gpu.training{model = m, data = ds, epochs = 3}, {agent = "a", name = "a", priority = "low"})
            hs[2] = gpu.submit(gpu.training{model = m, data = ds, epochs = 3}, {agent = "b", name = "b", priority = "normal"})
            hs[3] = gpu.submit(gpu.training{model = m, data = ds, epochs = 3}, {agent = "c", name = "c", priority = "high"})
            gpu.await_all(hs)
            for _, d in ipairs(gpu.coordination_log()) do if d.kind == "negotiation" then print(d.winner, d.reason) end end
            """, profile: p)
        let records = await run.orchestrator.records().sorted { ($0.startedAt ?? 0) < ($1.startedAt ?? 0) }
        #expect(records.map(\.name) == ["a", "c", "b"], "a was alone; then c's bid (high) beat b's")
        let line = run.lines.first ?? ""
        #expect(
            line.hasPrefix("c\tauction/priority: auction: bids c 3") && line.contains(", b 2") && line.hasSuffix("c proceeds"),
            "\(run.output)")
    }

    @Test func aFloodOfTasksFromOneAgentDoesNotStarveAnother() async throws {
        let p = try profile(
            """
            resources: {max_concurrent_tasks: 1}
            coordination: {pattern: collaborative, sharing_policy: {priority_strategy: fair_share, max_starvation_time_s: 0.5}}
            """)
        let spammer = """
            local gpu = require "gpu"
            local hs = {}
            for i = 1, 150 do hs[#hs + 1] = gpu.submit(gpu.memory_management{operation = "stats"}) end
            local ds = gpu.data.blobs{samples = 200, features = 8, centers = 2, seed = 1}
            local m = gpu.nn.mlp{inputs = 8, hidden = {16}, outputs = 2, seed = 1}
            for i = 1, 40 do hs[#hs + 1] = gpu.submit(gpu.training{model = m, data = ds, epochs = 2}) end
            gpu.await_all(hs)
            print("spammer done", #hs)
            """
        let good = """
            local gpu = require "gpu"
            local ds = gpu.data.blobs{samples = 200, features = 8, centers = 2, seed = 1}
            local m = gpu.nn.mlp{inputs = 8, hidden = {16}, outputs = 2, seed = 1}
            local h = gpu.submit(gpu.training{model = m, data = ds, epochs = 2})
            h:await()
            print("good waited", h:status().wait_s)
            """
        let run = try await runLua([spammer, good], profile: p, agents: ["spammer", "good"])
        #expect(run.results.allSatisfy { $0.exitCode == 0 })
        let records = await run.orchestrator.records()
        let mine = try #require(records.first { $0.agent == "good" })
        // Load-independent: how many of the spammer's tasks started while good's task waited.
        let overtook = records.filter {
            $0.agent == "spammer" && ($0.startedAt ?? 0) > mine.submittedAt && ($0.startedAt ?? 0) < (mine.startedAt ?? 0)
        }
        #expect(overtook.count <= 1, "\(overtook.count) of the spammer's 190 tasks went ahead of good's one")
        #expect(run.lines.contains("spammer done\t190"))
    }
}
