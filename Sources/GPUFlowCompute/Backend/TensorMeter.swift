import Foundation

/// Counts the bytes of a backend's live tensors and their high-water mark, so a task's real
/// memory use can be set against what it declared (memory_requirement_mb) — and charges them
/// to the owning agent's quota, which refuses an allocation past the agent's limit.
public final class TensorMeter: @unchecked Sendable {
    private let lock = NSLock()
    private var live = 0
    private var peak = 0
    private var quotaRef: MemoryQuota?

    public init() {}

    /// The agent quota this backend's tensors count against (set before the first tensor).
    public var quota: MemoryQuota? {
        get { lock.lock(); defer { lock.unlock() }; return quotaRef }
        set { lock.lock(); quotaRef = newValue; lock.unlock() }
    }

    /// Counts `bytes` of a new tensor; throws `quotaExceeded` (and counts nothing) past the quota.
    func add(_ bytes: Int) throws {
        try quota?.reserve(bytes)
        lock.lock()
        live += bytes
        peak = max(peak, live)
        lock.unlock()
    }

    func remove(_ bytes: Int) {
        quota?.release(bytes)
        lock.lock()
        live -= bytes
        lock.unlock()
    }

    public var peakBytes: Int {
        lock.lock()
        defer { lock.unlock() }
        return peak
    }

    /// Starts a measurement window: the peak falls to what is live now, which it returns, so
    /// `peakBytes - base` afterwards is the most the work in between held at once.
    public func startWindow() -> Int {
        lock.lock()
        defer { lock.unlock() }
        peak = live
        return live
    }

    /// Counts bytes a task uses without owning them (a cached network's weights) against this
    /// backend and its agent while it uses them; `discharge` gives them back.
    public func charge(_ bytes: Int) throws { try add(bytes) }
    public func discharge(_ bytes: Int) { remove(bytes) }
}

/// One agent's tensor memory across all its tasks and backends: the limit comes from the
/// orchestrator (partition share or max_memory_mb) and is read on every allocation.
public final class MemoryQuota: @unchecked Sendable {
    public let owner: String
    private let limit: @Sendable () -> Int?
    private let lock = NSLock()
    private var used = 0
    private var peak = 0
    private var refusals = 0

    public init(owner: String, limit: @escaping @Sendable () -> Int?) {
        self.owner = owner
        self.limit = limit
    }

    func reserve(_ bytes: Int) throws {
        let cap = limit()
        lock.lock()
        defer { lock.unlock() }
        if let cap, used + bytes > cap {
            refusals += 1
            throw BackendError(
                .quotaExceeded,
                String(
                    format:
                        "agent %@: a %d-byte tensor would bring its memory to %d bytes, over its limit of %d bytes (%.1f MB; partition or max_memory_mb)",
                    owner, bytes, used + bytes, cap, Double(cap) / 1_048_576))
        }
        used += bytes
        peak = max(peak, used)
    }

    func release(_ bytes: Int) {
        lock.lock()
        used -= bytes
        lock.unlock()
    }

    public var usedBytes: Int { lock.lock(); defer { lock.unlock() }; return used }
    public var peakBytes: Int { lock.lock(); defer { lock.unlock() }; return peak }
    public var refusedAllocations: Int { lock.lock(); defer { lock.unlock() }; return refusals }
}
