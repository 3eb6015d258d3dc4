import Foundation

/// Makes the Vulkan backend fail on purpose, so the fallback path (breaker, retry from the last
/// checkpoint on the next backend) is tested end to end. After `afterDispatches` dispatches by
/// every backend sharing this injector (a run shares one), each further dispatch throws the
/// fault — like a device that was lost and stays lost.
///
/// Set from the profile (`faults.vulkan_after_dispatches`, `faults.kind`) or the environment
/// (`GPUFLOW_FAULT_VULKAN_AFTER=K`, `GPUFLOW_FAULT_KIND=device_lost|out_of_memory`); scoped to
/// one run, so tests that inject faults do not disturb others running beside them.
public final class FaultInjector: @unchecked Sendable {
    private let lock = NSLock()
    private let limit: Int
    private let code: BackendError.Code
    private var dispatches = 0
    private var injected = 0

    public init(afterDispatches: Int, outOfMemory: Bool = false) {
        limit = afterDispatches
        code = outOfMemory ? .outOfMemory : .deviceLost
    }

    /// The injector the environment asks for, if any.
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) -> FaultInjector? {
        guard let k = env["GPUFLOW_FAULT_VULKAN_AFTER"].flatMap(Int.init), k >= 0 else { return nil }
        return FaultInjector(afterDispatches: k, outOfMemory: env["GPUFLOW_FAULT_KIND"] == "out_of_memory")
    }

    /// Faults thrown so far.
    public var injectedFaults: Int {
        lock.lock()
        defer { lock.unlock() }
        return injected
    }

    /// Called by the Vulkan backend before each dispatch.
    func beforeDispatch(_ kernel: String) throws {
        lock.lock()
        defer { lock.unlock() }
        dispatches += 1
        guard dispatches > limit else { return }
        injected += 1
        let what = code == .outOfMemory ? "out of device memory" : "device lost"
        throw BackendError(code, "injected fault: \(what) at dispatch \(dispatches) (\(kernel); faults after \(limit) dispatches)")
    }
}
