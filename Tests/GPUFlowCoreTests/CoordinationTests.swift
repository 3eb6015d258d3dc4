import Foundation
import Testing

@testable import GPUFlowCore

@Suite struct NegotiationTests {
    private let a = Negotiation.Contender(agent: "a", taskID: 1, priority: 0, waitS: 0, predictedS: 1, memoryMB: 100, usedS: 5)
    private let b = Negotiation.Contender(agent: "b", taskID: 2, priority: 2, waitS: 0, predictedS: 4, memoryMB: 400, usedS: 1)
    private let c = Negotiation.Contender(agent: "c", taskID: 3, priority: 1, waitS: 2, predictedS: 0.5, memoryMB: 50, usedS: 3)

    @Test func auctionTakesTheHighestBid() {
        // bids: a 1·1/1 = 1, b 3·1/4 = 0.75, c 2·3/0.5 = 12
        let o = Negotiation.decide([a, b, c], negotiation: .auction, conflict: .priority, maxStarvationS: nil, seed: 1)
        #expect(o.order.map(\.agent) == ["c", "a", "b"])
        #expect(o.reason.contains("c proceeds"))
    }

    @Test func marketPricesPerMegabyte() {
        // value per MB: a 0.01, b 0.001875, c 0.24
        let o = Negotiation.decide([a, b, c], negotiation: .market, conflict: .priority, maxStarvationS: nil, seed: 1)
        #expect(o.order.map(\.agent) == ["c", "a", "b"])
    }

    @Test func votingRanksByPriorityThenShorterWork() {
        let o = Negotiation.decide([a, b, c], negotiation: .voting, conflict: .priority, maxStarvationS: nil, seed: 1)
        #expect(o.order.map(\.agent) == ["b", "c", "a"])
        #expect(o.reason.hasPrefix("voting: Borda points"))
    }

    @Test func consensusAcceptsOnlyWhatStarvesNobodyAndTiesFallToTheConflictRule() {
        // With a 3 s bound: a (1 s) keeps c's wait at 3 → ok; b (4 s) would push a and c past it;
        // c (0.5 s) is fine. a and c tie; fairness prefers the agent that used less (c: 3 < a: 5).
        let o = Negotiation.decide([a, b, c], negotiation: .consensus, conflict: .fairness, maxStarvationS: 3, seed: 1)
        #expect(o.order.map(\.agent) == ["c", "a", "b"])
        #expect(o.reason.contains("tie broken by fairness"))
        let perf = Negotiation.decide([a, b, c], negotiation: .consensus, conflict: .performance, maxStarvationS: 3, seed: 1)
        #expect(perf.order.first?.agent == "c")
        let prio = Negotiation.decide([a, b, c], negotiation: .consensus, conflict: .priority, maxStarvationS: 3, seed: 1)
        #expect(prio.order.first?.agent == "c")  // priority 1 beats a's 0
        // The random rule is seeded: the same seed, the same winner.
        let r1 = Negotiation.decide([a, c], negotiation: .consensus, conflict: .random, maxStarvationS: nil, seed: 7)
        let r2 = Negotiation.decide([a, c], negotiation: .consensus, conflict: .random, maxStarvationS: nil, seed: 7)
        #expect(r1.order.map(\.agent) == r2.order.map(\.agent))
    }
}

@Suite struct PartitioningTests {
    @Test func staticAdaptiveAndHierarchicalShares() {
        let s = Partitioning.shares(agents: ["a", "b"], poolMB: 1000, slots: 4, strategy: .static)
        #expect(s["a"] == .init(memoryMB: 500, slots: 2) && s["b"] == .init(memoryMB: 500, slots: 2))
        let ad = Partitioning.shares(agents: ["a", "b"], poolMB: 1000, slots: 4, strategy: .adaptive, demand: ["a": 300, "b": 100])
        #expect(ad["a"]?.memoryMB == 750 && ad["b"]?.memoryMB == 250)
        let h = Partitioning.shares(agents: ["lab/x", "lab/y", "prod/z"], poolMB: 1000, slots: 8, strategy: .hierarchical)
        #expect(h["prod/z"]?.memoryMB == 500 && h["lab/x"]?.memoryMB == 250 && h["lab/y"]?.memoryMB == 250)
    }
}

