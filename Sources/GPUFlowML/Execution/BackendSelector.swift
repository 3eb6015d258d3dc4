import GPUFlowCompute
import GPUFlowCore

/// The profile's device choice (`device.prefer`, `device.index`), as the Vulkan layer takes it.
public struct DeviceSelection: Sendable, Equatable {
    public var prefer: VulkanDevicePreference
    public var index: Int?
    /// The device memory pool's budget (resources.memory_pool_mb); nil keeps the heap size.
    public var poolBudgetMB: Int?
    /// Injected device faults (profile `faults:` or GPUFLOW_FAULT_VULKAN_AFTER), shared by every
    /// Vulkan backend made from this selection.
    public var faults: FaultInjector?

    public init(prefer: VulkanDevicePreference = .discrete, index: Int? = nil, poolBudgetMB: Int? = nil, faults: FaultInjector? = nil) {
        self.prefer = prefer
        self.index = index
        self.poolBudgetMB = poolBudgetMB
        self.faults = faults
    }

    public init(profile: Profile, faults: FaultInjector? = nil) {
        self.init(
            prefer: VulkanDevicePreference(rawValue: profile.device.prefer.rawValue) ?? .any, index: profile.device.index,
            poolBudgetMB: profile.resources.memoryPoolMB, faults: faults)
    }

    /// The fault injector a profile asks for (its `faults:` section), else the environment's.
    public static func faults(for profile: Profile) -> FaultInjector? {
        if let k = profile.faults.vulkanAfterDispatches {
            return FaultInjector(afterDispatches: k, outOfMemory: profile.faults.kind == .out_of_memory)
        }
        return FaultInjector.fromEnvironment()
    }

    public static func == (a: DeviceSelection, b: DeviceSelection) -> Bool {
        a.prefer == b.prefer && a.index == b.index && a.poolBudgetMB == b.poolBudgetMB && a.faults === b.faults
    }

    /// The shared context for this selection, with the pool budget applied.
    func context() throws -> VulkanContext {
        let c = try VulkanContext.shared(preference: prefer, index: index)
        if let mb = poolBudgetMB { c.setPoolBudget(bytes: mb << 20) }
        return c
    }
}

/// Turns a requested backend kind into a backend that can run here, and says why.
public enum BackendSelector {
    public struct Choice: Sendable {
        public let backend: Backend
        public let reason: String
    }

    /// `auto` takes a Vulkan GPU when there is one, else the SIMD backend: a Vulkan device of
    /// type "cpu" (lavapipe) only emulates a GPU on the same cores.
    public static func make(_ kind: BackendKind, device: DeviceSelection = .init()) throws -> Choice {
        switch kind {
        case .cpu:
            return Choice(backend: CPUBackend(), reason: "cpu requested")
        case .vulkan:
            let context = try device.context()
            return Choice(
                backend: try VulkanBackend(context: context, faults: device.faults), reason: "vulkan requested: \(context.info.name)")
        case .auto:
            do {
                let context = try device.context()
                if context.info.type != "cpu" {
                    return Choice(
                        backend: try VulkanBackend(context: context, faults: device.faults),
                        reason: "auto: Vulkan GPU \(context.info.name) (\(context.info.type))")
                }
                return Choice(
                    backend: SIMDBackend(),
                    reason: "auto: the only Vulkan device is \(context.info.name), a CPU implementation; using the simd backend")
            } catch {
                return Choice(backend: SIMDBackend(), reason: "auto: no usable Vulkan device (\(error)); using the simd backend")
            }
        case .simd:
            return Choice(backend: SIMDBackend(), reason: "simd requested: OpenBLAS GEMM and SIMD8 elementwise kernels")
        }
    }
}
