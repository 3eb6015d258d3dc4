import GPUFlowCompute
import Testing

/// Runs on lavapipe in CI (mesa-vulkan-drivers is installed by scripts/test).
@Suite struct VulkanDeviceTests {
    @Test func listsAtLeastOneDeviceWithRealLimits() throws {
        let devices = try VulkanDevices.list()
        let d = try #require(devices.first)
        #expect(!d.name.isEmpty)
        #expect(["discrete", "integrated", "virtual", "cpu", "other"].contains(d.type))
        #expect(d.maxWorkgroupInvocations >= 128, "Vulkan guarantees at least 128")
        #expect(d.maxSharedMemoryBytes >= 16384, "Vulkan guarantees at least 16 KiB")
        #expect(d.maxStorageBufferRange >= 1 << 27 || d.type != "cpu")
        #expect(d.subgroupSize >= 1)
        #expect(d.heapsMB.contains { $0 > 0 })
    }
}
