import GPUFlowCompute

/// The backends a kernel test runs on, with one test body for all (STYLE: backends as test
/// parameters). Vulkan runs on whatever device the loader offers: lavapipe in CI.
public enum BackendUnderTest: String, CaseIterable, Sendable, CustomStringConvertible {
    case cpu, vulkan

    public func make() throws -> Backend {
        switch self {
        case .cpu: return CPUBackend()
        case .vulkan: return try VulkanBackend(context: VulkanContext.shared())
        }
    }

    public var description: String { rawValue }
}
