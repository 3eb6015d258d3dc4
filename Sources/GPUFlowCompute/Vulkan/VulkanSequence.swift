import CVulkan

/// Records kernels into one command buffer and submits them together (Kompute's Sequence):
/// a training step's forward, backward and update pass become one submission, flushed only
/// when the host needs a result. A compute→compute barrier follows every dispatch, so each
/// kernel sees the writes of the ones before it.
final class VulkanSequence {
    let context: VulkanContext
    private let pool: VkCommandPool
    private let commandBuffer: VkCommandBuffer
    private let fence: VkFence
    private let descriptorPool: VkDescriptorPool
    private var recording = false
    /// Timestamp queries, two per dispatch; nil when the queue cannot time kernels.
    private let queryPool: VkQueryPool?
    private var batchKernels: [String] = []
    /// Per timed entry of the batch: the copy's direction and bytes, nil for a dispatch.
    private var batchCopies: [(CopyKind, Int)?] = []
    private(set) var timings: [String: KernelTiming] = [:]
    /// Which way a recorded copy moves data, for the transfer figures.
    enum CopyKind: Hashable { case upload, download, device }
    /// Recorded copies timed on the device: count, bytes and nanoseconds, by direction.
    private(set) var copies: [CopyKind: (count: Int, bytes: Int, ns: Double)] = [:]
    /// Dispatches one submission may hold before it is flushed (bounded by the query pool).
    static let maxDispatchesPerSubmit = 1024
    /// Buffers the recorded commands use, kept alive until the submission completes.
    private var retained: [VulkanBuffer] = []
    private(set) var recordedDispatches = 0
    private(set) var submissions = 0

    /// Sets the descriptor pool holds before a flush is forced.
    static let maxSets: UInt32 = 1024
    static let maxDescriptors: UInt32 = 4096

    init(context: VulkanContext) throws {
        self.context = context
        let dev = context.device
        var pci = VkCommandPoolCreateInfo()
        pci.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO
        pci.flags = UInt32(VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT.rawValue)
        pci.queueFamilyIndex = context.queueFamily
        var p: VkCommandPool?
        try vkCheck(vkCreateCommandPool(dev, &pci, nil, &p), "vkCreateCommandPool")
        guard let p else { throw BackendError(.unavailable, "no command pool") }
        pool = p
        var cbai = VkCommandBufferAllocateInfo()
        cbai.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO
        cbai.commandPool = p
        cbai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY
        cbai.commandBufferCount = 1
        var cb: VkCommandBuffer?
        let cbResult = vkAllocateCommandBuffers(dev, &cbai, &cb)
        var fci = VkFenceCreateInfo()
        fci.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO
        var f: VkFence?
        let fResult = cbResult == VK_SUCCESS ? vkCreateFence(dev, &fci, nil, &f) : cbResult
        var size = VkDescriptorPoolSize()
        size.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER
        size.descriptorCount = Self.maxDescriptors
        var dp: VkDescriptorPool?
        let dpResult: VkResult =
            fResult != VK_SUCCESS
            ? fResult
            : withUnsafePointer(to: &size) { s in
                var dpci = VkDescriptorPoolCreateInfo()
                dpci.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO
                dpci.maxSets = Self.maxSets
                dpci.poolSizeCount = 1
                dpci.pPoolSizes = s
                return vkCreateDescriptorPool(dev, &dpci, nil, &dp)
            }
        guard dpResult == VK_SUCCESS, let cb, let f, let dp else {
            if let f { vkDestroyFence(dev, f, nil) }
            vkDestroyCommandPool(dev, p, nil)
            try vkCheck(dpResult == VK_SUCCESS ? VK_ERROR_INITIALIZATION_FAILED : dpResult, "creating a command sequence")
            throw BackendError(.unavailable, "no command sequence")
        }
        commandBuffer = cb
        fence = f
        descriptorPool = dp
        if context.timestampValidBits != nil {
            var qci = VkQueryPoolCreateInfo()
            qci.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO
            qci.queryType = VK_QUERY_TYPE_TIMESTAMP
            qci.queryCount = UInt32(2 * Self.maxDispatchesPerSubmit)
            var qp: VkQueryPool?
            queryPool = vkCreateQueryPool(dev, &qci, nil, &qp) == VK_SUCCESS ? qp : nil
        } else {
            queryPool = nil
        }
    }

