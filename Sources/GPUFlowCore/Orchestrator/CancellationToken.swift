import Foundation
import Synchronization

/// A flag work running off the Swift task tree (on a plain thread) can poll to learn that its
/// task was cancelled or timed out. Work polls it between steps, which makes it the natural
/// step boundary: a device gate attached here can hold the task there (time slicing, compute
/// shares) without the work knowing.
public final class CancellationToken: @unchecked Sendable {
    private let flag = Atomic<Bool>(false)
    private let lock = NSLock()
    private var gate: (DeviceGate, DeviceGate.Ticket)?
    private var remote: (@Sendable () throws -> Void)?

    /// A further step-boundary check outside this process (a job server's time slices).
    public func attachRemote(_ check: @escaping @Sendable () throws -> Void) {
        lock.lock()
        remote = check
        lock.unlock()
    }

    public init() {}
    public func cancel() { flag.store(true, ordering: .relaxed) }
    public var isCancelled: Bool { flag.load(ordering: .relaxed) }

    /// Routes this task's step boundaries through `gate` under `agent`; `detach` ends it.
    public func attach(_ gate: DeviceGate, agent: String) {
        let ticket = gate.enter(agent: agent)
        lock.lock()
        self.gate = (gate, ticket)
        lock.unlock()
    }

    public func detach() {
        lock.lock()
        let g = gate
        gate = nil
        lock.unlock()
        if let (gate, ticket) = g { gate.leave(ticket) }
    }

    /// Throws `CancellationError` once cancelled; otherwise the step boundary (may wait).
    public func check() throws {
        if isCancelled { throw CancellationError() }
        lock.lock()
        let g = gate, r = remote
        lock.unlock()
        if let (gate, ticket) = g { try gate.step(ticket) { self.isCancelled } }
        try r?()
    }
}
