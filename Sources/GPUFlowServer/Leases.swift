import Foundation
import GPUFlowCore

/// Admission of workers' GPU tasks by the server's one orchestrator: each admitted task holds a
/// lease — a task in the orchestrator that runs until the worker gives it back — so memory,
/// concurrency, per-agent limits and the coordination pattern hold across all jobs.
public actor LeaseBoard {
    final class Lease: @unchecked Sendable {
        let id: String
        let job: String
        private let lock = NSLock()
        private var started: CheckedContinuation<Void, Never>?
        private var hasStarted = false
        private var released: CheckedContinuation<Void, Never>?
        private var isReleased = false
        init(id: String, job: String) {
            self.id = id
            self.job = job
        }
        func markStarted() {
            lock.lock()
            hasStarted = true
            let c = started
            started = nil
            lock.unlock()
            c?.resume()
        }
        func waitStarted() async {
            await withCheckedContinuation { c in
                lock.lock()
                if hasStarted { lock.unlock(); c.resume(); return }
                started = c
                lock.unlock()
            }
        }
        func release() {
            lock.lock()
            isReleased = true
            let c = released
            released = nil
            lock.unlock()
            c?.resume()
        }
        func waitReleased() async {
            await withCheckedContinuation { c in
                lock.lock()
                if isReleased { lock.unlock(); c.resume(); return }
                released = c
                lock.unlock()
            }
        }
    }

    public let orchestrator: GPUTaskOrchestrator
    private var leases: [String: Lease] = [:]
    private var taskOf: [String: TaskID] = [:]

    public init(orchestrator: GPUTaskOrchestrator) { self.orchestrator = orchestrator }

    /// Queues the task under `agent` and returns once the orchestrator starts it.
    public func admit(job: String, agent: String, task: GPUTaskType, name: String, memoryMB: Int) async throws -> (
        lease: String, allowanceBytes: Int?
    ) {
        let lease = Lease(id: "l" + UUID().uuidString.lowercased().prefix(12), job: job)
        leases[lease.id] = lease
        let spec = TaskSpec(name: "\(job)/\(name)", kind: .gpu(task), memoryMB: memoryMB, agent: agent) { _ in
            lease.markStarted()
            await lease.waitReleased()
            return .null
        }
        let id = try await orchestrator.submit(spec)
        taskOf[lease.id] = id
        await lease.waitStarted()
        // What the agent may hold in tensors in this task's worker: its limit (max_memory_mb or
        // partition) less what its other running tasks have reserved.
        var allowance: Int?
        if let limit = orchestrator.memoryLimits.limit(agent) {
            let others = await orchestrator.reservedMemoryMB(agent: agent, except: id)
            allowance = max(0, limit - (others << 20))
        }
        return (lease.id, allowance)
    }

    public func release(_ id: String) -> Bool {
        guard let l = leases.removeValue(forKey: id) else { return false }
        taskOf.removeValue(forKey: id)
        l.release()
        return true
    }

    /// Everything a job still holds or waits for (its worker ended): released or cancelled.
    public func releaseAll(job: String) async {
        for (id, l) in leases where l.job == job {
            leases.removeValue(forKey: id)
            if let t = taskOf.removeValue(forKey: id) { await orchestrator.cancel(t) }
            l.release()
            l.markStarted()
        }
    }
}
