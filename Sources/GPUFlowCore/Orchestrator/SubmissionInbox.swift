import Foundation

/// Task ids and submissions that have not reached the orchestrator actor yet.
///
/// A script that submits ten thousand tasks should not pay two thread switches per task to hear
/// back an id it could be told at once: `GPUTaskOrchestrator.enqueue` validates a spec against
/// what cannot change under it (the pool size, agents' memory limits, ids already handed out),
/// takes the next id here and leaves the spec for the actor, which absorbs the inbox, in id
/// order, before it does anything else. One lock guards the id counter and the pending list
/// together, so an id is never handed out ahead of a task still waiting here.
final class SubmissionInbox: @unchecked Sendable {
    struct Pending {
        let id: TaskID
        let spec: TaskSpec
        let onEnd: (@Sendable (TaskID, TaskOutcome) -> Void)?
    }

    private let lock = NSLock()
    private var nextID: TaskID = 1
    private var pending: [Pending] = []
    /// Agents' max_memory_mb as the actor last set them, for validation off the actor.
    private var agentMaxMemoryMB: [String: Int] = [:]

    /// The next id, with the submission it belongs to left for the actor. Returns whether the
    /// inbox was empty before, i.e. whether the caller must wake the actor to absorb it.
    func add(_ make: (TaskID) throws -> Pending) rethrows -> (id: TaskID, wake: Bool) {
        lock.lock()
        defer { lock.unlock() }
        let p = try make(nextID)
        nextID += 1
        pending.append(p)
        return (p.id, pending.count == 1)
    }

    /// Everything pending, in id order.
    func take() -> [Pending] {
        lock.lock()
        defer { lock.unlock() }
        defer { pending = [] }
        return pending
    }

    /// Everything pending and one more id for the caller, taken under the same lock so that no
    /// pending task is given a larger id than it.
    func takeAndReserve() -> (pending: [Pending], id: TaskID) {
        lock.lock()
        defer { lock.unlock() }
        defer { pending = []; nextID += 1 }
        return (pending, nextID)
    }

    func agentMemoryLimit(_ agent: String) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        return agentMaxMemoryMB[agent]
    }

    func setAgentMemoryLimits(_ limits: [String: Int]) {
        lock.lock()
        agentMaxMemoryMB = limits
        lock.unlock()
    }
}
