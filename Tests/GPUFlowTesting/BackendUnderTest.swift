import GPUFlowCompute

/// The backends a kernel test runs on, with one test body for all (STYLE: backends as test
/// parameters). Vulkan runs on whatever device the loader offers: lavapipe in CI.
public enum BackendUnderTest: String, CaseIterable, Sendable, CustomStringConvertible {
    /// `vulkanStaged` forces the staging path (device-only tensors, copies through staging
    /// buffers) that discrete GPUs without resizable BAR take, so lavapipe exercises it too.
    case cpu, simd, vulkan, vulkanStaged

    public func make() throws -> Backend {
        switch self {
        case .cpu: return CPUBackend()
        case .simd: return SIMDBackend()
        case .vulkan: return try VulkanBackend(context: VulkanContext.shared())
        case .vulkanStaged: return try VulkanBackend(context: VulkanContext.shared(staging: true))
        }
    }

    public var description: String { rawValue }
}