    deinit {
        try? flush()
        let dev = context.device
        if let queryPool { vkDestroyQueryPool(dev, queryPool, nil) }
        vkDestroyDescriptorPool(dev, descriptorPool, nil)
        vkDestroyFence(dev, fence, nil)
        vkDestroyCommandPool(dev, pool, nil)
    }

    /// Records a copy of `bytes` bytes between buffers, with the barriers that order it after
    /// earlier kernels and copies and before later ones (and before host reads of `to`).
    /// Timestamped like a dispatch, so transfer figures are the device's copy time, not the
    /// host's wait for a submission.
    func copy(from: VulkanBuffer, to: VulkanBuffer, bytes: Int, kind: CopyKind = .device) throws {
        if batchKernels.count >= Self.maxDispatchesPerSubmit { try flush() }
        try beginIfNeeded()
        transferBarrier(before: true)
        var region = VkBufferCopy()
        region.size = VkDeviceSize(bytes)
        let query = UInt32(2 * batchKernels.count)
        if let queryPool { vkCmdWriteTimestamp(commandBuffer, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, queryPool, query) }
        vkCmdCopyBuffer(commandBuffer, from.buffer, to.buffer, 1, &region)
        if let queryPool { vkCmdWriteTimestamp(commandBuffer, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queryPool, query + 1) }
        batchKernels.append("copy")
        batchCopies.append((kind, bytes))
        transferBarrier(before: false)
        retain([from, to])
    }

    /// Records zero-filling a whole buffer.
    func fillZero(_ b: VulkanBuffer) throws {
        try beginIfNeeded()
        transferBarrier(before: true)
        vkCmdFillBuffer(commandBuffer, b.buffer, 0, VkDeviceSize(VK_WHOLE_SIZE), 0)
        transferBarrier(before: false)
        retain([b])
    }

    private func transferBarrier(before: Bool) {
        let compute = UInt32(VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT.rawValue), transfer = UInt32(VK_PIPELINE_STAGE_TRANSFER_BIT.rawValue)
        let host = UInt32(VK_PIPELINE_STAGE_HOST_BIT.rawValue)
        let shaderRW = UInt32(VK_ACCESS_SHADER_READ_BIT.rawValue | VK_ACCESS_SHADER_WRITE_BIT.rawValue)
        let transferRW = UInt32(VK_ACCESS_TRANSFER_READ_BIT.rawValue | VK_ACCESS_TRANSFER_WRITE_BIT.rawValue)
        var barrier = VkMemoryBarrier()
        barrier.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER
        if before {
            barrier.srcAccessMask = UInt32(VK_ACCESS_SHADER_WRITE_BIT.rawValue | VK_ACCESS_TRANSFER_WRITE_BIT.rawValue)
            barrier.dstAccessMask = transferRW
            vkCmdPipelineBarrier(commandBuffer, compute | transfer, transfer, 0, 1, &barrier, 0, nil, 0, nil)
        } else {
            barrier.srcAccessMask = UInt32(VK_ACCESS_TRANSFER_WRITE_BIT.rawValue)
            barrier.dstAccessMask = shaderRW | transferRW | UInt32(VK_ACCESS_HOST_READ_BIT.rawValue)
            vkCmdPipelineBarrier(commandBuffer, transfer, compute | transfer | host, 0, 1, &barrier, 0, nil, 0, nil)
        }
    }

    private func retain(_ buffers: [VulkanBuffer]) {
        retained += buffers
        for b in buffers { pending.insert(ObjectIdentifier(b)) }
    }

