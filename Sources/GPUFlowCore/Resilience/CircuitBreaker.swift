import Foundation

/// The classic three-state breaker (closed → open → half-open → closed) for one backend on one
/// device. A value type driven by explicit timestamps, so its state machine is tested without
/// sleeping; `CircuitBreakerBoard` holds one per backend and supplies the clock.
public struct CircuitBreaker: Sendable, Equatable {
    public enum State: String, Sendable, Equatable { case closed, open, halfOpen = "half_open" }

    public struct Settings: Codable, Sendable, Equatable {
        /// Consecutive device faults that open the breaker.
        public var failureThreshold = 3
        /// Seconds an open breaker refuses work before it lets one trial through (half-open).
        public var cooldownS = 30.0
        public init(failureThreshold: Int = 3, cooldownS: Double = 30) {
            self.failureThreshold = failureThreshold
            self.cooldownS = cooldownS
        }
    }

    public let settings: Settings
    public private(set) var state: State = .closed
    public private(set) var consecutiveFailures = 0
    public private(set) var openedAt: Double?
    /// Totals over the breaker's life, for metrics and insights.
    public private(set) var failures = 0
    public private(set) var successes = 0
    public private(set) var timesOpened = 0
    /// Whether the half-open trial is out (only one at a time).
    private var trialOut = false

    public init(settings: Settings) { self.settings = settings }

    /// Whether work may go to this backend at time `now`; an open breaker whose cool-down has
    /// passed turns half-open and admits exactly one trial.
    public mutating func allow(at now: Double) -> Bool {
        switch state {
        case .closed: return true
        case .open:
            guard let t = openedAt, now - t >= settings.cooldownS else { return false }
            state = .halfOpen
            trialOut = true
            return true
        case .halfOpen:
            if trialOut { return false }
            trialOut = true
            return true
        }
    }

    public mutating func recordSuccess() {
        successes += 1
        consecutiveFailures = 0
        state = .closed
        openedAt = nil
        trialOut = false
    }

    public mutating func recordFailure(at now: Double) {
        failures += 1
        consecutiveFailures += 1
        trialOut = false
        if state == .halfOpen || consecutiveFailures >= settings.failureThreshold {
            if state != .open { timesOpened += 1 }
            state = .open
            openedAt = now
        }
    }

    /// Work ended without a verdict on the device (an input error, a cancel, a timeout): a
    /// half-open trial gives its place back, so the next task is the trial (it stayed half-open
    /// with its trial out forever); counts neither way.
    public mutating func recordInconclusive() {
        trialOut = false
    }

    /// Seconds until an open breaker half-opens (0 when it already may).
    public func remainingCooldown(at now: Double) -> Double {
        guard state == .open, let t = openedAt else { return 0 }
        return max(0, settings.cooldownS - (now - t))
    }
}

/// One breaker per backend key ("vulkan:NVIDIA H200", "simd", "cpu"), shared by every task of a
/// process. Work runs on dispatch queues and needs an answer synchronously, so this is a locked
/// class rather than an actor.
public final class CircuitBreakerBoard: @unchecked Sendable {
    public struct Transition: Sendable, Equatable {
        public let key: String
        public let from: CircuitBreaker.State
        public let to: CircuitBreaker.State
        public let at: Double
    }

    public let settings: CircuitBreaker.Settings
    private let clock: @Sendable () -> Double
    private let lock = NSLock()
    private var breakers: [String: CircuitBreaker] = [:]
    private var log: [Transition] = []

    public init(
        settings: CircuitBreaker.Settings = .init(),
        clock: @escaping @Sendable () -> Double = { Date().timeIntervalSinceReferenceDate }
    ) {
        self.settings = settings
        self.clock = clock
    }

    private func mutate<T>(_ key: String, _ body: (inout CircuitBreaker, Double) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        let now = clock()
        var b = breakers[key] ?? CircuitBreaker(settings: settings)
        let before = b.state
        let r = body(&b, now)
        if b.state != before { log.append(Transition(key: key, from: before, to: b.state, at: now)) }
        breakers[key] = b
        return r
    }

    public func allow(_ key: String) -> Bool { mutate(key) { b, now in b.allow(at: now) } }
    public func recordSuccess(_ key: String) { mutate(key) { b, _ in b.recordSuccess() } }
    public func recordFailure(_ key: String) { mutate(key) { b, now in b.recordFailure(at: now) } }
    public func recordInconclusive(_ key: String) { mutate(key) { b, _ in b.recordInconclusive() } }

    /// The breaker for `key` as it stands (closed if never used).
    public func breaker(_ key: String) -> CircuitBreaker {
        lock.lock()
        defer { lock.unlock() }
        return breakers[key] ?? CircuitBreaker(settings: settings)
    }

    public func remainingCooldown(_ key: String) -> Double {
        lock.lock()
        defer { lock.unlock() }
        return breakers[key]?.remainingCooldown(at: clock()) ?? 0
    }

    public func snapshot() -> [(key: String, breaker: CircuitBreaker)] {
        lock.lock()
        defer { lock.unlock() }
        return breakers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// Every state change so far, oldest first.
    public func transitions() -> [Transition] {
        lock.lock()
        defer { lock.unlock() }
        return log
    }
}
