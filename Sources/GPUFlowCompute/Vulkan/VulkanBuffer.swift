import CVulkan

/// A storage buffer with its own memory, mapped for the life of the buffer (the memory type is
/// host-visible and coherent, so host reads and writes need no flushes).
final class VulkanBuffer {
    let context: VulkanContext
    let buffer: VkBuffer
    let memory: VkDeviceMemory
    /// Bytes the caller asked for (a multiple of 4).
    let size: Int
    let mapped: UnsafeMutableRawPointer

    init(context: VulkanContext, bytes: Int) throws {
        guard bytes > 0 else { throw BackendError(.shapeMismatch, "vulkan buffer: size must be positive, got \(bytes) bytes") }
        guard bytes <= context.maxStorageBufferRange else {
            throw BackendError(.outOfMemory,
                               "vulkan buffer: \(bytes) bytes exceeds the device's max storage buffer range (\(context.maxStorageBufferRange) bytes)")
        }
        self.context = context
        size = bytes
        let dev = context.device
        var bci = VkBufferCreateInfo()
        bci.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO
        bci.size = VkDeviceSize(bytes)
        bci.usage = UInt32(VK_BUFFER_USAGE_STORAGE_BUFFER_BIT.rawValue | VK_BUFFER_USAGE_TRANSFER_SRC_BIT.rawValue
                           | VK_BUFFER_USAGE_TRANSFER_DST_BIT.rawValue)
        bci.sharingMode = VK_SHARING_MODE_EXCLUSIVE
        var buf: VkBuffer?
        try vkCheck(vkCreateBuffer(dev, &bci, nil, &buf), "vkCreateBuffer(\(bytes) bytes)")
        guard let buf else { throw BackendError(.outOfMemory, "vkCreateBuffer returned no buffer") }
        var req = VkMemoryRequirements()
        vkGetBufferMemoryRequirements(dev, buf, &req)
        guard req.memoryTypeBits & (1 << context.memoryTypeIndex) != 0 else {
            vkDestroyBuffer(dev, buf, nil)
            throw BackendError(.unavailable, "vulkan buffer: the chosen memory type cannot back storage buffers")
        }
        var mai = VkMemoryAllocateInfo()
        mai.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO
        mai.allocationSize = req.size
        mai.memoryTypeIndex = context.memoryTypeIndex
        var mem: VkDeviceMemory?
        let allocResult = vkAllocateMemory(dev, &mai, nil, &mem)
        guard allocResult == VK_SUCCESS, let mem else {
            vkDestroyBuffer(dev, buf, nil)
            try vkCheck(allocResult == VK_SUCCESS ? VK_ERROR_OUT_OF_DEVICE_MEMORY : allocResult, "vkAllocateMemory(\(req.size) bytes)")
            throw BackendError(.outOfMemory, "vkAllocateMemory returned no memory")
        }
        var ptr: UnsafeMutableRawPointer?
        let bindResult = vkBindBufferMemory(dev, buf, mem, 0)
        let mapResult = bindResult == VK_SUCCESS ? vkMapMemory(dev, mem, 0, VkDeviceSize(VK_WHOLE_SIZE), 0, &ptr) : bindResult
        guard mapResult == VK_SUCCESS, let ptr else {
            vkFreeMemory(dev, mem, nil)
            vkDestroyBuffer(dev, buf, nil)
            try vkCheck(mapResult == VK_SUCCESS ? VK_ERROR_MEMORY_MAP_FAILED : mapResult, "binding and mapping buffer memory")
            throw BackendError(.outOfMemory, "vkMapMemory returned no pointer")
        }
        buffer = buf
        memory = mem
        mapped = ptr
    }

    deinit {
        vkUnmapMemory(context.device, memory)
        vkDestroyBuffer(context.device, buffer, nil)
        vkFreeMemory(context.device, memory, nil)
    }

    var floats: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: mapped.assumingMemoryBound(to: Float.self), count: size / 4)
    }
}
