import Foundation

public struct PoolConfig: Codable, Sendable, Equatable {
    /// For `allocate`: the memory to reserve; for a pool: its initial size.
    public var sizeMB: Int
    public var maxSizeMB: Int?
    public var growth: PoolGrowth
    public var allocationStrategy: AllocationStrategy
    public init(sizeMB: Int = 0, maxSizeMB: Int? = nil, growth: PoolGrowth = .fixed, allocationStrategy: AllocationStrategy = .best_fit) {
        self.sizeMB = sizeMB
        self.maxSizeMB = maxSizeMB
        self.growth = growth
        self.allocationStrategy = allocationStrategy
    }
}

public enum MemoryAlignment: String, NamedChoice {
    case byte, word, cache_line, page
    public var bytes: Int {
        switch self {
        case .byte: return 1
        case .word: return 8
        case .cache_line: return 64
        case .page: return 4096
        }
    }
}

/// Who reads and writes an allocated buffer: kernels only, or the host as well.
public enum AccessPattern: String, NamedChoice { case device_local, host_to_device, device_to_host }

public enum TransferDirection: String, NamedChoice { case cpu_to_gpu, gpu_to_cpu, gpu_to_gpu }

public struct MemoryManagementTask: Codable, Sendable, Equatable {
    public var operation: MemoryOperation
    public var poolConfig: PoolConfig
    public var cleanupStrategy: CleanupStrategy
    /// allocate: bytes, alignment, access pattern; transfer: bytes and direction.
    public var sizeBytes = 0
    public var alignment: MemoryAlignment = .cache_line
    public var accessPattern: AccessPattern = .device_local
    public var direction: TransferDirection = .cpu_to_gpu
    /// deallocate: the buffers, and whether unknown ids and other agents' buffers are allowed.
    public var bufferIDs: [Int] = []
    public var force = false
    /// optimize: compact only when fragmentation (1 − largest free range / free bytes) reaches this.
    public var consolidationThreshold = 0.2
    /// garbage_collection: return every idle block now; keep one idle block per tier as a cache.
    public var aggressive = false
    public var preserveCache = true
    /// lazy cleanup: free idle blocks once the pool is this full, and only those idle this long.
    public var pressureThreshold = 0.8
    public var delayS = 1.0
    /// scheduled cleanup: every interval, free this percentage of the idle blocks.
    public var intervalS = 1.0
    public var percentage = 50.0

    public init(operation: MemoryOperation, poolConfig: PoolConfig = .init(), cleanupStrategy: CleanupStrategy = .lazy) {
        self.operation = operation
        self.poolConfig = poolConfig
        self.cleanupStrategy = cleanupStrategy
    }
}
