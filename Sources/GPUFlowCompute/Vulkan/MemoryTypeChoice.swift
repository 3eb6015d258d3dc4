import CVulkan

/// How tensor memory reaches the host on a device.
public enum VulkanMemoryPath: String, Sendable {
    /// Tensors live in memory the host maps directly: device-local and host-visible (lavapipe,
    /// integrated GPUs, resizable-BAR discrete GPUs), so uploads and downloads are plain copies.
    case mapped
    /// Tensors live in device-local memory the host cannot map; uploads and downloads go through
    /// staging buffers, recorded into the same command sequence as the kernels.
    case staged
}

/// The memory types a context uses, chosen from the device's memory properties.
struct MemoryTypeChoice {
    let path: VulkanMemoryPath
    /// Where tensors live.
    let deviceType: UInt32
    let deviceHeapBytes: Int
    let deviceIsDeviceLocal: Bool
    /// Host-visible, coherent memory for staging (the same as deviceType on the mapped path).
    let hostType: UInt32

    /// A device-local, host-visible heap smaller than this is a PCIe BAR window (typically
    /// 256 MiB): too small to hold tensors, so such GPUs take the staged path.
    static let minimumMappedHeap = 1 << 30

    static func choose(_ mem: VkPhysicalDeviceMemoryProperties, forceStaging: Bool) -> MemoryTypeChoice? {
        let local = UInt32(VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT.rawValue)
        let visible = UInt32(VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT.rawValue | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT.rawValue)
        let cached = UInt32(VK_MEMORY_PROPERTY_HOST_CACHED_BIT.rawValue)
        var types: [(index: UInt32, flags: UInt32, heap: Int)] = []
        withUnsafeBytes(of: mem.memoryTypes) { tRaw in
            withUnsafeBytes(of: mem.memoryHeaps) { hRaw in
                let ts = tRaw.bindMemory(to: VkMemoryType.self), hs = hRaw.bindMemory(to: VkMemoryHeap.self)
                for i in 0..<Int(mem.memoryTypeCount) {
                    types.append((UInt32(i), ts[i].propertyFlags, Int(hs[Int(ts[i].heapIndex)].size)))
                }
            }
        }
        let hostCandidates = types.filter { $0.flags & visible == visible }
        guard let host = hostCandidates.first(where: { $0.flags & cached != 0 }) ?? hostCandidates.first else { return nil }
        let direct = types.filter { $0.flags & (local | visible) == (local | visible) && $0.heap >= minimumMappedHeap }
            .max { $0.heap < $1.heap }
        let deviceOnly = types.filter { $0.flags & local != 0 }.max { $0.heap < $1.heap }
        if !forceStaging {
            if let direct {
                return MemoryTypeChoice(
                    path: .mapped, deviceType: direct.index, deviceHeapBytes: direct.heap, deviceIsDeviceLocal: true,
                    hostType: direct.index)
            }
            if deviceOnly == nil {  // no device-local memory at all: the host's is the device's
                return MemoryTypeChoice(
                    path: .mapped, deviceType: host.index, deviceHeapBytes: host.heap, deviceIsDeviceLocal: false,
                    hostType: host.index)
            }
        }
        let device = deviceOnly ?? host
        return MemoryTypeChoice(
            path: .staged, deviceType: device.index, deviceHeapBytes: device.heap,
            deviceIsDeviceLocal: device.flags & local != 0, hostType: host.index)
    }
}
