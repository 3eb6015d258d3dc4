import GPUFlowCore
import GPUFlowLua
import GPUFlowTesting
import Testing

/// The bad paths of DESIGN.md, each with its exit code and one clear line.
@Suite struct ScriptErrorTests {
    @Test func syntaxErrorNamesFileAndLine() async throws {
        let run = try await runLua("local x = 1\nlocal y = = 2\n")
        #expect(run.result.status == .scriptError && run.result.exitCode == 1)
        #expect(run.result.message?.contains("script1.lua:2:") == true)
    }

    @Test func runtimeErrorInsideAnAwaitedTaskCarriesBothLines() async throws {
        let run = try await runLua(
            """
            local gpu = require "gpu"
            local h = gpu.submit(function()
              error("boom")
            end, {name = "exploder"})
            h:await()
            """)
        #expect(run.result.exitCode == 1)
        let m = try #require(run.result.message)
        #expect(m.contains("script1.lua:5:"), "the await line: \(m)")
        #expect(m.contains("task exploder (#1) failed"), "\(m)")
        #expect(m.contains("script1.lua:3: boom"), "the line inside the task: \(m)")
        #expect(run.result.traceback?.contains("stack traceback") == true)
    }

    @Test func failedGPUTaskSurfacesAtAwait() async throws {
        let run = try await runLua(
            """
            local gpu = require "gpu"
            local m = gpu.nn.mlp{inputs = 2, outputs = 2, seed = 1}
            gpu.submit(gpu.memory_management{operation = "optimize"}):await()   -- the cpu backend has no device pool
            """)
        // A task that needs a device the run lacks ends the run as "no usable device".
        #expect(run.result.status == .failed(.device) && run.result.exitCode == 4)
        #expect(run.result.message?.contains("memory_management 'optimize' acts on a device memory pool; the cpu backend has none") == true)
    }

