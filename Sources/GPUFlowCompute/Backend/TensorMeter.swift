import Foundation

/// Counts the bytes of a backend's live tensors and their high-water mark, so a task's real
/// memory use can be set against what it declared (memory_requirement_mb).
public final class TensorMeter: @unchecked Sendable {
    private let lock = NSLock()
    private var live = 0
    private var peak = 0

    public init() {}

    func add(_ bytes: Int) {
        lock.lock()
        live += bytes
        peak = max(peak, live)
        lock.unlock()
    }

    func remove(_ bytes: Int) {
        lock.lock()
        live -= bytes
        lock.unlock()
    }

    public var peakBytes: Int {
        lock.lock()
        defer { lock.unlock() }
        return peak
    }
}
