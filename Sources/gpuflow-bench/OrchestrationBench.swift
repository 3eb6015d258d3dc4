import Foundation
import GPUFlowCore

/// No-op tasks through the orchestrator from Swift: tasks per second (submit all, await all)
/// and submit-to-start latency per task, for the suite's orchestration row (the same work as
/// Ray's `@ray.remote` no-op tasks and gpuflow's Lua `gpu.submit`).
enum OrchestrationBench {
    final class Starts: @unchecked Sendable {
        let lock = NSLock()
        var values: [Double]
        init(_ n: Int) { values = Array(repeating: .nan, count: n) }
        func set(_ i: Int, _ v: Double) {
            lock.lock()
            values[i] = v
            lock.unlock()
        }
    }

    /// One round: (seconds for all, latencies).
    static func round(tasks n: Int) async throws -> (Double, [Double]) {
        var profile = Profile()
        profile.learning.history = "none"
        profile.resources.maxConcurrentTasks = max(profile.resources.maxConcurrentTasks, 2)
        let orchestrator = GPUTaskOrchestrator(profile: profile)
        let starts = Starts(n)
        let t0 = now()
        var ids: [TaskID] = []
        ids.reserveCapacity(n)
        for i in 0..<n {
            let submitted = now()
            ids.append(
                try await orchestrator.submit(
                    TaskSpec(name: "noop", kind: .plain) { _ in
                        starts.set(i, now() - submitted)
                        return .null
                    }))
        }
        for id in ids { _ = await orchestrator.wait(id) }
        return (now() - t0, starts.values)
    }

    static func run(tasks n: Int, rounds: Int) async throws {
        _ = try await round(tasks: min(n, 1000))  // warm-up
        for _ in 0..<rounds {
            let (seconds, lat) = try await round(tasks: n)
            let s = lat.filter { !$0.isNaN }.sorted()
            func pct(_ p: Double) -> Double { s.isEmpty ? .nan : s[min(s.count - 1, Int((p * Double(s.count)).rounded(.up)) - 1)] }
            // tasks, seconds, tasks/s, p50 s, p99 s
            print("\(n)\t\(seconds)\t\(Double(n) / seconds)\t\(pct(0.5))\t\(pct(0.99))")
        }
    }
}
