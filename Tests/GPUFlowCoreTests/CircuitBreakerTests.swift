import Foundation
import Testing

@testable import GPUFlowCore

@Suite struct CircuitBreakerTests {
    @Test func opensAfterConsecutiveFailuresHalfOpensAfterCooldownAndClosesOnSuccess() {
        var b = CircuitBreaker(settings: .init(failureThreshold: 3, cooldownS: 10))
        func allow(_ t: Double) -> Bool { b.allow(at: t) }
        #expect(allow(0))
        b.recordFailure(at: 0)
        b.recordFailure(at: 1)
        #expect(b.state == .closed && allow(1))
        b.recordSuccess()  // a success in between resets the count
        b.recordFailure(at: 2)
        b.recordFailure(at: 2)
        #expect(b.state == .closed)
        b.recordFailure(at: 3)
        #expect(b.state == .open && b.timesOpened == 1)
        #expect(!allow(12.9))
        #expect(b.remainingCooldown(at: 8) == 5)
        // After the cool-down exactly one trial goes through.
        #expect(allow(13))
        #expect(b.state == .halfOpen)
        #expect(!allow(13.1))
        b.recordFailure(at: 14)  // a failed trial re-opens at once
        #expect(b.state == .open && b.openedAt == 14)
        #expect(allow(24))
        b.recordSuccess()
        #expect(b.state == .closed && b.consecutiveFailures == 0 && allow(24))
        #expect(b.failures == 6 && b.successes == 2)
    }

    /// A half-open trial that ends in an input error, a cancel or a timeout says nothing about
    /// the device: the trial's place goes back and the next task is the trial (before, the
    /// breaker stayed half-open with its trial out, refusing every task forever).
    @Test func anInconclusiveTrialGivesItsPlaceBack() {
        var b = CircuitBreaker(settings: .init(failureThreshold: 1, cooldownS: 10))
        b.recordFailure(at: 0)
        let trial = b.allow(at: 10), second = b.allow(at: 10.5)
        #expect(trial && b.state == .halfOpen)
        #expect(!second, "one trial at a time")
        b.recordInconclusive()
        #expect(b.state == .halfOpen && b.failures == 1 && b.successes == 0)
        let next = b.allow(at: 11)
        #expect(next, "the next task is the trial")
        b.recordSuccess()
        #expect(b.state == .closed)
        // In the closed state it changes nothing.
        b.recordInconclusive()
        let closed = b.allow(at: 12)
        #expect(b.state == .closed && closed)
    }

    @Test func boardKeepsOneBreakerPerBackendAndLogsTransitions() {
        final class Clock: @unchecked Sendable { var now = 0.0 }
        let clock = Clock()
        let board = CircuitBreakerBoard(settings: .init(failureThreshold: 1, cooldownS: 5), clock: { clock.now })
        board.recordFailure("vulkan:gpu0")
        #expect(!board.allow("vulkan:gpu0"))
        #expect(board.allow("simd"))
        clock.now = 5
        #expect(board.allow("vulkan:gpu0"))
        board.recordSuccess("vulkan:gpu0")
        #expect(
            board.transitions().map { "\($0.key) \($0.from.rawValue)→\($0.to.rawValue)" } == [
                "vulkan:gpu0 closed→open", "vulkan:gpu0 open→half_open", "vulkan:gpu0 half_open→closed",
            ])
        #expect(board.snapshot().map(\.key) == ["simd", "vulkan:gpu0"])
    }
}
