import Foundation
import GPUFlowCompute
import GPUFlowCore
import GPUFlowML

/// Issue 6's figures, side by side in one run: a four-agent workload under each coordination
/// pattern against the same tasks back to back alone (coordination overhead), Jain's fairness
/// index per pattern, and memory reserved vs requested on a multi-agent allocation trace for the
/// pooled allocator and for one allocation per request.
enum AgentsBench {
    static let agents = ["a1", "a2", "a3", "a4"]

    struct Workload {
        let tasksPerAgent: Int
        let data: Dataset
        let model = MLPModel(inputs: 16, hidden: [128, 64], outputs: 4, activation: .relu, seed: 1)
        let epochs: Int
        init(quick: Bool) throws {
            tasksPerAgent = quick ? 2 : 3
            epochs = quick ? 4 : 8
            data = try Generators.blobs(samples: 2000, features: 16, centers: 4, seed: 2).standardized()
        }
        var task: GPUTaskType {
            .training(TrainingTask(algorithm: .adam(Adam()), epochs: epochs, batchSize: 32, memoryRequirementMB: 64, seed: 1))
        }
    }

    static func orchestrator(_ c: Coordination?, concurrent: Int) -> GPUTaskOrchestrator {
        var p = Profile()
        p.resources.maxConcurrentTasks = concurrent
        p.resources.memoryPoolMB = 256
        p.learning.enabled = false
        var config = GPUTaskOrchestrator.Configuration(profile: p)
        if let c { config.coordination = c }
        return GPUTaskOrchestrator(configuration: config)
    }

    static func spec(_ w: Workload, _ o: GPUTaskOrchestrator, agent: String, name: String) -> TaskSpec {
        TaskSpec(
            name: name, kind: .gpu(w.task), memoryMB: 64, agent: agent,
            work: TaskWorkFactory.work(
                for: w.task, inputs: TaskInputs(model: w.model, data: w.data), backend: .simd, seed: 1,
                orchestrator: o, agent: agent))
    }

    /// Seconds for every agent's tasks back to back, one at a time, and each agent's share.
    static func alone(_ w: Workload) async throws -> (total: Double, perAgent: [String: Double]) {
        let o = orchestrator(nil, concurrent: 1)
        var per: [String: Double] = [:]
        let t0 = Date()
        for a in agents {
            let s = Date()
            for i in 0..<w.tasksPerAgent {
                let id = try await o.submit(spec(w, o, agent: a, name: "\(a)-\(i)"))
                _ = await o.wait(id)
            }
            per[a] = Date().timeIntervalSince(s)
        }
        return (Date().timeIntervalSince(t0), per)
    }

    /// Seconds until every agent's tasks finished under `c`, and each agent's completion time.
    static func shared(_ w: Workload, _ c: Coordination) async throws -> (total: Double, perAgent: [String: Double], slices: Int) {
        let o = orchestrator(c, concurrent: 2)
        let t0 = Date()
        var done: [String: Double] = [:]
        if c.spec.pattern == .pipeline {
            // Items flow through the four agents as stages; each stage runs its own task per item.
            let links = (0..<(agents.count - 1)).map { BoundedChannel(name: "link\($0)", capacity: 1) }
            try await withThrowingTaskGroup(of: (String, Double).self) { group in
                for (k, a) in agents.enumerated() {
                    group.addTask {
                        for i in 0..<w.tasksPerAgent {
                            if k > 0 { _ = await links[k - 1].get() }
                            let id = try await o.submit(spec(w, o, agent: a, name: "\(a)-\(i)"))
                            _ = await o.wait(id)
                            if k + 1 < agents.count { try await links[k].put(.integer(i)) }
                        }
                        return (a, Date().timeIntervalSince(t0))
                    }
                }
                for try await (a, t) in group { done[a] = t }
            }
        } else {
            try await withThrowingTaskGroup(of: (String, Double).self) { group in
                for a in agents {
                    group.addTask {  // all agents submit at once
                        var ids: [TaskID] = []
                        for i in 0..<w.tasksPerAgent { ids.append(try await o.submit(spec(w, o, agent: a, name: "\(a)-\(i)"))) }
                        for id in ids { _ = await o.wait(id) }
                        return (a, Date().timeIntervalSince(t0))
                    }
                }
                for try await (a, t) in group { done[a] = t }
            }
        }
        return (Date().timeIntervalSince(t0), done, o.gate.achievedSlices().filter(\.contested).count)
    }

    /// Jain's index over each agent's speed relative to running alone: 1 is perfectly fair.
    static func jain(_ alone: [String: Double], _ shared: [String: Double]) -> Double {
        let x = agents.map { (alone[$0] ?? 0) / max(shared[$0] ?? 1, 1e-9) }
        let s = x.reduce(0, +), s2 = x.reduce(0) { $0 + $1 * $1 }
        return s * s / (Double(x.count) * max(s2, 1e-12))
    }

