import Foundation
import GPUFlowStore
import Logging

/// Writes the job server's job records and events to the run store in order, off the actor,
/// retrying while the store is busy or locked: nothing is dropped, and what is not written yet
/// is still readable (`pendingEvents`) so a listener that joins meanwhile misses nothing.
final class StoreWriter: @unchecked Sendable {
    private let store: RunStore
    private let logger: Logger?
    private let lock = NSLock()
    private var backlog: [RunStore.JobRecord] = []
    private var draining = false
    private var failing = false
    private let queue = DispatchQueue(label: "gpuflow.server.store-writer")
    /// Most records per transaction.
    private let batch = 256

    init(store: RunStore, logger: Logger?) {
        self.store = store
        self.logger = logger
    }

    func enqueue(_ record: RunStore.JobRecord) {
        lock.lock()
        backlog.append(record)
        let start = !draining
        draining = true
        lock.unlock()
        if start { queue.async { self.drain() } }
    }

    /// Records waiting to be written.
    var waiting: Int {
        lock.lock()
        defer { lock.unlock() }
        return backlog.count
    }

    /// Job `id`'s events not written yet, in order.
    func pendingEvents(_ id: String) -> [(seq: Int, line: String)] {
        lock.lock()
        defer { lock.unlock() }
        return backlog.compactMap {
            if case .event(let job, let seq, let line) = $0, job == id { return (seq, line) }
            return nil
        }
    }

    /// The latest record of job `id` not written yet.
    func pendingJob(_ id: String) -> RunStore.Job? {
        lock.lock()
        defer { lock.unlock() }
        for case .job(let j) in backlog.reversed() where j.id == id { return j }
        return nil
    }

    private func drain() {
        var delay = 0.05
        while true {
            lock.lock()
            let next = Array(backlog.prefix(batch))
            if next.isEmpty {
                draining = false
                lock.unlock()
                return
            }
            lock.unlock()
            do {
                try store.record(next)
                lock.lock()
                backlog.removeFirst(next.count)
                let recovered = failing
                failing = false
                lock.unlock()
                if recovered { logger?.info("the run store takes writes again", metadata: ["store.path": "\(store.path)"]) }
                delay = 0.05
            } catch {
                lock.lock()
                let first = !failing
                failing = true
                let n = backlog.count
                lock.unlock()
                if first {
                    logger?.warning(
                        "cannot write to the run store; keeping the writes and retrying",
                        metadata: ["store.path": "\(store.path)", "store.waiting": "\(n)", "error": "\(error)"])
                }
                Thread.sleep(forTimeInterval: delay)
                delay = min(1, delay * 2)
            }
        }
    }

    /// Waits until everything is written, or `timeout` seconds; true when it was.
    func flush(timeout: Double) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if waiting == 0 { return true }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return waiting == 0
    }
}
