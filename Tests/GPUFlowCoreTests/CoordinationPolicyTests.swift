import GPUFlowCore
import Testing

/// Each coordination pattern's rules as a value, called directly with a scheduler view and a
/// time: no orchestrator, no tasks running, no sleeps.
@Suite struct CoordinationPolicyTests {
    static func task(_ id: Int, _ agent: String, memoryMB: Int = 10, at submitted: Double = 0, priority: Int = 1) -> QueuedTask {
        QueuedTask(id: id, agent: agent, priority: priority, memoryMB: memoryMB, submittedAt: submitted, coordinated: true)
    }

    static func view(_ loads: [String: AgentLoad] = [:], poolMB: Int = 100, slots: Int = 4, inUseMB: Int = 0, running: Int = 0)
        -> SchedulerView
    {
        SchedulerView(poolMB: poolMB, slots: slots, memoryInUseMB: inUseMB, running: running, loads: loads)
    }

    @Test func exclusiveLeasesPassInTheOrderAgentsAsked() {
        var p = ExclusivePolicy()
        let queue = [Self.task(1, "bob"), Self.task(2, "alice"), Self.task(3, "bob")]
        let waitingLoads = ["bob": AgentLoad(pending: 2), "alice": AgentLoad(pending: 1)]
        let first = p.arrange(queue, view: Self.view(waitingLoads), at: 1)
        #expect(p.holder == "bob" && p.waiting == ["alice"])
        #expect(first.decisions.map(\.winner) == ["bob"] && first.decisions[0].reason.contains("waiting in order: alice"))
        #expect(p.admits(queue[0], view: Self.view()) && !p.admits(queue[1], view: Self.view()))
        // Bob still has a task waiting: his lease holds after one ends.
        #expect(p.taskEnded(agent: "bob", view: Self.view(["bob": AgentLoad(pending: 1)]), at: 2).isEmpty && p.holder == "bob")
        // Bob has nothing left: the lease ends, and the next arrangement gives it to alice.
        let ended = p.taskEnded(agent: "bob", view: Self.view(["alice": AgentLoad(pending: 1)]), at: 3)
        #expect(ended.count == 1 && ended[0].reason.contains("bob's lease ended (its tasks ended) after 2.000 s") && p.holder == nil)
        _ = p.arrange([Self.task(2, "alice")], view: Self.view(["alice": AgentLoad(pending: 1)]), at: 3)
        #expect(p.holder == "alice" && p.waiting.isEmpty)
    }

    @Test func aStarvedWaiterRevokesTheLeaseOnceTheHoldersTasksFinish() {
        var p = ExclusivePolicy(maxStarvationS: 0.5)
        _ = p.arrange([Self.task(1, "bob")], view: Self.view(["bob": AgentLoad(pending: 1)]), at: 0)
        let busy = Self.view(["bob": AgentLoad(running: 1, memoryMB: 10, pending: 5), "alice": AgentLoad(pending: 1)])
        let early = p.arrange([Self.task(7, "bob"), Self.task(8, "alice", at: 0.2)], view: busy, at: 0.6)
        #expect(early.decisions.isEmpty, "alice has waited 0.4 s, under the bound")
        let late = p.arrange([Self.task(7, "bob"), Self.task(8, "alice", at: 0.2)], view: busy, at: 0.8)
        #expect(late.decisions.count == 1 && late.decisions[0].winner == "alice" && p.holder == "bob")
        #expect(!p.admits(Self.task(7, "bob"), view: busy), "a revoked lease admits nothing more")
        let released = p.taskEnded(agent: "bob", view: Self.view(["bob": AgentLoad(pending: 5), "alice": AgentLoad(pending: 1)]), at: 1)
        #expect(released.first?.reason.contains("released") == true && p.holder == nil)
    }

    @Test func releasingALeaseEndsItWhenNothingRuns() {
        var p = ExclusivePolicy()
        _ = p.arrange([Self.task(1, "bob")], view: Self.view(["bob": AgentLoad(pending: 1)]), at: 0)
        #expect(p.release(agent: "alice", view: Self.view(), at: 1) == nil, "alice holds nothing")
        #expect(p.release(agent: "bob", view: Self.view(["bob": AgentLoad(running: 1, memoryMB: 1)]), at: 1) == [])
        #expect(p.holder == "bob", "running tasks finish first")
        #expect(p.taskEnded(agent: "bob", view: Self.view(["bob": AgentLoad(pending: 3)]), at: 2).count == 1 && p.holder == nil)
    }

    @Test func partitionsAdmitWithinEachShareAndLendOnlyWhatIsNotOwed() {
        var fixed = SpacePartitionedPolicy(partitions: .init(strategy: .static))
        let loads = ["a": AgentLoad(pending: 1, demandMB: 10), "b": AgentLoad(pending: 1, demandMB: 10)]
        let a = fixed.arrange([], view: Self.view(loads), at: 0)
        #expect(fixed.shares["a"] == Partitioning.Share(memoryMB: 50, slots: 2) && a.memoryLimitsMB == ["a": 50, "b": 50])
        #expect(fixed.arrange([], view: Self.view(loads), at: 0).decisions.isEmpty, "unchanged shares are not recorded again")
        let full = Self.view(["a": AgentLoad(running: 2, memoryMB: 20), "b": AgentLoad()], inUseMB: 20, running: 2)
        #expect(!fixed.admits(Self.task(5, "a"), view: full), "a's two slots are taken")
        #expect(fixed.admits(Self.task(6, "b"), view: full))
        // Dynamic: a may borrow b's idle share, but not while b has work waiting.
        var lending = SpacePartitionedPolicy(partitions: .init(strategy: .dynamic))
        _ = lending.arrange([], view: Self.view(loads), at: 0)
        #expect(lending.admits(Self.task(5, "a"), view: full))
        let owed = Self.view(["a": AgentLoad(running: 2, memoryMB: 20), "b": AgentLoad(pending: 1)], inUseMB: 20, running: 2)
        #expect(!lending.admits(Self.task(5, "a"), view: owed))
    }

