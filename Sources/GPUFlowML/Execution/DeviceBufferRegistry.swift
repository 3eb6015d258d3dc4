import Dispatch
import Foundation
import GPUFlowCompute
import GPUFlowCore

/// Buffers that memory_management tasks allocated, by id, for the rest of the run (until a
/// deallocate task frees them), each with the agent that owns it.
public final class DeviceBufferRegistry: @unchecked Sendable {
    private let lock = NSLock()
    private var buffers: [Int: (buffer: DeviceBuffer, agent: String)] = [:]
    private var nextID = 1
    private var janitors: [ObjectIdentifier: DispatchSourceTimer] = [:]

    public init() {}

    deinit { for t in janitors.values { t.cancel() } }

    func add(_ b: DeviceBuffer, agent: String) -> Int {
        lock.lock()
        defer { lock.unlock() }
        let id = nextID
        nextID += 1
        buffers[id] = (b, agent)
        return id
    }

    /// Frees `ids` for `agent`. Without `force`, an unknown id or another agent's buffer is an
    /// error and nothing is freed; with it, unknown ids are skipped (and reported) and any
    /// agent's buffer goes.
    func remove(_ ids: [Int], agent: String, force: Bool) throws -> (freed: [Int], bytes: Int, skipped: [Int]) {
        lock.lock()
        defer { lock.unlock() }
        if !force {
            if let missing = ids.first(where: { buffers[$0] == nil }) {
                throw MLError(
                    "deallocate: no buffer #\(missing) (live: \(buffers.keys.sorted().map { "#\($0)" }.joined(separator: ", ")); force = true skips unknown ids)"
                )
            }
            if let foreign = ids.first(where: { buffers[$0]?.agent != agent }) {
                throw MLError(
                    "deallocate: buffer #\(foreign) belongs to agent \(buffers[foreign]?.agent ?? "?"), not \(agent) (force = true frees it anyway)"
                )
            }
        }
        var freed: [Int] = [], skipped: [Int] = [], bytes = 0
        for id in ids {
            if let b = buffers.removeValue(forKey: id) {
                freed.append(id)
                bytes += b.buffer.allocatedBytes
            } else {
                skipped.append(id)
            }
        }
        return (freed, bytes, skipped)
    }

    public var live: [(id: Int, bytes: Int, agent: String)] {
        lock.lock()
        defer { lock.unlock() }
        return buffers.sorted { $0.key < $1.key }.map { ($0.key, $0.value.buffer.bytes, $0.value.agent) }
    }

    /// Scheduled cleanup: every `interval`, free `percentage` % of the pool's idle bytes. One
    /// schedule per pool; a new one replaces it.
    func schedule(_ pool: VulkanMemoryPool, intervalS: Double, percentage: Double) {
        let t = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "gpuflow.pool-janitor", qos: .utility))
        t.schedule(deadline: .now() + intervalS, repeating: intervalS)
        t.setEventHandler { [weak pool] in
            guard let pool else { return }
            let idle = pool.idleBytes
            pool.releaseIdle(keepBytes: Int(Double(idle) * (1 - percentage / 100)))
        }
        lock.lock()
        janitors[ObjectIdentifier(pool)]?.cancel()
        janitors[ObjectIdentifier(pool)] = t
        lock.unlock()
        t.resume()
    }
}
