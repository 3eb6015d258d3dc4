import Foundation
import GPUFlowCore
import Testing

/// Records the order and overlap of task starts.
private actor Trace {
    var starts: [String] = []
    var running = 0
    var peak = 0
    var peakByAgent: [String: Int] = [:]
    var runningByAgent: [String: Int] = [:]

    func begin(_ name: String, agent: String? = nil) {
        starts.append(name)
        running += 1
        peak = max(peak, running)
        if let agent {
            runningByAgent[agent, default: 0] += 1
            peakByAgent[agent] = max(peakByAgent[agent] ?? 0, runningByAgent[agent] ?? 0)
        }
    }
    func end(agent: String? = nil) {
        running -= 1
        if let agent { runningByAgent[agent, default: 0] -= 1 }
    }
}

private func config(
    concurrent: Int = 10, poolMB: Int = 4096, timeout: Double = 30,
    agents: [String: Profile.Agent] = [:]
) -> GPUTaskOrchestrator.Configuration {
    var p = Profile()
    p.resources.maxConcurrentTasks = concurrent
    p.resources.memoryPoolMB = poolMB
    p.resources.taskTimeoutS = timeout
    p.agents = agents
    return .init(profile: p)
}

private func task(
    _ name: String, _ trace: Trace, sleepMS: UInt64 = 0, priority: TaskPriority = .normal, memoryMB: Int = 0,
    after: [TaskID] = [], agent: String? = nil, timeoutS: Double? = nil,
    result: TaskValue = .null, fails: String? = nil
) -> TaskSpec {
    TaskSpec(
        name: name, kind: .plain, priority: priority, dependencies: after, memoryMB: memoryMB, timeoutS: timeoutS,
        agent: agent
    ) { _ in
        await trace.begin(name, agent: agent)
        if sleepMS > 0 { try? await Task.sleep(nanoseconds: sleepMS * 1_000_000) }
        await trace.end(agent: agent)
        if let fails { throw SubmitError.invalid(fails) }
        return result
    }
}

private func failure(_ o: TaskOutcome) -> TaskFailure? {
    if case .failure(let f) = o { return f }
    return nil
}

/// Outcomes delivered to `enqueue`'s callback, with how often each task's arrived.
private final class EndLog: @unchecked Sendable {
    private let lock = NSLock()
    private var calls: [TaskID: Int] = [:]
    private var values: [TaskID: TaskValue] = [:]
    func add(_ id: TaskID, _ o: TaskOutcome) {
        lock.lock()
        calls[id, default: 0] += 1
        if case .success(let v) = o { values[id] = v }
        lock.unlock()
    }
    var snapshot: (calls: [TaskID: Int], values: [TaskID: TaskValue]) {
        lock.lock()
        defer { lock.unlock() }
        return (calls, values)
    }
}

@Suite struct OrchestratorTests {
    @Test func enqueueHandsOutIdsAtOnceInOrderWithSubmitAndReportsEachEndOnce() async throws {
        let o = GPUTaskOrchestrator(configuration: config(concurrent: 2, poolMB: 100))
        let t = Trace(), log = EndLog()
        let first = try o.enqueue(task("a", t, result: .integer(1)), onEnd: log.add)
        let second = try o.enqueue(task("b", t, after: [first], result: .integer(2)), onEnd: log.add)
        let third = try await o.submit(task("c", t, after: [second]))
        #expect(second == first + 1 && third == first + 2, "enqueue and submit share one id sequence")
        #expect(await o.status(second)?.name == "b", "an enqueued task is visible to every query at once")
        // The same refusals as submit, at once, and no id is spent on them.
        #expect(throws: SubmitError.self) { try o.enqueue(task("future", t, after: [third + 5])) }
        #expect(throws: SubmitError.self) { try o.enqueue(task("huge", t, memoryMB: 101)) }
        let fourth = try o.enqueue(task("d", t, result: .integer(4)), onEnd: log.add)
        #expect(fourth == third + 1)
        for id in [first, second, third, fourth] {
            if case .failure(let f) = await o.wait(id) { Issue.record("task #\(id) failed: \(f)") }
        }
        let ended = log.snapshot
        #expect(ended.calls == [first: 1, second: 1, fourth: 1], "one callback per enqueued task, none for submitted ones")
        #expect(ended.values[second]?.doubleValue == 2 && ended.values[fourth]?.doubleValue == 4)
        let order = await t.starts
        let a = try #require(order.firstIndex(of: "a")), b = try #require(order.firstIndex(of: "b")),
            c = try #require(order.firstIndex(of: "c"))
        #expect(a < b && b < c, "dependencies across enqueue and submit hold: \(order)")
    }

