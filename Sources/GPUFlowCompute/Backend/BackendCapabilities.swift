/// What only some backends can do, asked for by capability rather than by backend type, so
/// that a second device backend (Metal, CUDA) is one conformance, not a search for downcasts.

/// A backend whose tensors live in a device memory pool that a task can inspect, configure,
/// allocate from and compact (the memory_management task type).
public protocol DeviceMemoryPooling: Backend {
    /// The device the pool belongs to: its pool, budget and memory path.
    var deviceContext: VulkanContext { get }
    func allocateBuffer(bytes: Int, alignment: Int, access: DeviceBuffer.Access) throws -> DeviceBuffer
    /// Submits recorded work, then compacts the pool.
    func defragment() throws -> DefragmentationResult
    /// One measured copy between host and device.
    func measureTransfer(_ direction: VulkanBackend.TransferDirection, bytes: Int) throws -> VulkanBackend.TransferMeasurement
    /// A device-to-device copy's bandwidth, where the device can time it.
    func measureDeviceBandwidth(bytes: Int) throws -> (gbPerS: Double, seconds: Double)?
}

/// A backend whose matrix-multiply workgroup tile can be chosen per run (the optimization
/// task's `tile` dimension).
public protocol GEMMTileTuning: Backend {
    /// The tiles this device accepts.
    var gemmTiles: [Int] { get }
    /// nil: the device's default tile.
    var gemmTile: UInt32? { get set }
}

/// What every backend answers, with the host backends' answers as defaults.
extension Backend {
    /// Ops of these input shapes run on this backend's own kernels.
    public func supports(_ op: Op, shapes: [[Int]]) -> Bool { supports(op) }
}