@Suite struct DeviceGateTests {
    /// Three agents' "tasks" on threads, each running 2 ms steps: slices of 20 ms alternate.
    @Test func timeSlicesAlternateAtStepBoundariesWithTheRequestedLength() async throws {
        let gate = DeviceGate()
        gate.timeSlice(0.02, preemptive: true)
        let stepsDone = LockedCounter()
        await withTaskGroup(of: Void.self) { group in
            for agent in ["a", "b", "c"] {
                group.addTask {
                    await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                        let t = Thread {
                            let ticket = gate.enter(agent: agent)
                            for _ in 0..<40 {
                                try? gate.step(ticket) { false }
                                Thread.sleep(forTimeInterval: 0.002)
                                stepsDone.add()
                            }
                            gate.leave(ticket)
                            c.resume()
                        }
                        t.start()
                    }
                }
            }
        }
        #expect(stepsDone.value == 120, "no step was lost")
        let contested = gate.achievedSlices().filter(\.contested)
        #expect(contested.count >= 6)
        let mean = contested.map(\.seconds).reduce(0, +) / Double(contested.count)
        #expect(abs(mean - 0.02) < 0.012, "mean slice \(mean) s for 20 ms slices")
        // Round robin: no agent waited more than the others' two slices plus slack.
        for (agent, w) in gate.longestWait() { #expect(w < 0.12, "\(agent) waited \(w) s") }
    }

    @Test func computeShareCapsAnAgentsStepTime() throws {
        let gate = DeviceGate()
        gate.limitCompute("capped", fraction: 0.25)
        let ticket = gate.enter(agent: "capped")
        let t0 = Date()
        for _ in 0..<60 {
            try gate.step(ticket) { false }
            Thread.sleep(forTimeInterval: 0.01)
        }
        gate.leave(ticket)
        let wall = Date().timeIntervalSince(t0)
        // 0.6 s of steps at ≤ 25 % of each second needs well over 1.5 s of wall time.
        #expect(wall > 1.4, "60 × 10 ms steps at a 25 % cap took \(wall) s")
        #expect(abs((gate.stepSeconds()["capped"] ?? 0) - 0.6) < 0.15)
    }

    @Test func cancellationEndsAWait() throws {
        let gate = DeviceGate()
        gate.timeSlice(10, preemptive: false)
        let holder = gate.enter(agent: "holder")
        try gate.step(holder) { false }
        let waiter = gate.enter(agent: "waiter")
        #expect(throws: CancellationError.self) { try gate.step(waiter) { true } }
        gate.leave(waiter)
        gate.leave(holder)
    }
}

@Suite struct ChannelTests {
    @Test func backPressureBoundsTheBufferAndClosingDrains() async throws {
        let ch = BoundedChannel(name: "a->b", capacity: 2)
        let producer = Task {
            for i in 0..<10 { try await ch.put(.integer(i)) }
            await ch.close()
        }
        try await Task.sleep(nanoseconds: 50_000_000)
        #expect(await ch.count == 2, "a full channel holds the producer back")
        var got: [Int] = []
        while let v = await ch.get() {
            if case .integer(let i) = v { got.append(i) }
            try await Task.sleep(nanoseconds: 2_000_000)
        }
        try await producer.value
        #expect(got == Array(0..<10))
        let s = await ch.statistics()
        #expect(s.peakOccupancy <= 2 && s.producerWaitS > 0 && s.closed, "\(s)")
        await #expect(throws: ChannelError.self) { try await ch.put(.null) }
    }
}

final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add() { lock.lock(); n += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return n }
}
