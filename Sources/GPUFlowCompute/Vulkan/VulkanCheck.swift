import CVulkan

/// Turns a VkResult into a typed error the orchestrator can act on: device loss and memory
/// exhaustion get their own codes (the fallback logic retries elsewhere on them); everything
/// else keeps the native code.
func vkCheck(_ result: VkResult, _ what: @autoclosure () -> String) throws {
    if result == VK_SUCCESS { return }
    switch result {
    case VK_ERROR_DEVICE_LOST:
        throw BackendError(.deviceLost, "\(what()): the Vulkan device was lost")
    case VK_ERROR_OUT_OF_DEVICE_MEMORY, VK_ERROR_OUT_OF_HOST_MEMORY, VK_ERROR_OUT_OF_POOL_MEMORY:
        throw BackendError(.outOfMemory, "\(what()): out of memory (VkResult \(result.rawValue))")
    default:
        throw BackendError(.vulkan(result.rawValue), "\(what()) failed")
    }
}