    static func run(quick: Bool) async throws {
        let w = try Workload(quick: quick)
        let patterns: [(String, Coordination)] = [
            // The same shared queue and slots with no agent under a pattern: the reference for overhead.
            ("shared, no pattern", Coordination(spec: .collaborative(.init()), agents: ["nobody"])),
            ("exclusive", Coordination(spec: .exclusive)),
            ("time_sliced", Coordination(spec: .timeSliced(.init(sliceMS: 20, preemptionAllowed: true)))),
            ("space_partitioned", Coordination(spec: .spacePartitioned(.init(strategy: .static)), agents: agents)),
            ("pipeline", Coordination(spec: .pipeline(.init(stages: agents, bufferSizes: [1, 1, 1])), agents: agents)),
            ("collaborative", Coordination(spec: .collaborative(.init(negotiation: .auction, conflictResolution: .fairness)))),
        ]
        print(
            "## 4 agents × \(w.tasksPerAgent) training tasks (MLP 16-128-64-4, Adam, \(w.epochs) epochs on 2,000 rows, SIMD backend), 2 concurrent slots"
        )
        // Enough rounds that the spread between rounds is shown beside each overhead: an
        // overhead smaller than that spread is noise, not an effect.
        let rounds = quick ? 3 : 7
        print("## back to back alone = every task one after another with no coordination; medians of \(rounds) alternating rounds")
        var aloneTimes: [Double] = [], per: [String: [Double]] = [:]
        var sharedTimes: [String: [Double]] = [:], fairness: [String: [Double]] = [:], slices: [String: Int] = [:]
        for _ in 0..<rounds {
            let a = try await alone(w)
            aloneTimes.append(a.total)
            for (k, v) in a.perAgent { per[k, default: []].append(v) }
            for (name, c) in patterns {
                let s = try await shared(w, c)
                sharedTimes[name, default: []].append(s.total)
                fairness[name, default: []].append(jain(a.perAgent, s.perAgent))
                slices[name] = s.slices
            }
        }
        let base = median(aloneTimes)
        func row(_ cells: [String]) -> String {
            cells[0].padding(toLength: 18, withPad: " ", startingAt: 0) + cells.dropFirst().map { pad($0, 12) }.joined(separator: " ")
        }
        let free = median(sharedTimes["shared, no pattern"] ?? [])
        /// Half the range of a side's rounds, as a share of its median.
        func spread(_ v: [Double]) -> Double { v.isEmpty ? 0 : ((v.max() ?? 0) - (v.min() ?? 0)) / 2 / max(median(v), 1e-9) }
        let noise = spread(sharedTimes["shared, no pattern"] ?? [])
        print(row(["pattern", "total s", "vs alone", "overhead", "spread", "Jain index"]))
        print(row(["back to back", String(format: "%.3f", base), "1.000×", "-", String(format: "±%.1f%%", 100 * spread(aloneTimes)), "-"]))
        for (name, _) in patterns {
            let t = median(sharedTimes[name] ?? [])
            print(
                row([
                    name, String(format: "%.3f", t), String(format: "%.3f×", t / base), String(format: "%+.1f%%", 100 * (t / free - 1)),
                    String(format: "±%.1f%%", 100 * max(spread(sharedTimes[name] ?? []), noise)),
                    String(format: "%.3f", median(fairness[name] ?? [])),
                ]))
        }
        print("(vs alone below 1: the shared run finished sooner — two slots on two cores overlap what back to back runs serially;")
        print(" overhead = total time against the same shared queue with no pattern, i.e. what coordinating costs or saves;")
        print(" spread = half the range over the rounds (the larger of the pattern's and the reference's): an overhead inside it is noise;")
        print(" Jain's index over each agent's speed relative to running alone: 1 = every agent slowed equally)")
        print()
        try multiAgentTrace(quick: quick)
    }

    /// The pool against one allocation per request on the allocation trace of four agents
    /// training at once on one Vulkan device.
    static func multiAgentTrace(quick: Bool) throws {
        let context = try VulkanContext(preference: .any)
        context.pool.recordTrace(true)
        let data = try Generators.blobs(samples: quick ? 512 : 1024, features: 32, centers: 10, seed: 1)
        let group = DispatchGroup()
        let failures = LockedErrors()
        for (i, a) in agents.enumerated() {
            group.enter()
            let t = Thread {
                defer { group.leave() }
                do {
                    let model = MLPModel(inputs: 32, hidden: [128 >> (i % 2), 64], outputs: 10, activation: .relu, seed: UInt64(i))
                    let backend = try VulkanBackend(context: context)
                    _ = try Trainer.train(
                        model: model, data: data, task: TrainingTask(algorithm: .adam(Adam()), epochs: 2, batchSize: 32 << (i % 3)),
                        backend: backend, seed: 1)
                } catch { failures.add("\(a): \(error)") }
            }
            t.stackSize = 8 << 20
            t.start()
        }
        group.wait()
        if let e = failures.first { throw DataError(e) }
        let stats = context.pool.statistics()
        let trace = context.pool.recordTrace(false)
        let (allocations, peakRequested, peakPerRequest) = replayPerRequest(trace)
        print("## memory on a multi-agent trace: 4 agents training at once on \(context.info.name) (MLPs 32-128/64-64-10, batch 32…128)")
        print("allocations in the trace: \(allocations); peak bytes requested: \(peakRequested)")
        print(
            String(
                format:
                    "one allocation per request (modeled: the trace replayed): peak %d bytes held (%.3f× requested, waste %d bytes), %d vkAllocateMemory calls",
                peakPerRequest, Double(peakPerRequest) / Double(max(peakRequested, 1)), peakPerRequest - peakRequested, allocations))
        print(
            String(
                format: "pooled (tiered):            peak %d bytes held (%.3f× requested, waste %d bytes), %d vkAllocateMemory calls",
                stats.peakReservedBytes, Double(stats.peakReservedBytes) / Double(max(peakRequested, 1)),
                stats.peakReservedBytes - peakRequested,
                stats.driverAllocations))
        print("(the original claimed the pool wastes 32.3% less than per-request allocation; per-request sizes here are the driver's own")
        print(" rounded sizes on this device, so its waste is what lavapipe's granularity gives)")
    }
}

final class LockedErrors: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [String] = []
    func add(_ s: String) { lock.lock(); list.append(s); lock.unlock() }
    var first: String? { lock.lock(); defer { lock.unlock() }; return list.first }
}
