import CVulkan

/// A storage buffer whose memory comes from one of the context's pools: the tensor pool
/// (mapped on the mapped path, device-only on the staged path) or the staging pool (always
/// mapped; host-visible and coherent, so host reads and writes need no flushes).
final class VulkanBuffer {
    enum Role { case tensor, staging }
    let context: VulkanContext
    /// Both change when defragmentation moves the buffer (tensors keep this object).
    private(set) var buffer: VkBuffer
    private(set) var allocation: VulkanMemoryPool.Allocation
    /// Bytes the caller asked for (a multiple of 4).
    let size: Int
    let pool: VulkanMemoryPool
    /// The host address; nil for device-only memory.
    var mapped: UnsafeMutableRawPointer? { allocation.mapped }

    /// Counts this buffer against a backend's tensor bytes while it lives.
    private let meter: TensorMeter?

    init(context: VulkanContext, bytes: Int, role: Role = .tensor, meter: TensorMeter? = nil, alignment: Int = 1) throws {
        guard bytes > 0 else { throw BackendError(.shapeMismatch, "vulkan buffer: size must be positive, got \(bytes) bytes") }
        guard bytes <= context.maxStorageBufferRange else {
            throw BackendError(
                .outOfMemory,
                "vulkan buffer: \(bytes) bytes exceeds the device's max storage buffer range (\(context.maxStorageBufferRange) bytes)")
        }
        try meter?.add(bytes)  // the agent's quota first: a refused tensor touches no device memory
        self.context = context
        size = bytes
        self.meter = meter
        pool = role == .tensor ? context.pool : context.stagingPool
        let dev = context.device
        let buf: VkBuffer
        do { buf = try Self.makeBuffer(dev, bytes: bytes) } catch {
            meter?.remove(bytes)
            throw error
        }
        var req = VkMemoryRequirements()
        vkGetBufferMemoryRequirements(dev, buf, &req)
        guard req.memoryTypeBits & (1 << pool.memoryTypeIndex) != 0 else {
            vkDestroyBuffer(dev, buf, nil)
            meter?.remove(bytes)
            throw BackendError(.unavailable, "vulkan buffer: the chosen memory type cannot back storage buffers")
        }
        let a: VulkanMemoryPool.Allocation
        do {
            a = try pool.allocate(bytes: Int(req.size), alignment: max(Int(req.alignment), alignment), requested: bytes)
        } catch {
            vkDestroyBuffer(dev, buf, nil)
            meter?.remove(bytes)
            throw error
        }
        let bind = vkBindBufferMemory(dev, buf, a.block.memory, VkDeviceSize(a.offset))
        guard bind == VK_SUCCESS else {
            vkDestroyBuffer(dev, buf, nil)
            pool.free(a)
            meter?.remove(bytes)
            try vkCheck(bind, "vkBindBufferMemory")
            throw BackendError(.outOfMemory, "vkBindBufferMemory failed")
        }
        buffer = buf
        allocation = a
        pool.adopt(a, by: self)
    }

    /// Rebinds this buffer to `fresh` (same size) and copies the contents there. Called by the
    /// pool's defragmentation, under its lock, with no command using the buffer.
    func relocate(to fresh: VulkanMemoryPool.Allocation) throws {
        let dev = context.device
        let buf = try Self.makeBuffer(dev, bytes: size)
        let bind = vkBindBufferMemory(dev, buf, fresh.block.memory, VkDeviceSize(fresh.offset))
        guard bind == VK_SUCCESS else {
            vkDestroyBuffer(dev, buf, nil)
            try vkCheck(bind, "vkBindBufferMemory (defragment)")
            return
        }
        if let from = allocation.mapped, let to = fresh.mapped {
            to.copyMemory(from: from, byteCount: size)
        } else {
            try context.copyNow(from: buffer, to: buf, bytes: size)
        }
        vkDestroyBuffer(dev, buffer, nil)
        buffer = buf
        allocation = fresh
    }

    /// A storage buffer that can also be a transfer source and destination, not yet bound.
    private static func makeBuffer(_ dev: VkDevice, bytes: Int) throws -> VkBuffer {
        var bci = VkBufferCreateInfo()
        bci.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO
        bci.size = VkDeviceSize(bytes)
        bci.usage = UInt32(
            VK_BUFFER_USAGE_STORAGE_BUFFER_BIT.rawValue | VK_BUFFER_USAGE_TRANSFER_SRC_BIT.rawValue
                | VK_BUFFER_USAGE_TRANSFER_DST_BIT.rawValue)
        bci.sharingMode = VK_SHARING_MODE_EXCLUSIVE
        var buf: VkBuffer?
        try vkCheck(vkCreateBuffer(dev, &bci, nil, &buf), "vkCreateBuffer(\(bytes) bytes)")
        guard let buf else { throw BackendError(.outOfMemory, "vkCreateBuffer returned no buffer") }
        return buf
    }

    deinit {
        meter?.remove(size)
        vkDestroyBuffer(context.device, buffer, nil)
        pool.free(allocation)
    }
}