    /// Records one dispatch of `kernel` over `buffers` (in binding order).
    func dispatch(_ kernel: VulkanKernel, _ buffers: [VulkanBuffer], push: [UInt32], groups: (UInt32, UInt32, UInt32)) throws {
        guard buffers.count == kernel.spec.bindings, push.count == kernel.spec.pushWords else {
            throw BackendError(
                .shapeMismatch,
                "kernel \(kernel.spec.name): \(buffers.count) buffers and \(push.count) push words given, "
                    + "\(kernel.spec.bindings) and \(kernel.spec.pushWords) expected")
        }
        if groups.0 == 0 || groups.1 == 0 || groups.2 == 0 { return }
        if batchKernels.count >= Self.maxDispatchesPerSubmit { try flush() }
        // Recording starts before any descriptor names a buffer, so defragmentation (which
        // waits for no sequence to be recording) can never move a buffer under a descriptor.
        try beginIfNeeded()
        let dev = context.device
        var set = try allocateSet(kernel)
        if set == nil {  // the pool is full: submit what is recorded and start over
            try flush()
            set = try allocateSet(kernel)
        }
        guard let set else { throw BackendError(.outOfMemory, "descriptor pool exhausted") }
        var infos = buffers.map { b -> VkDescriptorBufferInfo in
            var i = VkDescriptorBufferInfo()
            i.buffer = b.buffer
            i.offset = 0
            i.range = VkDeviceSize(b.size)
            return i
        }
        infos.withUnsafeMutableBufferPointer { inf in
            guard let base = inf.baseAddress else { return }
            var writes = (0..<inf.count).map { i -> VkWriteDescriptorSet in
                var w = VkWriteDescriptorSet()
                w.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET
                w.dstSet = set
                w.dstBinding = UInt32(i)
                w.descriptorCount = 1
                w.descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER
                w.pBufferInfo = UnsafePointer(base + i)
                return w
            }
            vkUpdateDescriptorSets(dev, UInt32(writes.count), &writes, 0, nil)
        }
        vkCmdBindPipeline(commandBuffer, VK_PIPELINE_BIND_POINT_COMPUTE, kernel.pipeline)
        var setOpt: VkDescriptorSet? = set
        vkCmdBindDescriptorSets(commandBuffer, VK_PIPELINE_BIND_POINT_COMPUTE, kernel.pipelineLayout, 0, 1, &setOpt, 0, nil)
        if !push.isEmpty {
            push.withUnsafeBytes { raw in
                vkCmdPushConstants(
                    commandBuffer, kernel.pipelineLayout, UInt32(VK_SHADER_STAGE_COMPUTE_BIT.rawValue), 0,
                    UInt32(raw.count), raw.baseAddress)
            }
        }
        let query = UInt32(2 * batchKernels.count)
        if let queryPool { vkCmdWriteTimestamp(commandBuffer, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, queryPool, query) }
        vkCmdDispatch(commandBuffer, groups.0, groups.1, groups.2)
        if let queryPool { vkCmdWriteTimestamp(commandBuffer, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queryPool, query + 1) }
        batchKernels.append(kernel.spec.name)
        batchCopies.append(nil)
        var barrier = VkMemoryBarrier()
        barrier.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER
        barrier.srcAccessMask = UInt32(VK_ACCESS_SHADER_WRITE_BIT.rawValue)
        barrier.dstAccessMask = UInt32(VK_ACCESS_SHADER_READ_BIT.rawValue | VK_ACCESS_SHADER_WRITE_BIT.rawValue)
        let stage = UInt32(VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT.rawValue)
        vkCmdPipelineBarrier(commandBuffer, stage, stage, 0, 1, &barrier, 0, nil, 0, nil)
        retain(buffers)
        recordedDispatches += 1
    }

    private var pending: Set<ObjectIdentifier> = []

    /// Whether a recorded, not yet completed command uses `buffer`.
    func isPending(_ buffer: VulkanBuffer) -> Bool { pending.contains(ObjectIdentifier(buffer)) }

