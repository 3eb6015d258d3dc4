import CVulkan
import Foundation

/// Which physical device to open: the profile's `device.prefer` and `device.index`.
public enum VulkanDevicePreference: String, Sendable, CaseIterable {
    case discrete, integrated, cpu, any
}

/// One opened Vulkan device: instance, physical device, logical device, a compute queue and a
/// command pool, plus the limits kernels are chosen by. Made once per process and shared.
public final class VulkanContext: @unchecked Sendable {
    public let info: VulkanDeviceInfo
    let instance: VkInstance
    let physicalDevice: VkPhysicalDevice
    let device: VkDevice
    let queue: VkQueue
    let queueFamily: UInt32
    let commandPool: VkCommandPool
    /// The memory type buffers are made in: host-visible and coherent, device-local when the
    /// device offers such a type (lavapipe, resizable-BAR GPUs), so no staging copy is needed.
    let memoryTypeIndex: UInt32
    public let memoryIsDeviceLocal: Bool
    /// Whether tensors are mapped by the host or reached through staging buffers.
    public let memoryPath: VulkanMemoryPath
    /// Whether VK_EXT_memory_budget is enabled (not on lavapipe).
    public let hasMemoryBudget: Bool
    private let tensorHeapIndex: Int
    public let maxStorageBufferRange: Int
    public let maxAllocationSize: Int
    /// Workgroup size of the one-thread-per-element kernels, from the device limits.
    public let elementWorkgroup: UInt32
    /// Tile of the GEMM kernel (workgroup TILE×TILE).
    public let gemmTile: UInt32
    /// Nanoseconds per timestamp tick, and the bits of a timestamp that are valid on the compute
    /// queue; nil when the queue cannot time kernels (validBits 0).
    public let timestampPeriodNS: Double
    public let timestampValidBits: UInt32?
    /// Every tensor's memory, sub-allocated by size tier under the profile's budget.
    public let pool: VulkanMemoryPool
    /// Host-visible memory for staging copies (used on the staged path only).
    public let stagingPool: VulkanMemoryPool
    /// Bytes of the heap buffers are allocated from.
    public let heapBytes: Int
    /// Built kernels and the on-disk pipeline cache.
    let kernels: KernelStore
    /// vkQueueSubmit needs the queue externally synchronised; backends on several threads share it.
    let submitLock = NSLock()