    @Test func collaborationNegotiatesOnlyWhenTheHeadsDoNotFit() {
        var p = CollaborativePolicy(rules: .init(negotiation: .auction, conflictResolution: .priority))
        let queue = [Self.task(1, "a", memoryMB: 60, priority: 0), Self.task(2, "a"), Self.task(3, "b", memoryMB: 60, priority: 3)]
        let roomy = p.arrange(queue, view: Self.view(poolMB: 1000), at: 1)
        #expect(roomy.order == nil && roomy.decisions.isEmpty)
        let tight = p.arrange(queue, view: Self.view(poolMB: 100), at: 1)
        #expect(tight.order == [3, 1, 2], "b's critical task outbids a's low one; the rest follows in order")
        #expect(tight.decisions.count == 1 && tight.decisions[0].winner == "b" && tight.decisions[0].reason.hasPrefix("auction/priority"))
        #expect(p.arrange(queue, view: Self.view(poolMB: 100), at: 1).decisions.isEmpty, "the same outcome is recorded once")
    }

    @Test func guaranteedSharesAreKeptForAgentsWithWaitingWork() {
        var sharing = ResourceSharingPolicy()
        sharing.minResourceShare = 0.4
        // a already holds 60 MB (over its 40 MB guarantee); b waits and is owed 40 MB.
        let view = Self.view(["a": AgentLoad(running: 1, memoryMB: 60)], poolMB: 100, inUseMB: 60, running: 1)
        #expect(!sharing.admits(Self.task(9, "a", memoryMB: 10), waiting: ["a", "b"], view: view))
        #expect(sharing.admits(Self.task(9, "a", memoryMB: 10), waiting: ["a"], view: view), "nobody else waits")
        var isolated = ResourceSharingPolicy()
        isolated.performanceIsolation = true
        let two = Self.view(["a": AgentLoad(running: 2, memoryMB: 2)], slots: 4, running: 2)
        #expect(!isolated.admits(Self.task(9, "a"), waiting: ["a", "b"], view: two), "a has its equal half of four slots")
    }

    @Test func timeSlicingGivesEachAgentItsSlotsAndPipelinesKeepSubmissionOrder() {
        #expect(TimeSlicedPolicy().slotsPerAgent && TimeSlicedPolicy().rulesOrder(deviceWorkQueued: false))
        let pipeline = PipelinePolicy(stages: .init(stages: ["load", "train", "judge"]))
        #expect(!pipeline.rulesOrder(deviceWorkQueued: true) && !pipeline.sharesByRule)
        #expect(pipeline.stages.links.map(\.name) == ["load->train", "train->judge"] && pipeline.stages.bufferSizes == [4, 4])
    }

    /// A parameter table from a dictionary, as the profile loader and the Lua constructors give one.
    struct Table: ParameterSource {
        var values: [String: Any]
        struct Bad: Error { let message: String }
        func number(_ key: String, in range: ClosedRange<Double>) throws -> Double? {
            guard let v = values[key] as? Double else { return nil }
            guard range.contains(v) else { throw Bad(message: "\(key) out of range") }
            return v
        }
        func flag(_ key: String) throws -> Bool? { values[key] as? Bool }
        func choice<C: NamedChoice>(_ key: String) throws -> C? { (values[key] as? String).flatMap(C.init(rawValue:)) }
        func names(_ key: String) throws -> [String]? { values[key] as? [String] }
        func counts(_ key: String, in range: ClosedRange<Int>) throws -> [Int]? { values[key] as? [Int] }
        func invalid(_ key: String, _ message: String) -> Error { Bad(message: "\(key): \(message)") }
    }

    @Test func oneDefinitionOfEachParameter() throws {
        #expect(
            try CoordinationSpec.read(.time_sliced, from: Table(values: [:])) == .timeSliced(.init(sliceMS: 50, preemptionAllowed: true)))
        #expect(
            try CoordinationSpec.read(.space_partitioned, from: Table(values: ["partition_strategy": "dynamic"])).parameters.map(\.0)
                == ["partition_strategy", "dynamic_rebalancing"])
        if case .spacePartitioned(let s) = try CoordinationSpec.read(
            .space_partitioned, from: Table(values: ["partition_strategy": "dynamic"]))
        {
            #expect(s.rebalances, "the dynamic strategy rebalances unless told not to, from a profile and from Lua alike")
        }
        #expect(throws: Table.Bad.self) { try CoordinationSpec.read(.time_sliced, from: Table(values: ["time_slice_ms": 0.0])) }
        do {
            _ = try CoordinationSpec.read(.pipeline, from: Table(values: ["stages": ["a", "b", "c"], "buffer_sizes": [1]]))
            Issue.record("a pipeline with too few buffer sizes was accepted")
        } catch let e as Table.Bad {
            #expect(e.message == "buffer_sizes: buffer_sizes needs one size per link between stages (2), got 1")
        }
        #expect(throws: CoordinationError.self) { try CoordinationSpec.pipeline(.init(stages: ["a", "a"])).validate() }
        let p = try ResourceSharingPolicy.read(from: Table(values: ["max_starvation_time": 0.5, "priority_strategy": "fair_share"]))
        #expect(p.maxStarvationS == 0.5 && p.priorityStrategy == .fair_share)
    }
}