    private func allocateSet(_ kernel: VulkanKernel) throws -> VkDescriptorSet? {
        var layout: VkDescriptorSetLayout? = kernel.setLayout
        var set: VkDescriptorSet?
        let r: VkResult = withUnsafePointer(to: &layout) { l in
            var ai = VkDescriptorSetAllocateInfo()
            ai.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO
            ai.descriptorPool = descriptorPool
            ai.descriptorSetCount = 1
            ai.pSetLayouts = l
            return vkAllocateDescriptorSets(context.device, &ai, &set)
        }
        if r == VK_ERROR_OUT_OF_POOL_MEMORY || r == VK_ERROR_FRAGMENTED_POOL { return nil }
        try vkCheck(r, "vkAllocateDescriptorSets(\(kernel.spec.name))")
        return set
    }

    private func beginIfNeeded() throws {
        if recording { return }
        var bi = VkCommandBufferBeginInfo()
        bi.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO
        bi.flags = UInt32(VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT.rawValue)
        try vkCheck(vkBeginCommandBuffer(commandBuffer, &bi), "vkBeginCommandBuffer")
        context.sequenceRecording(true)
        if let queryPool { vkCmdResetQueryPool(commandBuffer, queryPool, 0, UInt32(2 * Self.maxDispatchesPerSubmit)) }
        recording = true
    }

    /// Reads the batch's timestamps: (end − start) masked to the valid bits, times the period.
    private func collectTimestamps() {
        guard let queryPool, let bits = context.timestampValidBits, !batchKernels.isEmpty else { return }
        let queries = 2 * batchKernels.count
        var stamps = [UInt64](repeating: 0, count: queries)
        let r = stamps.withUnsafeMutableBytes { raw in
            vkGetQueryPoolResults(
                context.device, queryPool, 0, UInt32(queries), raw.count, raw.baseAddress, 8,
                UInt32(VK_QUERY_RESULT_64_BIT.rawValue | VK_QUERY_RESULT_WAIT_BIT.rawValue))
        }
        guard r == VK_SUCCESS else { return }
        let mask: UInt64 = bits >= 64 ? .max : (1 << UInt64(bits)) - 1
        for (i, name) in batchKernels.enumerated() {
            let ticks = (stamps[2 * i + 1] &- stamps[2 * i]) & mask
            let ns = Double(ticks) * context.timestampPeriodNS
            if let (kind, bytes) = batchCopies[i] {
                let c = copies[kind] ?? (0, 0, 0)
                copies[kind] = (c.count + 1, c.bytes + bytes, c.ns + ns)
            } else {
                timings[name, default: KernelTiming(kernel: name)].add(ns)
            }
        }
    }

    /// Submits everything recorded and waits for it; afterwards the host sees every result.
    func flush() throws {
        guard recording else { return }
        recording = false
        defer {
            context.sequenceRecording(false)
            batchKernels.removeAll(keepingCapacity: true)
            batchCopies.removeAll(keepingCapacity: true)
            retained.removeAll(keepingCapacity: true)
            pending.removeAll(keepingCapacity: true)
            vkResetDescriptorPool(context.device, descriptorPool, 0)
            vkResetCommandBuffer(commandBuffer, 0)
        }
        try vkCheck(vkEndCommandBuffer(commandBuffer), "vkEndCommandBuffer")
        var cb: VkCommandBuffer? = commandBuffer
        let submitResult: VkResult = withUnsafePointer(to: &cb) { cbp in
            var si = VkSubmitInfo()
            si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO
            si.commandBufferCount = 1
            si.pCommandBuffers = cbp
            context.submitLock.lock()
            defer { context.submitLock.unlock() }
            return vkQueueSubmit(context.queue, 1, &si, fence)
        }
        try vkCheck(submitResult, "vkQueueSubmit")
        var f: VkFence? = fence
        try vkCheck(vkWaitForFences(context.device, 1, &f, VkBool32(VK_TRUE), UInt64.max), "vkWaitForFences")
        try vkCheck(vkResetFences(context.device, 1, &f), "vkResetFences")
        submissions += 1
        collectTimestamps()
    }
}