    /// Opens the device `index` if given, else the first by `preference`. Throws
    /// `BackendError(.unavailable)` when there is no Vulkan driver or no matching device.
    /// `staging: true` forces the staged memory path even where the device could map its memory
    /// (tests use it to run the staging code on lavapipe).
    public init(preference: VulkanDevicePreference = .any, index: Int? = nil, staging: Bool = false) throws {
        let devices = try VulkanDevices.list()
        guard !devices.isEmpty else { throw BackendError(.unavailable, "no Vulkan physical device") }
        let chosen: VulkanDeviceInfo
        if let index {
            guard let d = devices.first(where: { $0.index == index }) else {
                throw BackendError(.unavailable, "no Vulkan device with index \(index) (there are \(devices.count))")
            }
            chosen = d
        } else {
            let rank: (VulkanDeviceInfo) -> Int = { d in
                switch preference {
                case .discrete: return ["discrete": 0, "integrated": 1, "virtual": 2, "cpu": 3][d.type] ?? 4
                case .integrated: return ["integrated": 0, "discrete": 1, "virtual": 2, "cpu": 3][d.type] ?? 4
                case .cpu: return d.type == "cpu" ? 0 : 1
                case .any: return 0
                }
            }
            guard let d = devices.min(by: { (rank($0), $0.index) < (rank($1), $1.index) }) else {
                throw BackendError(.unavailable, "no Vulkan device")
            }
            chosen = d
        }
        info = chosen

        var inst: VkInstance?
        try "gpuflow".withCString { name in
            var app = VkApplicationInfo()
            app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO
            app.pApplicationName = name
            app.apiVersion = (1 << 22) | (2 << 12)
            try withUnsafePointer(to: &app) { appPtr in
                var ci = VkInstanceCreateInfo()
                ci.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO
                ci.pApplicationInfo = appPtr
                try vkCheck(vkCreateInstance(&ci, nil, &inst), "vkCreateInstance")
            }
        }
        guard let inst else { throw BackendError(.unavailable, "vkCreateInstance returned no instance") }
        instance = inst
        var count: UInt32 = 0
        vkEnumeratePhysicalDevices(inst, &count, nil)
        var physicals = [VkPhysicalDevice?](repeating: nil, count: Int(count))
        vkEnumeratePhysicalDevices(inst, &count, &physicals)
        guard chosen.index < physicals.count, let pd = physicals[chosen.index] else {
            vkDestroyInstance(inst, nil)
            throw BackendError(.unavailable, "physical device \(chosen.index) disappeared")
        }
        physicalDevice = pd

        // A queue family with compute.
        var familyCount: UInt32 = 0
        vkGetPhysicalDeviceQueueFamilyProperties(pd, &familyCount, nil)
        var families = [VkQueueFamilyProperties](repeating: VkQueueFamilyProperties(), count: Int(familyCount))
        vkGetPhysicalDeviceQueueFamilyProperties(pd, &familyCount, &families)
        guard let family = families.firstIndex(where: { $0.queueFlags & UInt32(VK_QUEUE_COMPUTE_BIT.rawValue) != 0 }) else {
            vkDestroyInstance(inst, nil)
            throw BackendError(.unavailable, "\(chosen.name) has no compute queue")
        }
        queueFamily = UInt32(family)
        let validBits = families[family].timestampValidBits
        timestampValidBits = validBits > 0 ? validBits : nil
        hasMemoryBudget = chosen.hasMemoryBudget

        // VK_EXT_memory_budget, where the driver has it, tells how much of each heap this
        // process may use now; the pool's budget never exceeds it.
        let enabled = chosen.hasMemoryBudget ? ["VK_EXT_memory_budget"] : []
        var cNames = enabled.map { strdup($0) }
        defer { cNames.forEach { free($0) } }

        var dev: VkDevice?
        var priority: Float = 1
        let createResult: VkResult = withUnsafePointer(to: &priority) { prio in
            var qci = VkDeviceQueueCreateInfo()
            qci.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO
            qci.queueFamilyIndex = UInt32(family)
            qci.queueCount = 1
            qci.pQueuePriorities = prio
            return withUnsafePointer(to: &qci) { q in
                var dci = VkDeviceCreateInfo()
                dci.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO
                dci.queueCreateInfoCount = 1
                dci.pQueueCreateInfos = q
                return cNames.withUnsafeMutableBufferPointer { names in
                    names.withMemoryRebound(to: UnsafePointer<CChar>?.self) { ptrs in
                        dci.enabledExtensionCount = UInt32(ptrs.count)
                        dci.ppEnabledExtensionNames = ptrs.isEmpty ? nil : UnsafePointer(ptrs.baseAddress)
                        return vkCreateDevice(pd, &dci, nil, &dev)
                    }
                }
            }
        }
        guard createResult == VK_SUCCESS, let dev else {
            vkDestroyInstance(inst, nil)
            try vkCheck(createResult == VK_SUCCESS ? VK_ERROR_INITIALIZATION_FAILED : createResult, "vkCreateDevice")
            throw BackendError(.unavailable, "vkCreateDevice returned no device")
        }
        device = dev
        var q: VkQueue?
        vkGetDeviceQueue(dev, UInt32(family), 0, &q)
        guard let q else {
            vkDestroyDevice(dev, nil)
            vkDestroyInstance(inst, nil)
            throw BackendError(.unavailable, "no compute queue on \(chosen.name)")
        }
        queue = q

        var pci = VkCommandPoolCreateInfo()
        pci.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO
        pci.flags = UInt32(VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT.rawValue)
        pci.queueFamilyIndex = UInt32(family)
        var pool: VkCommandPool?
        let poolResult = vkCreateCommandPool(dev, &pci, nil, &pool)
        guard poolResult == VK_SUCCESS, let pool else {
            vkDestroyDevice(dev, nil)
            vkDestroyInstance(inst, nil)
            try vkCheck(poolResult, "vkCreateCommandPool")
            throw BackendError(.unavailable, "no command pool")
        }
        commandPool = pool

        var mem = VkPhysicalDeviceMemoryProperties()
        vkGetPhysicalDeviceMemoryProperties(pd, &mem)
        guard let memory = MemoryTypeChoice.choose(mem, forceStaging: staging) else {
            vkDestroyCommandPool(dev, pool, nil)
            vkDestroyDevice(dev, nil)
            vkDestroyInstance(inst, nil)
            throw BackendError(.unavailable, "\(chosen.name) has no host-visible coherent memory type")
        }
        memoryPath = memory.path
        memoryTypeIndex = memory.deviceType
        tensorHeapIndex = withUnsafeBytes(of: mem.memoryTypes) {
            Int($0.bindMemory(to: VkMemoryType.self)[Int(memory.deviceType)].heapIndex)
        }
        memoryIsDeviceLocal = memory.deviceIsDeviceLocal
        heapBytes = memory.deviceHeapBytes

        // Limits were read once, with the device's description (VulkanDevices.list).
        maxStorageBufferRange = Int(chosen.maxStorageBufferRange)
        timestampPeriodNS = Double(chosen.timestampPeriodNS)
        maxAllocationSize = chosen.maxAllocationBytes
        let invocations = chosen.maxWorkgroupInvocations
        elementWorkgroup = min(256, invocations, chosen.maxWorkgroupSize.first ?? 256)
        // 16×16 tiles need 256 invocations and 8 KiB of shared memory (the register-blocked
        // GEMM's two 16×64 tiles); fall back to 8×8.
        gemmTile = invocations >= 256 && chosen.maxSharedMemoryBytes >= 8192 ? 16 : 8
        kernels = KernelStore(device: dev, info: chosen)
        let maxAllocation = maxAllocationSize > 0 ? maxAllocationSize : memory.deviceHeapBytes
        self.pool = VulkanMemoryPool(
            device: dev, memoryTypeIndex: memory.deviceType, hostVisible: memory.path == .mapped,
            maxAllocation: maxAllocation, budgetBytes: memory.deviceHeapBytes)
        // Staging memory is its own pool, outside the tensor budget: it only ever holds what is
        // in flight between host and device.
        stagingPool = VulkanMemoryPool(
            device: dev, memoryTypeIndex: memory.hostType, hostVisible: true,
            maxAllocation: maxAllocation, budgetBytes: .max)
    }

