import Foundation

/// Where work meets the device at step granularity. Every long task calls `step` between its
/// steps (a training batch, an inference batch, a search trial) through its cancellation token;
/// the gate decides whether the task's agent may run its next step now:
///   - time slicing: one agent's steps at a time, round-robin; with preemption a slice ends when
///     its time is spent and someone waits (the running steps finish first, then tasks pause at
///     their next boundary and resume later with nothing lost); without it, when the agent's
///     tasks end;
///   - compute isolation: an agent above its max_compute_percent of step time over the last
///     second waits until it is back under;
///   - accounting: step time per agent (what fairness, insights and metrics use).
/// Blocking is on a condition variable; cancellation is noticed within a couple of milliseconds.
public final class DeviceGate: @unchecked Sendable {
    public struct Slice: Sendable, Equatable {
        public let agent: String
        public let start: Double
        public let end: Double
        /// Another agent was already waiting when the slice began, so its length is the
        /// arbitration's doing (an uncontested slice lasts as long as nobody else wants the device).
        public let contested: Bool
        public var seconds: Double { end - start }
    }

    /// One task's place at the gate.
    public final class Ticket: @unchecked Sendable {
        public let agent: String
        fileprivate var inStep = false
        fileprivate var stepStart = 0.0
        init(agent: String) { self.agent = agent }
    }

    private let cond = NSCondition()
    private let epoch = Date()
    private var now: Double { Date().timeIntervalSince(epoch) }
    // Time slicing.
    private var sliceS: Double?
    private var preemptive = true
    private var maxStarvationS: Double?
    private var owner: String?
    private var sliceStart = 0.0
    private var sliceContested = false
    private var order: [String] = []
    private var tasks: [String: Int] = [:]
    private var active: [String: Int] = [:]
    private var waitingSince: [String: Double] = [:]
    private var slices: [Slice] = []
    // Compute shares and accounting.
    private var computeLimit: [String: Double] = [:]
    private var busy: [String: [(start: Double, end: Double)]] = [:]
    private var busyTotal: [String: Double] = [:]
    private var maxWait: [String: Double] = [:]
    public static let computeWindowS = 1.0

    public init() {}

    /// Turns time slicing on (slice length, preemption) or, with nil, off.
    public func timeSlice(_ seconds: Double?, preemptive: Bool = true, maxStarvationS: Double? = nil) {
        cond.lock()
        sliceS = seconds
        self.preemptive = preemptive
        self.maxStarvationS = maxStarvationS
        if seconds == nil { closeSlice() }
        cond.broadcast()
        cond.unlock()
    }

    /// Caps an agent's share of step time (0…1); nil removes the cap.
    public func limitCompute(_ agent: String, fraction: Double?) {
        cond.lock()
        computeLimit[agent] = fraction
        cond.broadcast()
        cond.unlock()
    }

    public func enter(agent: String) -> Ticket {
        cond.lock()
        defer { cond.unlock() }
        tasks[agent, default: 0] += 1
        if !order.contains(agent) { order.append(agent) }
        return Ticket(agent: agent)
    }

    /// The task ended (or failed): its step, if one was running, is over.
    public func leave(_ t: Ticket) {
        cond.lock()
        endStep(t)
        tasks[t.agent, default: 1] -= 1
        if tasks[t.agent] == 0, owner == t.agent, active[t.agent, default: 0] == 0 { passOn() }
        cond.broadcast()
        cond.unlock()
    }

    /// The boundary between two steps of `t`'s task: ends the previous step, waits until the
    /// agent may run, begins the next. Throws `CancellationError` when `cancelled` turns true.
    public func step(_ t: Ticket, cancelled: () -> Bool) throws {
        cond.lock()
        defer { cond.unlock() }
        endStep(t)
        let since = now
        while true {
            if cancelled() { throw CancellationError() }
            rotateIfDue()
            if mayRun(t.agent) { break }
            if waitingSince[t.agent] == nil { waitingSince[t.agent] = since }
            _ = cond.wait(until: Date().addingTimeInterval(0.002))
        }
        let waited = now - since
        maxWait[t.agent] = max(maxWait[t.agent] ?? 0, waited)
        waitingSince[t.agent] = nil
        if sliceS != nil, owner == nil {
            owner = t.agent
            sliceStart = now
            sliceContested = waitingSince.keys.contains { $0 != t.agent && (tasks[$0] ?? 0) > 0 }
        }
        active[t.agent, default: 0] += 1
        t.inStep = true
        t.stepStart = now
    }

    private func endStep(_ t: Ticket) {
        guard t.inStep else { return }
        t.inStep = false
        active[t.agent, default: 1] -= 1
        let end = now
        busyTotal[t.agent, default: 0] += end - t.stepStart
        if computeLimit[t.agent] != nil {
            busy[t.agent, default: []].append((t.stepStart, end))
            busy[t.agent]?.removeAll { $0.end < end - Self.computeWindowS }
        }
    }

    private func mayRun(_ agent: String) -> Bool {
        if let limit = computeLimit[agent] {
            let from = now - Self.computeWindowS
            let used = (busy[agent] ?? []).reduce(0) { $0 + max(0, $1.end - max($1.start, from)) }
            if used > limit * Self.computeWindowS { return false }
        }
        guard sliceS != nil else { return true }
        guard let o = owner else { return true }
        // The owner starts no new step once its slice must end: its running steps drain, then
        // the device passes on.
        return o == agent && !mustYield(o)
    }

    /// Whether the owner's slice is over: spent (or someone starves) while another agent waits,
    /// with preemption; without it, only when the owner has no task left.
    private func mustYield(_ o: String) -> Bool {
        guard let slice = sliceS else { return false }
        let others = waitingSince.filter { $0.key != o && (tasks[$0.key] ?? 0) > 0 }
        guard !others.isEmpty else { return false }
        if (tasks[o] ?? 0) == 0 { return true }
        guard preemptive else { return false }
        let starving = maxStarvationS.map { limit in others.values.contains { now - $0 >= limit } } ?? false
        return now - sliceStart >= slice || starving
    }

    /// Hands the device to the next waiting agent in round-robin order once the owner's slice
    /// is over and its running steps have finished.
    private func rotateIfDue() {
        guard let o = owner, mustYield(o), active[o, default: 0] == 0 else { return }
        passOn()
    }

    /// Records the closing slice and gives the device to the next agent that waits.
    private func passOn() {
        guard let o = owner else { return }
        closeSlice()
        let start = order.firstIndex(of: o).map { $0 + 1 } ?? 0
        let rotation = order[start...] + order[..<start]
        if let next = rotation.first(where: { waitingSince[$0] != nil && (tasks[$0] ?? 0) > 0 }) {
            owner = next
            sliceStart = now
            sliceContested = waitingSince.keys.contains { $0 != next && (tasks[$0] ?? 0) > 0 } || (tasks[o] ?? 0) > 0
        }
        cond.broadcast()
    }

    private func closeSlice() {
        if let o = owner { slices.append(Slice(agent: o, start: sliceStart, end: now, contested: sliceContested)) }
        owner = nil
    }

    // MARK: Reports

    /// Slices handed over so far (the one running is not included).
    public func achievedSlices() -> [Slice] {
        cond.lock()
        defer { cond.unlock() }
        return slices
    }

    /// Seconds of steps each agent has run.
    public func stepSeconds() -> [String: Double] {
        cond.lock()
        defer { cond.unlock() }
        return busyTotal
    }

    /// The longest an agent's task waited at the gate for one step.
    public func longestWait() -> [String: Double] {
        cond.lock()
        defer { cond.unlock() }
        return maxWait
    }
}