    @Test func dependencyCycleIsRefusedAtSubmit() async throws {
        let run = try await runLua(
            """
            local gpu = require "gpu"
            gpu.submit_graph{
              {key = "train", task = function() end, after = {"tune"}},
              {key = "infer", task = function() end, after = {"train"}},
              {key = "tune", task = function() end, after = {"infer"}},
            }
            """)
        #expect(run.result.exitCode == 1)
        #expect(
            run.result.message?.contains("script1.lua:2: gpu.submit_graph: dependency cycle: train -> tune -> infer -> train") == true,
            "\(run.result.message ?? "")")
        let records = await run.orchestrator.records()
        #expect(records.isEmpty)
    }

    @Test func graphResultsFlowIntoDependants() async throws {
        let run = try await runLua(
            """
            local gpu = require "gpu"
            local g = gpu.submit_graph{
              {key = "sum", task = function(a, b) return a + b end, after = {"a", "b"}},
              {key = "a", task = function() return 40 end},
              {key = "b", task = function() return 2 end},
            }
            print(g.sum:await())
            """)
        #expect(run.lines == ["42"], "\(run.result.message ?? "")")
    }

    @Test func badCSVExitsWithTwoAndNamesFileAndLine() async throws {
        let csv = try TestPaths.write("a,b,label\n1,2,0\n1,oops,1\n", name: "bad.csv")
        let run = try await runLua("local d = require('gpu.data').csv('\(csv)')")
        #expect(run.result.status == .inputError && run.result.exitCode == 2)
        #expect(run.result.message?.contains("bad.csv:3:2: column 'b' holds 'oops', which is not a number like the cells above it") == true)
        let ragged = try TestPaths.write("a,b,label\n1,2,0\n1,1\n", name: "ragged.csv")
        let r2 = try await runLua("require('gpu.data').csv('\(ragged)')")
        #expect(r2.result.exitCode == 2)
        #expect(r2.result.message?.contains("ragged.csv:3: ragged row: 2 fields, the header has 3") == true)
    }

    /// The kind of an error travels with it: a bad file is exit 2 whether the main chunk read it,
    /// a Lua task read it, or a task's work read it, and however the script passed it on.
    @Test func aBadFileInsideATaskStillExitsWithTwo() async throws {
        let csv = try TestPaths.write("a,b,label\n1,2,0\n1,oops,1\n", name: "bad-in-task.csv")
        let checkpoint = try TestPaths.write("{\"not\": \"a checkpoint\"}", name: "bad.ckpt")
        let cases: [(String, String)] = [
            ("a Lua task", "gpu.submit(function() return require('gpu.data').csv('\(csv)') end):await()"),
            (
                "a task's work",
                """
                local ds = require('gpu.data').blobs{samples = 20, features = 2, centers = 2}
                gpu.submit(gpu.training{model = nn.mlp{inputs = 2, hidden = {4}, outputs = 2}, data = ds, epochs = 1,
                                        resume_from = '\(checkpoint)'}):await()
                """
            ),
            (
                "caught and raised again",
                """
                local ok, e = pcall(function() gpu.submit(function() return require('gpu.data').csv('\(csv)') end):await() end)
                error("stage failed: " .. tostring(e))
                """
            ),
        ]
        for (what, body) in cases {
            let run = try await runLua("local gpu = require 'gpu'\nlocal nn = require 'gpu.nn'\n" + body)
            #expect(
                run.result.status == .inputError && run.result.exitCode == 2, "\(what): \(run.result.status) \(run.result.message ?? "")")
        }
        // The script's own error, even one that mentions a file, stays a script error.
        let own = try await runLua("gpu = require 'gpu'\ngpu.submit(function() error('cannot use bad-in-task.csv') end):await()")
        #expect(own.result.status == .scriptError && own.result.exitCode == 1, "\(own.result.message ?? "")")
    }

    @Test func missingScriptIsAnInputError() async throws {
        let out = OutputBuffer()
        let env = RunEnvironment(
            orchestrator: GPUTaskOrchestrator(profile: .isolated), profile: .isolated, backend: .cpu,
            backendName: "cpu", backendReason: "test", seed: 0, stdlibPath: try StdlibLocator.find(),
            output: { out.append($0) })
        let r = await LuaHost(environment: env).runDetached([ScriptRequest(path: "/no/such/script.lua")])
        #expect(r[0].exitCode == 2)
        #expect(r[0].message == "cannot open script /no/such/script.lua: no such file")
    }

    @Test func unawaitedFailureIsReportedAsAWarning() async throws {
        let run = try await runLua(
            """
            local gpu = require "gpu"
            gpu.submit(function() error("lost") end, {name = "orphan"})
            """)
        #expect(run.result.status == .success)
        #expect(run.result.warnings.count == 1)
        #expect(run.result.warnings.first?.contains("task orphan (#1) was never awaited and failed") == true)
    }

    @Test func scriptErrorCancelsItsPendingTasks() async throws {
        let run = try await runLua(
            """
            local gpu = require "gpu"
            local m = gpu.nn.mlp{inputs = 2, hidden = {256}, outputs = 2, seed = 1}
            local d = gpu.data.blobs{samples = 20000, features = 2, centers = 2, seed = 1}
            gpu.submit(gpu.training{model = m, data = d, epochs = 1000})
            error("stop here")
            """)
        #expect(run.result.exitCode == 1)
        let records = await run.orchestrator.records()
        #expect(records.count == 1 && records[0].state == .cancelled)
    }

    @Test func aTimedOutTrainingTaskStopsAndFailsWithTheReason() async throws {
        let run = try await runLua(
            """
            local gpu = require "gpu"
            local m = gpu.nn.mlp{inputs = 2, hidden = {256}, outputs = 2, seed = 1}
            local d = gpu.data.blobs{samples = 20000, features = 2, centers = 2, seed = 1}
            local h = gpu.submit(gpu.training{model = m, data = d, epochs = 1000, timeout_s = 0.2})
            local ok, err = pcall(h.await, h)
            print(ok, err)
            print(h:status().state)
            """)
        #expect(run.result.status == .success, "\(run.result.message ?? "")")
        #expect(run.lines.first?.contains("timed out after 0.2 s") == true, "\(run.output)")
        // The message says which two settings govern the limit.
        #expect(
            run.lines.first?.contains("timeout_s") == true && run.lines.first?.contains("resources.task_timeout_s") == true, "\(run.output)"
        )
        #expect(run.lines.last == "failed")
        // The freed slot and memory are visible at once.
        #expect(await run.orchestrator.usage().memoryInUseMB == 0)
    }

    @Test func modelsSaveLoadAndFineTuneFromLua() async throws {
        let path = try TestPaths.temporaryDirectory().appendingPathComponent("base.gfmodel").path
        let run = try await runLua(
            """
            local gpu = require "gpu"
            local ds = gpu.data.blobs{samples = 90, features = 3, centers = 3, seed = 1}
            local m = gpu.nn.mlp{inputs = 3, hidden = {6}, outputs = 3, seed = 1}
            local id = m:save("\(path)")
            local back = gpu.nn.load("\(path)")
            print(id == m.id, back.id == m.id, back.hidden[1])
            local r = gpu.submit(gpu.training{data = ds, epochs = 2, algorithm = gpu.transfer{base_model = "\(path)"}}):await()
            print(r.metrics.base_model == m.id, table.concat(r.metrics.frozen_layers, ","))
            """)
        #expect(run.result.status == .success, "\(run.result.message ?? "")")
        #expect(run.lines == ["true\ttrue\t6", "true\t1"])
    }

    @Test func reinforcementLearningFromLua() async throws {
        let run = try await runLua(
            """
            local gpu = require "gpu"
            local policy = gpu.nn.mlp{inputs = 4, hidden = {16}, outputs = 2, activation = "tanh", seed = 1}
            local r = gpu.submit(gpu.training{model = policy, algorithm = gpu.reinforcement{episodes = 64, policy_type = "actor_critic"},
                                              environment = {name = "cartpole", max_steps = 50}, seed = 3}):await()
            print(r.metrics.episodes, #r.returns, r.metrics.environment, r.model.inputs)
            """)
        #expect(run.result.status == .success, "\(run.result.message ?? "")")
        #expect(run.lines == ["64\t64\tcartpole\t4"])
    }

    @Test func evolutionaryTrainingFromLua() async throws {
        let run = try await runLua(
            """
            local gpu = require "gpu"
            local ds = gpu.data.blobs{samples = 120, features = 3, centers = 2, seed = 1}
            local m = gpu.nn.mlp{inputs = 3, hidden = {4}, outputs = 2, seed = 1}
            local r = gpu.submit(gpu.training{model = m, data = ds, epochs = 5, algorithm = gpu.evolutionary{population_size = 8}}):await()
            print(r.metrics.epochs, #r.history, r.history[5].loss <= r.history[1].loss)
            """)
        #expect(run.result.status == .success, "\(run.result.message ?? "")")
        #expect(run.lines == ["5\t5\ttrue"])
    }

    static let corridor = """
        local gpu = require "gpu"
        -- A corridor of 6 cells: start at 1, +1 for reaching 6; action 1 = left, 2 = right.
        local Corridor = {}
        Corridor.__index = Corridor
        function Corridor.new() return setmetatable({pos = 1, steps = 0}, Corridor) end
        function Corridor:obs() local o = {0, 0, 0, 0, 0, 0}; o[self.pos] = 1; return o end
        function Corridor:reset() self.pos, self.steps = 1, 0; return self:obs() end
        function Corridor:step(action)
          self.steps = self.steps + 1
          self.pos = math.max(1, math.min(6, self.pos + (action == 2 and 1 or -1)))
          return self:obs(), self.pos == 6 and 1 or -0.01, self.pos == 6 or self.steps >= 30
        end
        """

    @Test func anEnvironmentWrittenInLuaIsLearned() async throws {
        let run = try await runLua(
            Self.corridor + "\n" + """
                local policy = gpu.nn.mlp{inputs = 6, hidden = {8}, outputs = 2, seed = 1}
                local r = gpu.submit(gpu.training{model = policy, algorithm = gpu.reinforcement{episodes = 400, policy_type = "actor_critic"},
                  environment = {name = "corridor", observations = 6, actions = 2, max_steps = 30, new = Corridor.new}, seed = 1}):await()
                local first = 0
                for i = 1, 100 do first = first + r.returns[i] end
                print(r.metrics.environment, r.metrics.average_return_last100 > first / 100, r.metrics.average_return_last100 > 0.8)
                """)
        #expect(run.result.status == .success, "\(run.result.message ?? "")")
        #expect(run.lines == ["corridor\ttrue\ttrue"])
    }

    @Test func aBrokenLuaEnvironmentFailsTheTaskWithItsError() async throws {
        let run = try await runLua(
            Self.corridor + "\n" + """
                function Corridor:step(action) return {1, 2}, 0, false end   -- two numbers where six belong
                local policy = gpu.nn.mlp{inputs = 6, outputs = 2, seed = 1}
                gpu.submit(gpu.training{model = policy, algorithm = gpu.reinforcement{episodes = 4},
                  environment = {observations = 6, actions = 2, new = Corridor.new}}):await()
                """)
        #expect(run.result.exitCode == 1)
        #expect(
            run.result.message?.contains("environment step: observation has 2 numbers, expected 6") == true, "\(run.result.message ?? "")")
    }

    @Test func feedbackAndInsightsFromLua() async throws {
        let run = try await runLua(
            """
            local gpu = require "gpu"
            local a = gpu.submit(function() return {x = 1} end):await()
            local b = gpu.submit(function() return {x = 2} end)
            b:await()
            local boosts = gpu.optimize_scheduling{{task = a, satisfaction = 0.1, suggestions = {"more"}}, {task = b, satisfaction = 0.1}}
            print(boosts.plain)
            for _, i in ipairs(gpu.insights()) do print(i.category) end
            print(pcall(gpu.optimize_scheduling, {{task = b, satisfaction = 2}}))
            """)
        #expect(run.lines.first == "6", "\(run.output)")
        #expect(run.lines.contains("resource_allocation"), "\(run.output)")
        #expect(run.lines.last?.contains("satisfaction must be at most 1") == true)
    }
}