    func kernel(_ spec: KernelSpec) throws -> VulkanKernel { try kernels.kernel(spec, context: self) }

    private let recordingLock = NSLock()
    private var recordingSequences = 0

    /// Sequences report when they start and stop holding recorded commands, so that
    /// defragmentation can refuse to move buffers a recorded command still refers to.
    func sequenceRecording(_ started: Bool) {
        recordingLock.lock()
        recordingSequences += started ? 1 : -1
        recordingLock.unlock()
    }

    /// Compacts the tensor pool: moves buffers out of its emptiest blocks and returns the blocks
    /// that emptied. Throws `.unsupported` while any backend on this device holds recorded,
    /// unsubmitted commands (flush them first: `VulkanBackend.defragment` does).
    public func defragment() throws -> DefragmentationResult {
        recordingLock.lock()
        defer { recordingLock.unlock() }
        guard recordingSequences == 0 else {
            throw BackendError(.unsupported, "defragment: \(recordingSequences) command sequence(s) on this device are still recording")
        }
        vkDeviceWaitIdle(device)
        return try pool.defragment { buffer, fresh in try buffer.relocate(to: fresh) }
    }

    /// Copies between two buffers now, in a command buffer of its own (used by defragmentation
    /// of device-only memory).
    func copyNow(from: VkBuffer, to: VkBuffer, bytes: Int) throws {
        var cbai = VkCommandBufferAllocateInfo()
        cbai.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO
        cbai.commandPool = commandPool
        cbai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY
        cbai.commandBufferCount = 1
        var cb: VkCommandBuffer?
        submitLock.lock()
        defer { submitLock.unlock() }
        try vkCheck(vkAllocateCommandBuffers(device, &cbai, &cb), "vkAllocateCommandBuffers (copy)")
        guard let cb else { throw BackendError(.outOfMemory, "no command buffer") }
        var cbOpt: VkCommandBuffer? = cb
        defer { vkFreeCommandBuffers(device, commandPool, 1, &cbOpt) }
        var bi = VkCommandBufferBeginInfo()
        bi.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO
        bi.flags = UInt32(VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT.rawValue)
        try vkCheck(vkBeginCommandBuffer(cb, &bi), "vkBeginCommandBuffer (copy)")
        var region = VkBufferCopy()
        region.size = VkDeviceSize(bytes)
        vkCmdCopyBuffer(cb, from, to, 1, &region)
        try vkCheck(vkEndCommandBuffer(cb), "vkEndCommandBuffer (copy)")
        let r: VkResult = withUnsafePointer(to: &cbOpt) { p in
            var si = VkSubmitInfo()
            si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO
            si.commandBufferCount = 1
            si.pCommandBuffers = p
            return vkQueueSubmit(queue, 1, &si, nil)
        }
        try vkCheck(r, "vkQueueSubmit (copy)")
        try vkCheck(vkQueueWaitIdle(queue), "vkQueueWaitIdle (copy)")
    }

