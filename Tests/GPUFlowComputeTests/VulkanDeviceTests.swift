import GPUFlowCompute
import GPUFlowTesting
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

/// Transfer figures are the device's where it can time its copies: on the staged path every
/// upload and read-back is a recorded copy with timestamps around it; on mapped memory a
/// transfer is the host's memcpy and is labelled so. Device bandwidth comes from the copy kernel.
@Suite(.serialized) struct TransferTimingTests {
    @Test func stagedCopiesAreTimestampedOnTheDevice() throws {
        let v = try #require(try BackendUnderTest.vulkanStaged.make() as? VulkanBackend)
        try #require(v.context.timestampValidBits != nil, "lavapipe has timestamps")
        let t = try v.tensor([Float](repeating: 1, count: 1 << 16), shape: [1 << 16])
        _ = try v.read(t)
        let stats = try #require(v.transferStats)
        #expect((stats.uploadDeviceSeconds ?? 0) > 0 && (stats.downloadDeviceSeconds ?? 0) > 0, "\(stats)")
        for d in VulkanBackend.TransferDirection.allCases {
            let m = try v.measureTransfer(d, bytes: 1 << 20)
            #expect(m.clock == "device timestamps" && m.seconds > 0, "\(d): \(m)")
        }
    }

    @Test func mappedTransfersSayTheyAreHostCopiesAndBandwidthComesFromTheCopyKernel() throws {
        let v = try #require(try BackendUnderTest.vulkan.make() as? VulkanBackend)
        guard v.context.memoryPath == .mapped else { return }  // a GPU with staged memory: covered above
        let up = try v.measureTransfer(.cpu_to_gpu, bytes: 1 << 20)
        #expect(up.clock == "host clock" && up.seconds > 0)
        #expect(v.transferStats?.uploadDeviceSeconds == nil, "no device copy ran, so no device time is claimed")
        let device = try v.measureTransfer(.gpu_to_gpu, bytes: 1 << 20)
        #expect(device.clock == "device timestamps")
        let bw = try #require(try v.measureDeviceBandwidth(bytes: 1 << 22))
        #expect(bw.gbPerS > 0 && bw.seconds > 0)
        #expect(v.kernelTimings.contains { $0.kernel == "copy" }, "the copy kernel ran and was timed")
    }
}