    @Test func enqueueFromManyThreadsLosesNoTask() async throws {
        let o = GPUTaskOrchestrator(configuration: config(concurrent: 4))
        let log = EndLog()
        let ids = try await withThrowingTaskGroup(of: [TaskID].self) { group in
            for w in 0..<4 {
                group.addTask {
                    try (0..<250).map { i in
                        try o.enqueue(TaskSpec(name: "w\(w)-\(i)", kind: .plain) { _ in .integer(i) }, onEnd: log.add)
                    }
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(Set(ids).count == 1000 && ids.min() == 1 && ids.max() == 1000)
        for id in ids { _ = await o.wait(id) }
        #expect(log.snapshot.calls.count == 1000 && log.snapshot.calls.values.allSatisfy { $0 == 1 })
        #expect(await o.records().allSatisfy { $0.state == .succeeded })
    }

    @Test func startsQueuedTasksInPriorityOrder() async throws {
        let o = GPUTaskOrchestrator(configuration: config(concurrent: 1))
        let t = Trace()
        let blocker = try await o.submit(task("blocker", t, sleepMS: 150))
        var ids = [blocker]
        for (name, p) in [("low", TaskPriority.low), ("normal", .normal), ("critical", .critical), ("high", .high)] {
            ids.append(try await o.submit(task(name, t, priority: p)))
        }
        for id in ids { _ = await o.wait(id) }
        #expect(await t.starts == ["blocker", "critical", "high", "normal", "low"])
    }

    @Test func boostMovesATaskAheadOfItsPriority() async throws {
        let o = GPUTaskOrchestrator(configuration: config(concurrent: 1))
        let t = Trace()
        let blocker = try await o.submit(task("blocker", t, sleepMS: 100))
        var boosted = task("boosted-low", t, priority: .low)
        boosted.boost = 2 * TaskPriority.step
        let a = try await o.submit(task("normal", t))
        let b = try await o.submit(boosted)
        for id in [blocker, a, b] { _ = await o.wait(id) }
        #expect(await t.starts == ["blocker", "boosted-low", "normal"])
    }

    @Test func neverRunsMoreThanTheConcurrencyLimit() async throws {
        let o = GPUTaskOrchestrator(configuration: config(concurrent: 2))
        let t = Trace()
        var ids: [TaskID] = []
        for i in 0..<6 { ids.append(try await o.submit(task("t\(i)", t, sleepMS: 30))) }
        for id in ids { _ = await o.wait(id) }
        #expect(await t.peak == 2)
        #expect(await o.usage().peakRunningTasks == 2)
    }

    @Test func admitsByMemoryPool() async throws {
        let o = GPUTaskOrchestrator(configuration: config(poolMB: 1000))
        let t = Trace()
        let a = try await o.submit(task("a", t, sleepMS: 60, memoryMB: 600))
        let b = try await o.submit(task("b", t, sleepMS: 60, memoryMB: 600))
        for id in [a, b] { _ = await o.wait(id) }
        #expect(await t.peak == 1, "two 600 MB tasks must not share a 1000 MB pool")
        let t2 = Trace()
        let c = try await o.submit(task("c", t2, sleepMS: 60, memoryMB: 600))
        let d = try await o.submit(task("d", t2, sleepMS: 60, memoryMB: 300))
        for id in [c, d] { _ = await o.wait(id) }
        #expect(await t2.peak == 2, "600 + 300 MB fit together")
        #expect(await o.usage().peakMemoryMB == 900)
        #expect(await o.usage().memoryInUseMB == 0)
    }

    @Test func refusesATaskLargerThanThePool() async throws {
        let o = GPUTaskOrchestrator(configuration: config(poolMB: 100))
        await #expect(throws: SubmitError.exceedsPool(name: "big", memoryMB: 101, poolMB: 100)) {
            try await o.submit(task("big", Trace(), memoryMB: 101))
        }
        #expect(await o.records().isEmpty)
    }

    @Test func dependencyRunsFirstAndPassesItsResult() async throws {
        let o = GPUTaskOrchestrator(configuration: config())
        let t = Trace()
        let a = try await o.submit(task("a", t, sleepMS: 50, result: .integer(41)))
        let b = try await o.submit(
            TaskSpec(name: "b", kind: .plain, dependencies: [a]) { ctx in
                await t.begin("b")
                await t.end()
                guard case .integer(let v) = ctx.dependencyResults.first else { return .null }
                return .integer(v + 1)
            })
        guard case .success(.integer(let v)) = await o.wait(b) else {
            Issue.record("b did not succeed")
            return
        }
        #expect(v == 42)
        #expect(await t.starts == ["a", "b"])
    }

    @Test func failedDependencyFailsItsDependantsWithTheCause() async throws {
        let o = GPUTaskOrchestrator(configuration: config())
        let t = Trace()
        let a = try await o.submit(task("a", t, fails: "disk on fire"))
        let b = try await o.submit(task("b", t, after: [a]))
        let c = try await o.submit(task("c", t, after: [b]))
        let fb = try #require(failure(await o.wait(b)))
        #expect(fb.reason == .dependencyFailed(id: a, name: "a", cause: "disk on fire"))
        let fc = try #require(failure(await o.wait(c)))
        #expect(fc.cause == "disk on fire")
        #expect(await t.starts == ["a"], "dependants of a failed task never start")
        // A task submitted after its dependency already failed fails at once too.
        let d = try await o.submit(task("d", t, after: [a]))
        #expect(failure(await o.wait(d))?.cause == "disk on fire")
    }

    @Test func refusesUnknownDependenciesAndCycles() async throws {
        let o = GPUTaskOrchestrator(configuration: config())
        let t = Trace()
        await #expect(throws: SubmitError.self) { try await o.submit(task("x", t, after: [999])) }
        do {
            _ = try await o.submitGraph([
                .init(key: "a", spec: task("a", t), after: ["c"]),
                .init(key: "b", spec: task("b", t), after: ["a"]),
                .init(key: "c", spec: task("c", t), after: ["b"]),
            ])
            Issue.record("a cycle was accepted")
        } catch let e as SubmitError {
            #expect(e.isCycle)
            #expect(e.description == "dependency cycle: a -> c -> b -> a")
        }
        await #expect(throws: SubmitError.self) {
            try await o.submitGraph([.init(key: "a", spec: task("a", t), after: ["nope"])])
        }
        #expect(await o.records().isEmpty, "a refused graph queues nothing")
    }

    @Test func graphRunsInDependencyOrder() async throws {
        let o = GPUTaskOrchestrator(configuration: config())
        let t = Trace()
        let ids = try await o.submitGraph([
            .init(key: "infer", spec: task("infer", t), after: ["train"]),
            .init(key: "train", spec: task("train", t, sleepMS: 30), after: ["prep"]),
            .init(key: "prep", spec: task("prep", t, sleepMS: 30)),
        ])
        _ = await o.wait(try #require(ids["infer"]))
        #expect(await t.starts == ["prep", "train", "infer"])
    }

    @Test func timesOutAndFreesTheSlot() async throws {
        let o = GPUTaskOrchestrator(configuration: config(concurrent: 1))
        let t = Trace()
        let slow = try await o.submit(task("slow", t, sleepMS: 5_000, memoryMB: 10, timeoutS: 0.1))
        let next = try await o.submit(task("next", t))
        let f = try #require(failure(await o.wait(slow)))
        #expect(f.reason == .timedOut(seconds: 0.1))
        guard case .success = await o.wait(next) else {
            Issue.record("the task after a timed-out one did not run")
            return
        }
    }

    /// A cancelled (or timed-out) task whose work has not stopped yet keeps its slot and memory
    /// — counted as draining — so admission never over-commits; they come back when it returns.
    @Test func aCancelledTaskDrainsBeforeItsSlotAndMemoryAreGivenBack() async throws {
        final class Gate: @unchecked Sendable {
            private let lock = NSLock()
            private var flags = (open: false, started: false)
            var open: Bool {
                get { lock.withLock { flags.open } }
                set { lock.withLock { flags.open = newValue } }
            }
            var started: Bool {
                get { lock.withLock { flags.started } }
                set { lock.withLock { flags.started = newValue } }
            }
        }
        let gate = Gate()
        let o = GPUTaskOrchestrator(configuration: config(concurrent: 1, poolMB: 100))
        let stubborn = TaskSpec(name: "stubborn", kind: .plain, memoryMB: 60) { _ in
            gate.started = true
            // Ignores cancellation until the gate opens, as a kernel mid-dispatch would.
            while true {
                if gate.open { return .null }
                await Task.yield()
            }
        }
        let id = try await o.submit(stubborn)
        let t = Trace()
        let next = try await o.submit(task("next", t, memoryMB: 60))
        while !gate.started { await Task.yield() }
        #expect(await o.cancel(id))
        #expect(failure(await o.wait(id))?.reason == .cancelled, "waiters hear of the cancel at once")
        let during = await o.usage()
        #expect(during.drainingTasks == 1 && during.runningTasks == 1 && during.memoryInUseMB == 60, "still held while it drains")
        #expect(await o.status(next)?.state == .queued, "admission does not count the draining slot or memory free")
        gate.open = true
        guard case .success = await o.wait(next) else {
            Issue.record("the next task did not run once the cancelled work stopped")
            return
        }
        let after = await o.usage()
        #expect(after.drainingTasks == 0 && after.runningTasks == 0 && after.memoryInUseMB == 0)
    }

    @Test func cancelsQueuedTasksAndTheirDependants() async throws {
        let o = GPUTaskOrchestrator(configuration: config(concurrent: 1))
        let t = Trace()
        let blocker = try await o.submit(task("blocker", t, sleepMS: 100))
        let queued = try await o.submit(task("queued", t))
        let dependant = try await o.submit(task("dependant", t, after: [queued]))
        #expect(await o.cancel(queued))
        #expect(failure(await o.wait(queued))?.reason == .cancelled)
        #expect(failure(await o.wait(dependant))?.cause == "cancelled")
        _ = await o.wait(blocker)
        #expect(await o.cancel(blocker) == false, "an ended task cannot be cancelled")
        #expect(await t.starts == ["blocker"])
    }

    @Test func enforcesPerAgentConcurrency() async throws {
        var alice = Profile.Agent()
        alice.maxConcurrentTasks = 1
        let o = GPUTaskOrchestrator(configuration: config(agents: ["alice": alice]))
        let t = Trace()
        var ids: [TaskID] = []
        for i in 0..<3 { ids.append(try await o.submit(task("a\(i)", t, sleepMS: 40, agent: "alice"))) }
        for i in 0..<2 { ids.append(try await o.submit(task("b\(i)", t, sleepMS: 40, agent: "bob"))) }
        for id in ids { _ = await o.wait(id) }
        #expect(await t.peakByAgent["alice"] == 1)
        #expect(await t.peakByAgent["bob"] == 2, "other agents are not held back")
    }

    @Test func feedbackBoostsUnsatisfiedTaskTypes() async throws {
        let o = GPUTaskOrchestrator(configuration: config())
        let t = Trace()
        let a = try await o.submit(task("a", t))
        let b = try await o.submit(task("b", t))
        _ = await o.wait(a)
        _ = await o.wait(b)
        #expect(await o.learningBoost(for: "plain") == 0)
        try await o.feedback(a, satisfaction: 0.1, suggestions: ["more memory"])
        #expect(await o.learningBoost(for: "plain") == 0, "one judgement is not enough to act on")
        try await o.feedback(b, satisfaction: 0.1, suggestions: ["more memory"])
        #expect(await o.learningBoost(for: "plain") == 6)
        let insights = await o.insights()
        #expect(insights.contains { $0.category == Insight.resources && $0.description.contains("+6 priority steps") })
        #expect(insights.contains { $0.category == Insight.resources && $0.description.contains("\"more memory\" (2×)") })
        await #expect(throws: SubmitError.self) { try await o.feedback(a, satisfaction: 1.5, suggestions: []) }
        await #expect(throws: SubmitError.self) { try await o.feedback(12345, satisfaction: 0.5, suggestions: []) }
    }

    /// Work whose sizes the engine knows: it predicts memory for admission and duration for order.
    private func shaped(_ name: String, _ trace: Trace, rows: Double, memoryMB: Int = 0) -> TaskSpec {
        var s = task(name, trace, memoryMB: memoryMB)
        s.workload = WorkloadShape(kind: "training", features: ["rows": rows, "flops": rows * 1000])
        return s
    }

    private func learned() -> GPULearningEngine {
        let e = GPULearningEngine(enabled: true)
        for i in 0..<12 {
            let rows = Double(100 * (1 + i % 4))
            e.record(
                ExecutionRecord(
                    kind: "training", backend: "simd", device: "host", features: ["rows": rows, "flops": rows * 1000],
                    durationS: rows * 1e-3, peakMemoryBytes: rows * 1_048_576, at: Double(i)))
        }
        return e
    }

    @Test func admissionUsesPredictedMemoryWhenATaskDeclaresNone() async throws {
        let o = GPUTaskOrchestrator(configuration: config(poolMB: 1000), learning: learned())
        let t = Trace()
        let predicted = try await o.submit(shaped("undeclared", t, rows: 400))
        let declared = try await o.submit(shaped("declared", t, rows: 400, memoryMB: 7))
        let plain = try await o.submit(task("plain", t))
        for id in [predicted, declared, plain] { _ = await o.wait(id) }
        let r = try #require(await o.status(predicted))
        #expect(r.memorySource == "predicted")
        #expect(r.memoryMB >= 380 && r.memoryMB <= 420, "predicted \(r.memoryMB) MB")
        #expect(await o.status(declared)?.memorySource == "declared")
        #expect(await o.status(declared)?.memoryMB == 7)
        #expect(await o.status(plain)?.memorySource == "none")
        // Predicted peaks bound concurrency like declared ones: two 400 MB tasks fit a 1000 MB pool, three do not.
        let t2 = Trace()
        let o2 = GPUTaskOrchestrator(configuration: config(poolMB: 1000), learning: learned())
        var ids: [TaskID] = []
        for i in 0..<3 {
            var s = shaped("big\(i)", t2, rows: 400)
            let inner = s.work
            s.work = { ctx in
                try? await Task.sleep(nanoseconds: 60_000_000); return try await inner(ctx)
            }
            ids.append(try await o2.submit(s))
        }
        for id in ids { _ = await o2.wait(id) }
        #expect(await o2.usage().peakMemoryMB <= 1000)
        #expect(await o2.usage().peakRunningTasks == 2)
    }

    @Test func equalPriorityRunsShorterPredictedWorkFirst() async throws {
        let o = GPUTaskOrchestrator(configuration: config(concurrent: 1), learning: learned())
        let t = Trace()
        let blocker = try await o.submit(task("blocker", t, sleepMS: 100))
        let long = try await o.submit(shaped("long", t, rows: 400, memoryMB: 1))
        let short = try await o.submit(shaped("short", t, rows: 100, memoryMB: 1))
        for id in [blocker, long, short] { _ = await o.wait(id) }
        #expect(await t.starts == ["blocker", "short", "long"])
        // Without history the same submissions keep their order.
        let cold = GPUTaskOrchestrator(configuration: config(concurrent: 1))
        let t2 = Trace()
        let b2 = try await cold.submit(task("blocker", t2, sleepMS: 100))
        let l2 = try await cold.submit(shaped("long", t2, rows: 400, memoryMB: 1))
        let s2 = try await cold.submit(shaped("short", t2, rows: 100, memoryMB: 1))
        for id in [b2, l2, s2] { _ = await cold.wait(id) }
        #expect(await t2.starts == ["blocker", "long", "short"])
    }
}
