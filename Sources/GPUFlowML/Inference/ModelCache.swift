import Foundation
import GPUFlowCompute

/// Networks kept on their backend between inference tasks, by backend and model id, so a
/// model served again skips its weight upload. Least recently used entries are evicted once
/// the resident weights pass `capacityBytes`. Each entry serves one task at a time.
public final class ModelCache: @unchecked Sendable {
    public static let shared = ModelCache(capacityBytes: 256 << 20)

    private final class Entry {
        let net: NetworkOnBackend
        let bytes: Int
        var lastUse: UInt64
        let busy = NSLock()
        init(net: NetworkOnBackend, bytes: Int, lastUse: UInt64) {
            self.net = net
            self.bytes = bytes
            self.lastUse = lastUse
        }
    }

    public struct Statistics: Sendable {
        public let residentModels: Int
        public let residentBytes: Int
        public let hits: Int
        public let misses: Int
        public let evictions: Int
    }

    private let lock = NSLock()
    private var entries: [String: Entry] = [:]
    private var clock: UInt64 = 0
    private var hits = 0, misses = 0, evictions = 0
    public let capacityBytes: Int

    public init(capacityBytes: Int) { self.capacityBytes = capacityBytes }

    /// Runs `body` with `model` resident on `backend`'s device (uploading it on a miss); returns
    /// whether it was already resident. The weights belong to the cache (allocated through a
    /// backend `owner` makes, charged to no task); `body` gets them bound to `backend`, so the
    /// task's own backend times its work and its agent is charged the weights while it runs.
    func withNetwork<T>(
        _ model: MLPModel, on backend: Backend, owner: () throws -> Backend,
        _ body: (NetworkOnBackend) throws -> T
    ) throws -> (T, hit: Bool) {
        let device = backend.deviceIdentity
        let key = "\(backend.name)/\(device)/\(model.objectID)"
        lock.lock()
        clock += 1
        let entry: Entry
        let hit: Bool
        if let e = entries[key] {
            e.lastUse = clock
            entry = e
            hit = true
            hits += 1
            lock.unlock()
        } else {
            lock.unlock()
            let owned = try owner()
            let net = try NetworkOnBackend(model, on: owned)
            // On staged memory the uploads are recorded in the owner's sequence, which runs nothing
            // else: submit them now, before another backend's kernels read the weights.
            if let last = net.biases.last { _ = try owned.read(last) }
            let e = Entry(net: net, bytes: 4 * model.parameterCount, lastUse: 0)
            lock.lock()
            e.lastUse = clock
            entries[key] = entries[key] ?? e
            entry = entries[key] ?? e
            hit = false
            misses += 1
            evictLocked(keeping: key)
            lock.unlock()
        }
        entry.busy.lock()
        defer { entry.busy.unlock() }
        try backend.tensorMeter?.charge(entry.bytes)
        defer { backend.tensorMeter?.discharge(entry.bytes) }
        return (try body(NetworkOnBackend(sharing: entry.net, on: backend)), hit)
    }

    private func evictLocked(keeping key: String) {
        var total = entries.values.reduce(0) { $0 + $1.bytes }
        while total > capacityBytes, let victim = entries.filter({ $0.key != key }).min(by: { $0.value.lastUse < $1.value.lastUse }) {
            entries[victim.key] = nil
            total -= victim.value.bytes
            evictions += 1
        }
    }

    public func statistics() -> Statistics {
        lock.lock()
        defer { lock.unlock() }
        return Statistics(
            residentModels: entries.count, residentBytes: entries.values.reduce(0) { $0 + $1.bytes }, hits: hits,
            misses: misses, evictions: evictions)
    }
}
