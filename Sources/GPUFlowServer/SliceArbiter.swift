import Foundation

/// Time slicing across jobs: the server grants one agent at a time the right to run steps for
/// a slice, round-robin among the agents that ask. Workers ask once per slice (not per step):
/// a worker runs its steps while its grant lasts and asks again when it expires, so one round
/// trip per slice keeps every job's steps on the device one agent at a time.
public actor SliceArbiter {
    public let sliceS: Double
    private var owner: String?
    private var expiry = 0.0
    private var waiting: [String: Double] = [:]
    private var slices: [(agent: String, start: Double, end: Double)] = []
    private var ownerSince = 0.0

    public init(sliceMS: Double) { sliceS = sliceMS / 1000 }

    private var now: Double { Date().timeIntervalSince1970 }

    /// Waits until `agent` holds the device; returns when its grant ends (seconds since 1970).
    /// When a slice is over, the longest-waiting agent goes next; the owner renews only when
    /// nobody else waits. A step that began before its grant ended may finish after it (the
    /// worker looks at its grant between steps): slices overlap by at most one step.
    public func acquire(_ agent: String) async -> Double {
        while true {
            let t = now
            if owner == agent, t < expiry { return expiry }
            if waiting[agent] == nil { waiting[agent] = t }
            if owner == nil || t >= expiry {
                var candidates = waiting
                if let o = owner, candidates.count > 1 { candidates.removeValue(forKey: o) }
                if let next = candidates.min(by: { $0.value < $1.value })?.key {
                    grant(next, at: t)
                    if next == agent { return expiry }
                }
            }
            try? await Task.sleep(nanoseconds: 2_000_000)
        }
    }

    private func grant(_ agent: String, at t: Double) {
        if owner != agent {
            if let o = owner { close(o, at: t) }
            owner = agent
            ownerSince = t
        }
        waiting.removeValue(forKey: agent)
        expiry = t + sliceS
    }

    private func close(_ agent: String, at t: Double) {
        if ownerSince > 0 { slices.append((agent, ownerSince, t)) }
        owner = nil
    }

    /// The agent is done with the device (its task ended) before its slice did.
    public func release(_ agent: String) {
        if owner == agent {
            close(agent, at: now)
            expiry = 0
        }
        waiting.removeValue(forKey: agent)
    }

    /// Slices handed from one agent to another so far.
    public func handovers() -> [(agent: String, seconds: Double)] { slices.map { ($0.agent, $0.end - $0.start) } }
}
