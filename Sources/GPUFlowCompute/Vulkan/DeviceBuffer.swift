import Foundation

/// A buffer a memory_management task allocated on its own (not a tensor): it lives in the
/// device pool — or, for host access patterns, in the host-visible staging pool — until a
/// deallocate task frees it, charged to the allocating agent's quota meanwhile.
public final class DeviceBuffer: @unchecked Sendable {
    public enum Access: String, Sendable, CaseIterable {
        /// Used by kernels only: device-local memory (the tensor pool).
        case device_local
        /// Written by the host, read by kernels (uploads): host-visible memory.
        case host_to_device
        /// Written by kernels, read by the host (read-backs): host-visible memory.
        case device_to_host
    }

    let buffer: VulkanBuffer
    public let bytes: Int
    public let alignment: Int
    public let access: Access
    /// Where it landed in its pool, to show the alignment was honoured.
    public var offset: Int { buffer.allocation.offset }
    public var allocatedBytes: Int { buffer.allocation.size }

    init(buffer: VulkanBuffer, bytes: Int, alignment: Int, access: Access) {
        self.buffer = buffer
        self.bytes = bytes
        self.alignment = alignment
        self.access = access
    }
}

extension VulkanBackend {
    /// Allocates a buffer of `bytes` at `alignment` for `access`, counted against this backend's meter.
    public func allocateBuffer(bytes: Int, alignment: Int, access: DeviceBuffer.Access) throws -> DeviceBuffer {
        guard alignment > 0, alignment & (alignment - 1) == 0 else {
            throw BackendError(.shapeMismatch, "allocate: alignment must be a power of two, got \(alignment)")
        }
        let role: VulkanBuffer.Role = access == .device_local ? .tensor : .staging
        let b = try VulkanBuffer(context: context, bytes: bytes, role: role, meter: tensorMeter, alignment: alignment)
        return DeviceBuffer(buffer: b, bytes: bytes, alignment: alignment, access: access)
    }

    public enum TransferDirection: String, Sendable, CaseIterable { case cpu_to_gpu, gpu_to_cpu, gpu_to_gpu }

    /// Copies `bytes` in `direction` for real and returns the seconds it took (host to device:
    /// values uploaded into a tensor; device to host: a tensor read back; device to device: a
    /// buffer copy recorded and submitted).
    public func measureTransfer(_ direction: TransferDirection, bytes: Int) throws -> Double {
        let count = max(1, bytes / 4)
        var values = [Float](repeating: 0, count: count)
        for i in stride(from: 0, to: count, by: 97) { values[i] = Float(i) }
        switch direction {
        case .cpu_to_gpu:
            let t0 = DispatchTime.now().uptimeNanoseconds
            let t = try tensor(values, shape: [count])
            _ = try sum(t)  // the upload is in the submission this read waits for
            return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        case .gpu_to_cpu:
            let t = try tensor(values, shape: [count])
            _ = try sum(t)
            let t0 = DispatchTime.now().uptimeNanoseconds
            let back = try read(t)
            guard back.count == count, back[0] == values[0] else { throw BackendError(.deviceLost, "transfer: read-back mismatch") }
            return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        case .gpu_to_gpu:
            let a = try VulkanBuffer(context: context, bytes: count * 4, meter: tensorMeter)
            let b = try VulkanBuffer(context: context, bytes: count * 4, meter: tensorMeter)
            let t0 = DispatchTime.now().uptimeNanoseconds
            try sequence.copy(from: a, to: b, bytes: count * 4)
            try sequence.flush()
            return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        }
    }
}
