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

    /// One measured copy: its seconds and which clock measured them.
    public struct TransferMeasurement: Sendable {
        public let seconds: Double
        /// "device timestamps" (the copy command's own time on the device) or "host clock"
        /// (mapped memory: the transfer is the host's memcpy into memory the device reads).
        public let clock: String
    }

    /// Copies `bytes` in `direction` for real and times the copy alone: buffers are allocated
    /// and filled before, and checked after, outside the measurement. A staged copy is timed by
    /// device timestamps where the queue has them; on mapped memory (and on a queue without
    /// timestamps) the host clock times the memcpy or the submission.
    public func measureTransfer(_ direction: TransferDirection, bytes: Int) throws -> TransferMeasurement {
        let count = max(1, bytes / 4)
        let values = Self.probe(count)
        let timed = context.timestampValidBits != nil
        func deviceCopyNS(_ kind: VulkanSequence.CopyKind, _ body: () throws -> Void) throws -> Double? {
            let before = sequence.copies[kind]?.ns ?? 0, n0 = sequence.copies[kind]?.count ?? 0
            try body()
            guard timed, let after = sequence.copies[kind], after.count > n0 else { return nil }
            return after.ns - before
        }
        func hostNS(_ body: () throws -> Void) rethrows -> Double {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try body()
            return Double(DispatchTime.now().uptimeNanoseconds - t0)
        }
        /// The device's figure where it timed the copy, else the host's.
        func measurement(device: Double?, host: Double, hostClock: String = "host clock") -> TransferMeasurement {
            device.map { TransferMeasurement(seconds: $0 / 1e9, clock: "device timestamps") }
                ?? TransferMeasurement(seconds: host / 1e9, clock: hostClock)
        }
        switch direction {
        case .cpu_to_gpu:
            let t = try zeros(shape: [count])
            try sequence.flush()
            var host = 0.0
            let device = try deviceCopyNS(.upload) {
                host = try hostNS { try write(t, values) }
                try sequence.flush()
            }
            guard try read(t).first == values[0] else { throw BackendError(.deviceLost, "transfer: the uploaded values do not read back") }
            return measurement(device: device, host: host)
        case .gpu_to_cpu:
            let t = try tensor(values, shape: [count])
            try sequence.flush()
            var back: [Float] = []
            var host = 0.0
            let device = try deviceCopyNS(.download) { host = try hostNS { back = try read(t) } }
            guard back.count == count, back[0] == values[0] else { throw BackendError(.deviceLost, "transfer: read-back mismatch") }
            return measurement(device: device, host: host)
        case .gpu_to_gpu:
            let a = try VulkanBuffer(context: context, bytes: count * 4, meter: tensorMeter)
            let b = try VulkanBuffer(context: context, bytes: count * 4, meter: tensorMeter)
            try sequence.flush()
            var host = 0.0
            let device = try deviceCopyNS(.device) {
                host = try hostNS {
                    try sequence.copy(from: a, to: b, bytes: count * 4, kind: .device)
                    try sequence.flush()
                }
            }
            return measurement(device: device, host: host, hostClock: "host clock (submission and wait)")
        }
    }

    /// Device memory bandwidth from the copy kernel (every element read once and written once),
    /// timed by device timestamps; nil where the queue has none (no figure rather than the
    /// host's). Bytes moved = 2 × `bytes`.
    public func measureDeviceBandwidth(bytes: Int) throws -> (gbPerS: Double, seconds: Double)? {
        guard context.timestampValidBits != nil else { return nil }
        let count = max(1, bytes / 4)
        let values = Self.probe(count)
        let x = try tensor(values, shape: [count]), y = try zeros(shape: [count])
        try copy(x, into: y)  // warm-up: pipeline creation and first touch
        try sequence.flush()
        let before = sequence.timings["copy"]?.totalNS ?? 0
        try copy(x, into: y)
        try sequence.flush()
        let ns = (sequence.timings["copy"]?.totalNS ?? 0) - before
        guard ns > 0, try read(y)[count - 1] == values[count - 1] else { return nil }
        return (2 * Double(count * 4) / ns, ns / 1e9)
    }

    /// Values to copy, mostly zero, with marks a read-back checks.
    private static func probe(_ count: Int) -> [Float] {
        var values = [Float](repeating: 0, count: count)
        for i in stride(from: 0, to: count, by: 97) { values[i] = Float(i) }
        return values
    }
}
