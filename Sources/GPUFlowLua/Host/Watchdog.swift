import CLuaShim
import Foundation

/// Enforces each sandboxed script's wall-time limit from outside its Lua VM.
///
/// The count hook can only stop Lua code that runs: a message handler or finalizer runs with
/// hooks off, a single C call runs where no hook fires, and a script waiting for a task runs no
/// Lua at all. This thread watches the deadlines instead: at a script's deadline it has the
/// host end the script (an awaiting script is woken with the limit, and its tasks cancelled);
/// if the script has still not ended `grace` seconds later, the host thread is stuck inside one
/// call and the watchdog ends the process with exit 3 and the reason, through
/// `RunEnvironment.watchdogExpired`.
final class Watchdog: @unchecked Sendable {
    struct Entry {
        let script: String
        /// Read at each look: the host moves a script's deadline on by the time other scripts
        /// held the host thread, which this script could not use.
        let deadlineNS: () -> UInt64
        var notified = false
        var ended = false
    }

    static let graceNS: UInt64 = 500_000_000

    private let condition = NSCondition()
    private var entries: [ObjectIdentifier: Entry] = [:]
    private var stopped = false
    private let onDeadline: (ObjectIdentifier) -> Void
    private let onExpired: (String) -> Void
    /// The script whose Lua holds the host thread now, if any: the others cannot run meanwhile,
    /// and the host credits them that time when it ends, so none of them is judged until then.
    private var holder: ObjectIdentifier?

    /// `onDeadline` is called (on the watchdog's thread) once per script at its deadline;
    /// `onExpired` when a script outlives its deadline by the grace period.
    init(onDeadline: @escaping (ObjectIdentifier) -> Void, onExpired: @escaping (String) -> Void) {
        self.onDeadline = onDeadline
        self.onExpired = onExpired
    }

    func watch(_ id: ObjectIdentifier, script: String, deadlineNS: @escaping () -> UInt64) {
        guard deadlineNS() > 0 else { return }
        condition.lock()
        entries[id] = Entry(script: script, deadlineNS: deadlineNS)
        condition.signal()
        condition.unlock()
    }

    /// The host thread now runs this script's Lua (nil: none).
    /// Called twice per resume, so it wakes nobody: the watchdog reads it when it next looks.
    func hold(_ id: ObjectIdentifier?) {
        condition.lock()
        holder = id
        condition.unlock()
    }

    /// The deadline moved on after it was reported: watch for it again.
    func rearm(_ id: ObjectIdentifier) {
        condition.lock()
        entries[id]?.notified = false
        condition.signal()
        condition.unlock()
    }

    /// The script has ended (and its tasks with it): it is no longer watched.
    func ended(_ id: ObjectIdentifier) {
        condition.lock()
        entries[id]?.ended = true
        condition.signal()
        condition.unlock()
    }

    func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    func start() {
        let thread = Thread { [self] in loop() }
        thread.name = "gpuflow.watchdog"
        thread.start()
    }

    private func loop() {
        condition.lock()
        defer { condition.unlock() }
        while !stopped {
            let now = gf_monotonic_ns()
            var next = UInt64.max
            for (id, e) in entries where !e.ended {
                if let h = holder, h != id {
                    next = min(next, now + 50_000_000)  // look again once the holder is done
                    continue
                }
                let deadline = e.deadlineNS()
                if !e.notified {
                    if now >= deadline {
                        entries[id]?.notified = true
                        condition.unlock()
                        onDeadline(id)
                        condition.lock()
                    } else {
                        next = min(next, deadline)
                    }
                }
                if let e = entries[id], e.notified, !e.ended {
                    if now >= deadline + Self.graceNS {
                        let seconds = Double(Self.graceNS) / 1e9
                        onExpired(
                            "\(URL(fileURLWithPath: e.script).lastPathComponent): sandbox: wall-time limit exceeded (the script "
                                + "was still running \(seconds) s past its limit, inside a call no hook reaches; the process was ended)")
                        entries[id]?.ended = true
                    } else {
                        next = min(next, deadline + Self.graceNS)
                    }
                }
            }
            if next == UInt64.max {
                condition.wait()
            } else {
                let wait = Double(next - min(next, gf_monotonic_ns())) / 1e9
                _ = condition.wait(until: Date().addingTimeInterval(max(0.001, wait)))
            }
        }
    }
}
