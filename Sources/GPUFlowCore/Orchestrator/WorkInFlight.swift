import Foundation

/// A count of workloads still executing, that a thread can wait on going to zero.
public final class WorkInFlight: @unchecked Sendable {
    private let condition = NSCondition()
    private var count = 0

    public init() {}

    func begin() {
        condition.lock()
        count += 1
        condition.unlock()
    }

    func end() {
        condition.lock()
        count -= 1
        if count <= 0 { condition.broadcast() }
        condition.unlock()
    }

    /// Waits until no workload runs, at most `seconds`; true when none does.
    public func waitUntilIdle(seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        condition.lock()
        defer { condition.unlock() }
        while count > 0 {
            if !condition.wait(until: deadline) { return count <= 0 }
        }
        return true
    }
}
