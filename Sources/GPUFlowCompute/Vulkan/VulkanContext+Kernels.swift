import CVulkan
import Foundation

/// Kernels are built once per device, on first use, through a VkPipelineCache that is kept on
/// disk (keyed by device and by the hash of all embedded SPIR-V), so later runs skip the
/// driver's shader compilation.
final class KernelStore: @unchecked Sendable {
    private let lock = NSLock()
    private var kernels: [String: VulkanKernel] = [:]
    private var cache: VkPipelineCache?
    private var cacheDirty = false
    let cachePath: String?

    init(device: VkDevice, info: VulkanDeviceInfo) {
        let hash = Self.fnv1a(EmbeddedSPIRV.shaders.sorted { $0.key < $1.key }.map { $0.key + $0.value }.joined())
        let dir =
            ProcessInfo.processInfo.environment["XDG_CACHE_HOME"].map { $0 + "/gpuflow" }
            ?? (ProcessInfo.processInfo.environment["HOME"].map { $0 + "/.cache/gpuflow" })
        if let dir {
            cachePath =
                "\(dir)/pipelines-\(String(info.vendorID, radix: 16))-\(String(info.deviceID, radix: 16))-\(String(hash, radix: 16)).bin"
        } else {
            cachePath = nil
        }
        var ci = VkPipelineCacheCreateInfo()
        ci.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO
        let initial = cachePath.flatMap { FileManager.default.contents(atPath: $0) } ?? Data()
        var made: VkPipelineCache?
        let r: VkResult = initial.withUnsafeBytes { raw in
            ci.initialDataSize = raw.count
            ci.pInitialData = raw.baseAddress
            return vkCreatePipelineCache(device, &ci, nil, &made)
        }
        if r != VK_SUCCESS {  // a damaged cache file: start empty rather than fail
            ci.initialDataSize = 0
            ci.pInitialData = nil
            vkCreatePipelineCache(device, &ci, nil, &made)
        }
        cache = made
    }

    func kernel(_ spec: KernelSpec, context: VulkanContext) throws -> VulkanKernel {
        lock.lock()
        defer { lock.unlock() }
        if let k = kernels[spec.key] { return k }
        guard let b64 = EmbeddedSPIRV.shaders[spec.name], let data = Data(base64Encoded: b64) else {
            throw BackendError(.invalidShader, "kernel \(spec.name): no embedded SPIR-V (run scripts/build-shaders)")
        }
        guard let words = VulkanKernel.words(data) else {
            throw BackendError(.invalidShader, "kernel \(spec.name): SPIR-V length \(data.count) is not a multiple of 4")
        }
        let k = try VulkanKernel(context: context, spec: spec, spirv: words, cache: cache)
        kernels[spec.key] = k
        cacheDirty = true
        return k
    }

    /// Writes the pipeline cache to disk if kernels were built since the last save.
    func save(device: VkDevice) {
        lock.lock()
        defer { lock.unlock() }
        guard cacheDirty, let cache, let cachePath else { return }
        var size = 0
        guard vkGetPipelineCacheData(device, cache, &size, nil) == VK_SUCCESS, size > 0 else { return }
        var bytes = [UInt8](repeating: 0, count: size)
        guard vkGetPipelineCacheData(device, cache, &size, &bytes) == VK_SUCCESS else { return }
        let dir = (cachePath as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let tmp = cachePath + ".tmp-\(getpid())"
        if FileManager.default.createFile(atPath: tmp, contents: Data(bytes.prefix(size))) {
            _ = rename(tmp, cachePath)
        }
        cacheDirty = false
    }

    func destroy(device: VkDevice) {
        save(device: device)
        lock.lock()
        kernels.removeAll()
        if let cache { vkDestroyPipelineCache(device, cache, nil) }
        cache = nil
        lock.unlock()
    }

    static func fnv1a(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }
}
