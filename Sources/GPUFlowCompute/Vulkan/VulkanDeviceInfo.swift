import CVulkan

/// What `gpuflow devices` shows, and what kernel selection will read: one physical device's
/// identity, memory and compute limits, read once.
public struct VulkanDeviceInfo: Sendable, Codable {
    public var index: Int
    public var name: String
    public var type: String
    public var apiVersion: String
    public var driverName: String
    public var driverInfo: String
    public var vendorID: UInt32
    public var deviceID: UInt32
    public var heapsMB: [Int]
    public var deviceLocalMB: Int
    public var maxWorkgroupSize: [UInt32]
    public var maxWorkgroupInvocations: UInt32
    public var maxSharedMemoryBytes: UInt32
    public var maxStorageBufferRange: UInt32
    public var subgroupSize: UInt32
    public var timestampPeriodNS: Float
    public var timestampComputeAndGraphics: Bool
    /// Valid bits of a timestamp on the first compute queue family (0: kernels cannot be timed).
    public var timestampValidBits: UInt32
    public var maxAllocationBytes: Int
    /// "mapped" or "staged": how tensors would reach the host on this device.
    public var memoryPath: String
    public var hasMemoryBudget: Bool
}

/// Enumerates the Vulkan physical devices through the loader.
public enum VulkanDevices {
    /// Lists every physical device. Throws `.unavailable` when no loader or driver can make an
    /// instance (no ICD installed), which callers report as "no Vulkan device".
    public static func list() throws -> [VulkanDeviceInfo] {
        var instance: VkInstance?
        let result: VkResult = "gpuflow".withCString { appName in
            var app = VkApplicationInfo()
            app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO
            app.pApplicationName = appName
            app.apiVersion = (1 << 22) | (2 << 12)  // VK_API_VERSION_1_2
            return withUnsafePointer(to: &app) { appPtr in
                var info = VkInstanceCreateInfo()
                info.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO
                info.pApplicationInfo = appPtr
                return vkCreateInstance(&info, nil, &instance)
            }
        }
        guard result == VK_SUCCESS, let instance else {
            throw BackendError(.unavailable, "cannot create a Vulkan instance: no Vulkan driver (ICD) is installed or usable")
        }
        defer { vkDestroyInstance(instance, nil) }
        var count: UInt32 = 0
        guard vkEnumeratePhysicalDevices(instance, &count, nil) == VK_SUCCESS else {
            throw BackendError(.unavailable, "vkEnumeratePhysicalDevices failed")
        }
        var devices = [VkPhysicalDevice?](repeating: nil, count: Int(count))
        guard vkEnumeratePhysicalDevices(instance, &count, &devices) == VK_SUCCESS else {
            throw BackendError(.unavailable, "vkEnumeratePhysicalDevices failed")
        }
        return devices.enumerated().compactMap { i, d in d.map { describe($0, index: i) } }
    }

    private static func describe(_ device: VkPhysicalDevice, index: Int) -> VulkanDeviceInfo {
        var subgroup = VkPhysicalDeviceSubgroupProperties()
        subgroup.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES
        var driver = VkPhysicalDeviceDriverProperties()
        driver.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES
        var props2 = VkPhysicalDeviceProperties2()
        props2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2
        withUnsafeMutablePointer(to: &driver) { drv in
            subgroup.pNext = UnsafeMutableRawPointer(drv)
            withUnsafeMutablePointer(to: &subgroup) { sg in
                props2.pNext = UnsafeMutableRawPointer(sg)
                vkGetPhysicalDeviceProperties2(device, &props2)
            }
        }
        let p = props2.properties
        var mem = VkPhysicalDeviceMemoryProperties()
        vkGetPhysicalDeviceMemoryProperties(device, &mem)
        var heaps: [Int] = []
        var local = 0
        withUnsafeBytes(of: mem.memoryHeaps) { raw in
            let hs = raw.bindMemory(to: VkMemoryHeap.self)
            for h in hs.prefix(Int(mem.memoryHeapCount)) {
                let mb = Int(h.size / (1024 * 1024))
                heaps.append(mb)
                if h.flags & UInt32(VK_MEMORY_HEAP_DEVICE_LOCAL_BIT.rawValue) != 0 { local += mb }
            }
        }
        let l = p.limits
        let v = p.apiVersion
        var maint3 = VkPhysicalDeviceMaintenance3Properties()
        maint3.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES
        var p2 = VkPhysicalDeviceProperties2()
        p2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2
        withUnsafeMutablePointer(to: &maint3) { m in
            p2.pNext = UnsafeMutableRawPointer(m)
            vkGetPhysicalDeviceProperties2(device, &p2)
        }
        var familyCount: UInt32 = 0
        vkGetPhysicalDeviceQueueFamilyProperties(device, &familyCount, nil)
        var families = [VkQueueFamilyProperties](repeating: VkQueueFamilyProperties(), count: Int(familyCount))
        vkGetPhysicalDeviceQueueFamilyProperties(device, &familyCount, &families)
        let compute = families.first { $0.queueFlags & UInt32(VK_QUEUE_COMPUTE_BIT.rawValue) != 0 }
        var extCount: UInt32 = 0
        vkEnumerateDeviceExtensionProperties(device, nil, &extCount, nil)
        var exts = [VkExtensionProperties](repeating: VkExtensionProperties(), count: Int(extCount))
        vkEnumerateDeviceExtensionProperties(device, nil, &extCount, &exts)
        let budget = exts.contains { cString($0.extensionName) == "VK_EXT_memory_budget" }
        return VulkanDeviceInfo(
            index: index, name: cString(p.deviceName), type: typeName(p.deviceType),
            apiVersion: "\(v >> 22).\((v >> 12) & 0x3FF).\(v & 0xFFF)",
            driverName: cString(driver.driverName), driverInfo: cString(driver.driverInfo),
            vendorID: p.vendorID, deviceID: p.deviceID, heapsMB: heaps, deviceLocalMB: local,
            maxWorkgroupSize: [l.maxComputeWorkGroupSize.0, l.maxComputeWorkGroupSize.1, l.maxComputeWorkGroupSize.2],
            maxWorkgroupInvocations: l.maxComputeWorkGroupInvocations,
            maxSharedMemoryBytes: l.maxComputeSharedMemorySize, maxStorageBufferRange: l.maxStorageBufferRange,
            subgroupSize: subgroup.subgroupSize, timestampPeriodNS: l.timestampPeriod,
            timestampComputeAndGraphics: l.timestampComputeAndGraphics != 0, timestampValidBits: compute?.timestampValidBits ?? 0,
            maxAllocationBytes: Int(maint3.maxMemoryAllocationSize),
            memoryPath: MemoryTypeChoice.choose(mem, forceStaging: false)?.path.rawValue ?? "none", hasMemoryBudget: budget)
    }

    private static func typeName(_ t: VkPhysicalDeviceType) -> String {
        switch t {
        case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete"
        case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated"
        case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual"
        case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu"
        default: return "other"
        }
    }

    private static func cString<T>(_ tuple: T) -> String {
        withUnsafeBytes(of: tuple) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }
}
