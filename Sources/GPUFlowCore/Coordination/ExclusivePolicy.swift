import Foundation

/// Exclusive: one agent holds the device at a time; the others queue in the order they asked.
/// The lease passes when the holder has no task left (running, queued or waiting on a
/// dependency) or gave it up; a waiter past max_starvation_time revokes it (the holder's
/// running tasks finish first).
public struct ExclusivePolicy: CoordinationPolicy {
    public let maxStarvationS: Double?
    public private(set) var holder: String?
    public private(set) var waiting: [String] = []
    private var since = 0.0
    private var revoked = false

    public init(maxStarvationS: Double? = nil) { self.maxStarvationS = maxStarvationS }

    public mutating func arrange(_ queue: [QueuedTask], view: SchedulerView, at t: Double) -> Arrangement {
        var out: [PolicyDecision] = []
        for task in queue where task.coordinated && task.agent != holder && !waiting.contains(task.agent) {
            waiting.append(task.agent)
        }
        if let h = holder {
            if let limit = maxStarvationS, !revoked,
                let starved = queue.first(where: { $0.coordinated && $0.agent != h && t - $0.submittedAt >= limit })
            {
                revoked = true
                out.append(
                    PolicyDecision(
                        kind: "lease", agents: [h, starved.agent], winner: starved.agent,
                        reason: String(
                            format: "%@ has waited %.3f s ≥ max_starvation_time: %@'s lease ends when its running tasks do",
                            starved.agent, t - starved.submittedAt, h)))
            }
            let load = view.load(h)
            if load.running + load.pending == 0 || (revoked && load.running == 0) {
                out += endLease(at: t, why: revoked ? "revoked" : "its tasks ended")
            }
        }
        if holder == nil, !waiting.isEmpty {
            let next = waiting.removeFirst()
            holder = next
            since = t
            revoked = false
            out.append(
                PolicyDecision(
                    kind: "lease", agents: [next] + waiting, winner: next,
                    reason: "\(next) holds the device" + (waiting.isEmpty ? "" : "; waiting in order: " + waiting.joined(separator: ", "))))
        }
        return Arrangement(decisions: out)
    }

    public func admits(_ task: QueuedTask, view: SchedulerView) -> Bool { task.agent == holder && !revoked }

    public mutating func taskEnded(agent: String, view: SchedulerView, at t: Double) -> [PolicyDecision] {
        let load = view.load(agent)
        guard agent == holder, load.running == 0, revoked || load.pending == 0 else { return [] }
        return endLease(at: t, why: revoked ? "released" : "its tasks ended")
    }

    public mutating func release(agent: String, view: SchedulerView, at t: Double) -> [PolicyDecision]? {
        guard holder == agent else { return nil }
        revoked = true
        return view.load(agent).running == 0 ? endLease(at: t, why: "released") : []
    }

    public mutating func retire(at t: Double, why: String) -> [PolicyDecision] { endLease(at: t, why: why) }

    private mutating func endLease(at t: Double, why: String) -> [PolicyDecision] {
        guard let h = holder else { return [] }
        holder = nil
        revoked = false
        return [
            PolicyDecision(kind: "lease", agents: [h], reason: "\(h)'s lease ended (\(why)) after \(String(format: "%.3f", t - since)) s")
        ]
    }
}
