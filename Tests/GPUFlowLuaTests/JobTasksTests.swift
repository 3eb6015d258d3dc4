import GPUFlowCore
import Testing

@testable import GPUFlowLua

/// The script's own table of its tasks, and the coroutines function tasks run on.
@Suite struct JobTasksTests {
    @Test func tasksAddedOutOfOrderAreFoundAndCountedOnce() {
        var t = JobTasks()
        for id in [5, 1, 9, 3, 7, 2] { t.add(id, name: "n\(id % 2)") }
        t.add(3, name: "again")  // a second add of the same id changes nothing
        t.add(-1, name: "channel get")
        #expect(t.unended == 7 && !t.allEnded)
        #expect(t.contains(9) && t.contains(-1) && !t.contains(4) && !t.contains(10) && !t.contains(-2))
        #expect(t.name(3) == "n1" && t.name(2) == "n0" && t.name(-1) == "channel get" && t.name(4) == nil)
        t.end(3, .success(.integer(3)))
        t.end(3, .success(.integer(4)))  // the latest word, counted once
        t.end(4, .success(.null))  // not this script's: ignored
        #expect(t.unended == 6)
        if case .success(.integer(let n))? = t.outcome(3) { #expect(n == 4) } else { Issue.record("no outcome for 3") }
        #expect(t.unendedTasks == [1, 2, 5, 7, 9])
        #expect(t.unendedExternal.map(\.id) == [-1])
        t.end(-1, .failure(TaskFailure(taskID: -1, taskName: "channel get", reason: .cancelled)))
        for id in [1, 2, 5, 7, 9] { t.end(id, .success(.null)) }
        #expect(t.allEnded && t.unendedTasks.isEmpty && t.unendedExternal.isEmpty)
        t.markAwaited(5)
        var order: [TaskID] = []
        var awaited: [TaskID] = []
        t.forEach { id, _, a, _ in
            order.append(id)
            if a { awaited.append(id) }
        }
        #expect(order == [-1, 1, 2, 3, 5, 7, 9] && awaited == [5])
    }

    @Test func functionTasksOnReusedCoroutinesKeepTheirOwnResultsAndErrors() async throws {
        let run = try await runLua(
            """
            local gpu = require "gpu"
            local hs = {}
            local box = gpu.channel("box", 1000)
            for i = 1, 300 do
              hs[i] = gpu.submit(function()
                local mine = i
                if i % 50 == 0 then error("task " .. i .. " fails") end
                if i % 7 == 0 then box:put(i) end  -- yields to the host and is resumed
                return {i = mine, co = tostring(coroutine.running())}
              end)
            end
            local ok_n, failed, threads = 0, 0, {}
            for i = 1, 300 do
              local ok, r = pcall(function() return hs[i]:await() end)
              if ok then
                assert(r.i == i, "task " .. i .. " got " .. tostring(r.i))
                ok_n = ok_n + 1
                threads[r.co] = true
              else
                assert(tostring(r):find("task " .. i .. " fails"), tostring(r))
                failed = failed + 1
              end
            end
            local distinct = 0
            for _ in pairs(threads) do distinct = distinct + 1 end
            print(ok_n, failed, distinct)
            """)
        #expect(run.result.status == .success, "\(run.result.message ?? "")")
        let fields = run.output.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        #expect(fields.count == 3)
        if fields.count == 3 {
            #expect(fields[0] == 294 && fields[1] == 6)
            // Coroutines are reused: far fewer distinct ones than tasks.
            #expect(fields[2] < 100, "distinct coroutines: \(fields[2])")
        }
    }
}
