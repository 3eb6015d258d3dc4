import GPUFlowCompute

/// What one task cost, as measured on its backend: GPU time from timestamp queries, host time,
/// copies and their bandwidth, the tensor high-water mark. Figures a backend cannot measure
/// are nil and reported as unavailable.
public struct TaskMetrics: Sendable {
    public var id: Int?
    public var name: String
    /// The submitting agent, where there is one.
    public var agent: String?
    public var kind: String
    public var backend: String
    public var device: String
    /// Seconds since the monitor started, and the task's wall time on its final backend.
    public var startedAt: Double
    public var wallS: Double
    /// Device time of its kernels (nil without device timestamps: the CPU and SIMD backends).
    public var gpuS: Double?
    public var transfers: TransferStats?
    public var peakTensorBytes: Int?
    public var kernels: [KernelTiming]
    /// Backends tried, the successful one included.
    public var attempts: Int
    public var energyJ: Double?

    /// Host time: the wall time not spent in kernels.
    public var hostS: Double { max(0, wallS - (gpuS ?? 0)) }
    /// Device-busy time over wall time on the task's queue.
    public var utilization: Double? { gpuS.map { wallS > 0 ? $0 / wallS : 0 } }
    /// The device's copy time where its copies were timestamped (staged memory), else the
    /// host's (mapped memory, where a transfer is the host's memcpy).
    public var uploadBytesPerSecond: Double? {
        guard let t = transfers, let s = t.uploadDeviceSeconds ?? (t.uploadSeconds > 0 ? t.uploadSeconds : nil), s > 0 else { return nil }
        return Double(t.uploadBytes) / s
    }
    public var downloadBytesPerSecond: Double? {
        guard let t = transfers, let s = t.downloadDeviceSeconds ?? (t.downloadSeconds > 0 ? t.downloadSeconds : nil), s > 0 else {
            return nil
        }
        return Double(t.downloadBytes) / s
    }
    /// Which clock the transfer rates come from.
    public var transferClock: String? {
        guard let t = transfers else { return nil }
        return t.uploadDeviceSeconds != nil || t.downloadDeviceSeconds != nil ? "device timestamps" : "host clock (mapped memory)"
    }

    public init(id: Int?, name: String, kind: String, backend: Backend, startedAt: Double, wallS: Double, attempts: Int, energyJ: Double?) {
        self.id = id
        self.name = name
        self.kind = kind
        self.backend = backend.name
        device = backend.deviceDescription
        self.startedAt = startedAt
        self.wallS = wallS
        kernels = backend.kernelTimings
        gpuS = kernels.isEmpty ? nil : kernels.reduce(0) { $0 + $1.totalNS } / 1e9
        transfers = backend.transferStats
        peakTensorBytes = backend.tensorBytesPeak
        self.attempts = attempts
        self.energyJ = energyJ
    }
}
