import GPUFlowCore
import GPUFlowLua
import GPUFlowTesting
import Testing

@Suite struct BridgeTests {
    @Test func valuesCrossBothWaysThroughATask() async throws {
        let run = try await runLua(
            """
            local gpu = require "gpu"
            local v = {n = 3, f = 2.5, s = "héllo\\0x", yes = true, list = {1, 2, {deep = "x"}}, nested = {a = {b = {c = -7}}}}
            local back = gpu.submit(function(x) return x end, {after = {gpu.submit(function() return v end)}}):await()
            print(back.n, math.type(back.n), back.f, #back.s, back.yes, back.list[3].deep, back.nested.a.b.c, back.task_id ~= nil)
            local t = gpu.tensor{1.5, 2, 3}
            local same = gpu.submit(function() return t end):await()
            print(tostring(same):sub(1, 6), #same, same[1], same:sum(), same.shape[1])
            """)
        #expect(run.result.status == .success, "\(run.result.message ?? "")")
        #expect(run.lines == ["3\tinteger\t2.5\t8\ttrue\tx\t-7\ttrue", "tensor\t3\t1.5\t6.5\t3"])
    }

    @Test func oneHotLabels() async throws {
        let run = try await runLua(
            """
            local d = require("gpu.data").from_table{features = {{1}, {2}, {3}}, labels = {2, 0, 1}}
            local t = d:one_hot()
            print(t.shape[1], t.shape[2], t[3], t[4], t[8], t:sum())
            """)
        #expect(run.lines == ["3\t3\t1.0\t1.0\t1.0\t3.0"], "\(run.output) \(run.result.message ?? "")")
    }

    @Test func functionsCannotCrossIntoATaskResult() async throws {
        let run = try await runLua(
            """
            local gpu = require "gpu"
            local ok, err = pcall(function() return gpu.submit(function() return {f = print} end):await() end)
            print(ok, err)
            """)
        #expect(run.result.status == .success)
        #expect(run.output.contains("false") && run.output.contains("a function cannot cross into a task"))
    }

    @Test func aTaskCancelledBeforeItStartsNeverRuns() async throws {
        let run = try await runLua(
            """
            local gpu = require "gpu"
            local ran = false
            local h = gpu.submit(function() ran = true end)
            print(h:cancel())
            gpu.submit(function() end):await()   -- lets the host process everything queued
            print(ran, h:status().state)
            """)
        #expect(run.lines == ["true", "false\tcancelled"])
    }

    @Test func scriptArgumentsArriveAsArgAndVarargs() async throws {
        let run = try await runLua("print(#arg, arg[1], arg[2], select('#', ...), ...)", arguments: ["--data", "x.csv"])
        #expect(run.lines == ["2\t--data\tx.csv\t2\t--data\tx.csv"])
    }

    @Test func awaitWorksInsideUserCoroutines() async throws {
        let run = try await runLua(
            """
            local gpu = require "gpu"
            local h = gpu.submit(function() return 21 end)
            local co = coroutine.wrap(function() local inner = coroutine.wrap(function() return h:await() * 2 end); return inner() end)
            print(co())
            """)
        #expect(run.result.status == .success, "\(run.result.message ?? "")")
        #expect(run.lines == ["42"])
    }

    @Test func awaitWhereYieldingIsImpossibleIsAClearError() async throws {
        let run = try await runLua(
            """
            local gpu = require "gpu"
            local h = gpu.submit(function() return 1 end)
            table.sort({3, 2, 1}, function(a, b) h:await(); return a < b end)
            """)
        #expect(run.result.status == .scriptError)
        #expect(run.result.message?.contains("await: cannot wait here") == true)
    }

    /// Each call raises from a Swift binding; if the error skipped Swift cleanups the process
    /// would leak on every one of them. Measured in a process of its own (the gpuflow CLI), so
    /// the other suites running beside it cannot move the figure.
    @Test func aMillionFailingCallsUnderPcallDoNotGrowMemory() throws {
        let script = try TestPaths.write(
            """
            local gpu = require "gpu"
            local function rss()
              for line in io.lines("/proc/self/status") do
                local kb = line:match("^VmRSS:%s+(%d+)")
                if kb then return tonumber(kb) end
              end
            end
            for i = 1, 20000 do pcall(gpu.tensor, i) end
            collectgarbage()
            local before, failures = rss(), 0
            for i = 1, 1000000 do
              if not pcall(gpu.tensor, i) then failures = failures + 1 end
            end
            collectgarbage()
            print(failures, rss() - before)
            """, name: "pcall.lua")
        let out = try CLIRunner.run(["run", script])
        let fields = out.stdout.split(whereSeparator: { $0 == "\t" || $0 == "\n" })
        #expect(out.status == 0, "\(out.stderr)")
        #expect(fields.first == "1000000")
        let grownKiB = try #require(fields.count > 1 ? Int(fields[1]) : nil)
        #expect(grownKiB < 4096, "resident memory grew by \(grownKiB) KiB over a million failing calls")
    }

