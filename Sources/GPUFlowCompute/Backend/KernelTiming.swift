/// Measured time of one kernel across its dispatches: GPU time from timestamp queries on
/// Vulkan. A backend that cannot measure reports no timings (never zeros).
public struct KernelTiming: Sendable, Equatable {
    public let kernel: String
    public var dispatches: Int
    public var totalNS: Double
    public var maxNS: Double

    public init(kernel: String, dispatches: Int = 0, totalNS: Double = 0, maxNS: Double = 0) {
        self.kernel = kernel
        self.dispatches = dispatches
        self.totalNS = totalNS
        self.maxNS = maxNS
    }

    mutating func add(_ ns: Double) {
        dispatches += 1
        totalNS += ns
        maxNS = max(maxNS, ns)
    }
}

/// Host↔device copies: bytes moved and host time spent, each way, and the device's own time
/// for the copies it ran (staged memory, timestamped; nil where it ran none or cannot time —
/// on mapped memory a transfer is the host's memcpy, and its host time is the figure).
public struct TransferStats: Sendable, Equatable {
    public var uploads = 0
    public var uploadBytes = 0
    public var uploadSeconds = 0.0
    public var downloads = 0
    public var downloadBytes = 0
    public var downloadSeconds = 0.0
    public var uploadDeviceSeconds: Double?
    public var downloadDeviceSeconds: Double?
    public init() {}
}