    /// The driver's budget and current usage of the tensor heap (VK_EXT_memory_budget); nil
    /// where the extension is missing — never an estimate.
    public func heapBudget() -> (budgetBytes: Int, usageBytes: Int)? {
        guard hasMemoryBudget else { return nil }
        var budget = VkPhysicalDeviceMemoryBudgetPropertiesEXT()
        budget.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT
        var props = VkPhysicalDeviceMemoryProperties2()
        props.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2
        withUnsafeMutablePointer(to: &budget) { b in
            props.pNext = UnsafeMutableRawPointer(b)
            vkGetPhysicalDeviceMemoryProperties2(physicalDevice, &props)
        }
        let i = tensorHeapIndex
        let b = withUnsafeBytes(of: budget.heapBudget) { Int($0.bindMemory(to: VkDeviceSize.self)[i]) }
        let u = withUnsafeBytes(of: budget.heapUsage) { Int($0.bindMemory(to: VkDeviceSize.self)[i]) }
        return (b, u)
    }

    /// Sets the tensor pool's budget to `bytes`, capped by the driver's heap budget where known.
    public func setPoolBudget(bytes: Int) {
        let cap = heapBudget().map { $0.budgetBytes } ?? heapBytes
        pool.setBudget(bytes: min(bytes, cap))
    }

    /// Saves the pipeline cache now (it is also saved when the context goes away).
    public func savePipelineCache() { kernels.save(device: device) }

    deinit {
        vkDeviceWaitIdle(device)
        kernels.destroy(device: device)
        pool.releaseAll()
        stagingPool.releaseAll()
        vkDestroyCommandPool(device, commandPool, nil)
        vkDestroyDevice(device, nil)
        vkDestroyInstance(instance, nil)
    }

    /// The process-wide context for a preference, opened on first use.
    public static func shared(preference: VulkanDevicePreference = .any, index: Int? = nil, staging: Bool = false) throws -> VulkanContext {
        try registry.context(preference: preference, index: index, staging: staging)
    }

    /// Contexts opened so far, without opening one: the monitor samples what is in use.
    public static var opened: [VulkanContext] { registry.all() }

    private static let registry = Registry()

    private final class Registry: @unchecked Sendable {
        private let lock = NSLock()
        private var contexts: [String: VulkanContext] = [:]
        private var failures: [String: BackendError] = [:]

        func all() -> [VulkanContext] {
            lock.lock()
            defer { lock.unlock() }
            return contexts.sorted { $0.key < $1.key }.map(\.value)
        }

        func context(preference: VulkanDevicePreference, index: Int?, staging: Bool) throws -> VulkanContext {
            let key = "\(preference.rawValue)/\(index.map(String.init) ?? "-")/\(staging)"
            lock.lock()
            defer { lock.unlock() }
            if let c = contexts[key] { return c }
            if let f = failures[key] { throw f }
            do {
                let c = try VulkanContext(preference: preference, index: index, staging: staging)
                contexts[key] = c
                return c
            } catch let e as BackendError {
                failures[key] = e
                throw e
            }
        }
    }
}
