import Foundation

/// Makes the Vulkan backend fail on purpose, so the fallback path (breaker, retry from the last
/// checkpoint on the next backend) is tested end to end. After `afterDispatches` dispatches in
/// this process, every further dispatch throws the configured fault — like a device that was
/// lost and stays lost.
///
/// Set from the profile (`faults.vulkan_after_dispatches`, `faults.kind`) or the environment
/// (`GPUFLOW_FAULT_VULKAN_AFTER=K`, `GPUFLOW_FAULT_KIND=device_lost|out_of_memory`).
public final class FaultInjector: @unchecked Sendable {
    public static let shared = FaultInjector()

    private let lock = NSLock()
    private var limit: Int?
    private var code: BackendError.Code = .deviceLost
    private var dispatches = 0
    private var injected = 0

    init() {
        let env = ProcessInfo.processInfo.environment
        if let k = env["GPUFLOW_FAULT_VULKAN_AFTER"].flatMap(Int.init), k >= 0 {
            limit = k
            code = env["GPUFLOW_FAULT_KIND"] == "out_of_memory" ? .outOfMemory : .deviceLost
        }
    }

    /// Arms (or, with nil, disarms) the fault and restarts the dispatch count.
    public func configure(afterDispatches: Int?, outOfMemory: Bool = false) {
        lock.lock()
        defer { lock.unlock() }
        limit = afterDispatches
        code = outOfMemory ? .outOfMemory : .deviceLost
        dispatches = 0
        injected = 0
    }

    /// Faults thrown so far.
    public var injectedFaults: Int {
        lock.lock()
        defer { lock.unlock() }
        return injected
    }

    public var isArmed: Bool {
        lock.lock()
        defer { lock.unlock() }
        return limit != nil
    }

    /// Called by the Vulkan backend before each dispatch.
    func beforeDispatch(_ kernel: String) throws {
        lock.lock()
        defer { lock.unlock() }
        guard let limit else { return }
        dispatches += 1
        guard dispatches > limit else { return }
        injected += 1
        let what = code == .outOfMemory ? "out of device memory" : "device lost"
        throw BackendError(code, "injected fault: \(what) at dispatch \(dispatches) (\(kernel); faults after \(limit) dispatches)")
    }
}