    @Test func instructionLimitCannotBeSwallowedByPcall() async throws {
        var profile = Profile.isolated
        profile.sandbox.instructions = 2_000_000
        let run = try await runLua(
            """
            while true do pcall(function() while true do end end) end
            """, profile: profile)
        #expect(run.result.status == .limitExceeded)
        #expect(run.result.exitCode == 3)
        #expect(run.result.message?.contains("instruction limit exceeded") == true)
    }

    @Test func memoryLimitStopsTheScript() async throws {
        var profile = Profile.isolated
        profile.sandbox.memoryMB = 8
        let run = try await runLua("local t = {} for i = 1, 1e8 do t[i] = ('x'):rep(100) .. i end", profile: profile)
        #expect(run.result.status == .limitExceeded)
        #expect(run.result.exitCode == 3)
    }

    @Test func requireCannotLoadNativeCode() async throws {
        let run = try await runLua(
            """
            print(package.cpath, package.loadlib, #package.searchers)
            print(pcall(require, "socket.core"))
            """)
        #expect(run.lines.first == "\tnil\t2")
        #expect(run.output.contains("false\tmodule 'socket.core' not found"))
    }

    @Test func severalScriptsRunConcurrently() async throws {
        // Each script waits on a task of its own; the host keeps both in flight.
        let script = """
            local gpu = require "gpu"
            local data = gpu.data.blobs{samples = 2000, features = 8, centers = 3, seed = 1}
            local m = gpu.nn.mlp{inputs = 8, hidden = {64}, outputs = 3, seed = 1}
            local r = gpu.submit(gpu.training{model = m, data = data, epochs = 3}):await()
            print("done", r.metrics.epochs)
            """
        let run = try await runLua([script, script])
        #expect(run.results.allSatisfy { $0.status == .success })
        #expect(run.lines == ["done\t3", "done\t3"])
        #expect(await run.orchestrator.usage().peakRunningTasks == 2, "both scripts' tasks were in flight at once")
    }
}

@Suite struct VulkanFromLuaTests {
    /// Memory-management tasks on the Vulkan backend act on the real device pool.
    @Test func memoryManagementTasksActOnTheDevicePool() async throws {
        let out = OutputBuffer()
        let profile = Profile.isolated
        let env = RunEnvironment(
            orchestrator: GPUTaskOrchestrator(profile: profile), profile: profile, backend: .vulkan,
            backendName: "vulkan", backendReason: "test", seed: 0, stdlibPath: try StdlibLocator.find(),
            output: { out.append($0) })
        let path = try TestPaths.write(
            """
            local gpu = require "gpu"
            local d = gpu.data.blobs{samples = 256, features = 8, centers = 3, seed = 1}
            local m = gpu.nn.mlp{inputs = 8, hidden = {32}, outputs = 3, seed = 1}
            local r = gpu.submit(gpu.training{model = m, data = d, epochs = 1}):await()
            print(r.backend, r.device.gpu_time_ms > 0, #r.device.kernels > 0)
            local s = gpu.submit(gpu.memory_management{operation = "stats"}):await()
            print(s.device_pool.memory_path, s.device_pool.blocks >= 1)
            local g = gpu.submit(gpu.memory_management{operation = "garbage_collection", cleanup_strategy = "immediate"}):await()
            -- The pool is the process's shared one: Vulkan tests running beside this one may hold
            -- allocations of their own (26 once, under the validation layer's parallel rerun), so
            -- what is checked is that collecting never adds any, not that the pool is empty.
            print(g.after.blocks <= g.before.blocks, g.after.allocations <= g.before.allocations)
            """, name: "mem.lua")
        let r = await LuaHost(environment: env).runDetached([ScriptRequest(path: path)])
        #expect(r[0].status == .success, "\(r[0].message ?? "")")
        #expect(out.value.split(separator: "\n").map(String.init) == ["vulkan\ttrue\ttrue", "mapped\ttrue", "true\ttrue"], "\(out.value)")
    }
}
