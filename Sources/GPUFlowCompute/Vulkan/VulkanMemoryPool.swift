import CVulkan
import Foundation

/// Device memory for every buffer of one Vulkan context, sub-allocated from large
/// VkDeviceMemory blocks by size tier (after Vulkan Memory Allocator's design).
///
/// Tiers, chosen for the tensors an MLP workload makes:
///   tiny   ≤ 4 KiB   (biases, per-row losses, labels)          from 1 MiB blocks
///   small  ≤ 256 KiB (activations of a mini-batch)             from 8 MiB blocks
///   medium ≤ 4 MiB   (weight matrices up to 1024×1024)          from 64 MiB blocks
///   large  ≤ 64 MiB  (big GEMM operands, whole data sets)       from 256 MiB blocks
///   huge   > 64 MiB  dedicated allocations, returned to the driver when freed.
/// Small tiers use small blocks so a short run does not reserve much it never uses; each
/// block holds at least 4 of its tier's largest requests, so a block's waste stays bounded.
/// As in VMA, a tier's first blocks are smaller (1/8, 1/4, 1/2 of its block size) and grow as
/// the tier fills, so a small workload holds little more than it uses.
/// Free ranges are kept sorted and coalesced; empty blocks stay cached for reuse until
/// `collectGarbage` returns them. The budget (the profile's memory_pool_mb) caps the bytes
/// held from the driver: past it, allocation fails with a typed out-of-memory error.
public final class VulkanMemoryPool: @unchecked Sendable {
    public struct Tier: Sendable {
        public let name: String
        public let maxRequest: Int
        public let blockSize: Int
    }

    public static let tiers: [Tier] = [
        Tier(name: "tiny", maxRequest: 4 << 10, blockSize: 1 << 20),
        Tier(name: "small", maxRequest: 256 << 10, blockSize: 8 << 20),
        Tier(name: "medium", maxRequest: 4 << 20, blockSize: 64 << 20),
        Tier(name: "large", maxRequest: 64 << 20, blockSize: 256 << 20),
        Tier(name: "huge", maxRequest: .max, blockSize: 0),
    ]

    /// Where one buffer's memory lives.
    final class Allocation {
        let block: Block
        let offset: Int
        let size: Int
        let requested: Int
        var traceID = 0
        /// The buffer bound here; defragmentation moves it.
        weak var owner: VulkanBuffer?
        /// The binding's required alignment, kept so a move honours it.
        var alignment = 1
        init(block: Block, offset: Int, size: Int, requested: Int) {
            self.block = block
            self.offset = offset
            self.size = size
            self.requested = requested
        }
        /// The host address, on a host-visible pool.
        var mapped: UnsafeMutableRawPointer? { block.mapped.map { $0 + offset } }
    }

    final class Block {
        let memory: VkDeviceMemory
        let mapped: UnsafeMutableRawPointer?
        let size: Int
        let tier: Int
        /// Free ranges (offset, length), sorted by offset, never adjacent (always coalesced).
        var free: [(offset: Int, length: Int)]
        var allocations = 0
        var idleSince: Date?
        init(memory: VkDeviceMemory, mapped: UnsafeMutableRawPointer?, size: Int, tier: Int) {
            self.memory = memory
            self.mapped = mapped
            self.size = size
            self.tier = tier
            free = [(0, size)]
        }
        var freeBytes: Int { free.reduce(0) { $0 + $1.length } }
        var largestFree: Int { free.map(\.length).max() ?? 0 }
    }

    /// Which free range of a tier's blocks an allocation takes.
    public enum Fit: String, Sendable, CaseIterable { case best_fit, first_fit, worst_fit, next_fit }
    /// How a tier's block size grows with the blocks it already has.
    public enum Growth: String, Sendable, CaseIterable {
        /// Every block at the tier's full size.
        case fixed
        /// 1/8, 2/8, 3/8 … of the tier's size: steady steps.
        case linear
        /// 1/8, 1/4, 1/2, then full: VMA's doubling (the default).
        case exponential
        /// Sized to what the tier held at its peak so far (at least 1/8, at most full).
        case adaptive
    }

    private let lock = NSLock()
    private var fit: Fit = .best_fit
    private var growth: Growth = .exponential
    /// Where next-fit resumes: the block and offset after the last allocation.
    private var cursor: (block: ObjectIdentifier, offset: Int)?
    private var tierPeak: [Int: Int] = [:]
    private let device: VkDevice
    let memoryTypeIndex: UInt32
    /// Whether blocks are mapped for the host (false for device-only memory on the staged path).
    let hostVisible: Bool
    private let maxAllocation: Int
    private var blocks: [Block] = []
    private var requestedBytes = 0
    private var allocatedBytes = 0
    private var liveAllocations = 0
    private var peakReserved = 0
    private var totalAllocations = 0
    private var driverAllocations = 0
    /// Bytes the pool may hold from the driver.
    public private(set) var budgetBytes: Int
    /// When set, every allocation and free is appended here (for replaying a workload's trace).
    private var trace: [PoolTraceEvent]?
    private var nextTraceID = 0

    init(device: VkDevice, memoryTypeIndex: UInt32, hostVisible: Bool, maxAllocation: Int, budgetBytes: Int) {
        self.device = device
        self.memoryTypeIndex = memoryTypeIndex
        self.hostVisible = hostVisible
        self.maxAllocation = maxAllocation
        self.budgetBytes = budgetBytes
    }

    /// Returns every block to the driver; the context calls this before destroying the device.
    func releaseAll() {
        lock.lock()
        defer { lock.unlock() }
        for b in blocks { release(b) }
        blocks.removeAll()
    }

    /// Sets the budget (the profile's memory_pool_mb). Blocks already held are kept.
    public func setBudget(bytes: Int) {
        lock.lock()
        budgetBytes = max(0, bytes)
        lock.unlock()
    }

    static func tier(for bytes: Int) -> Int { tiers.firstIndex { bytes <= $0.maxRequest } ?? tiers.count - 1 }

    private static func alignUp(_ v: Int, _ a: Int) -> Int { a <= 1 ? v : (v + a - 1) / a * a }

    /// Starts (or with false, stops and returns) recording allocation events.
    @discardableResult
    public func recordTrace(_ on: Bool) -> [PoolTraceEvent] {
        lock.lock()
        defer { lock.unlock() }
        let recorded = trace ?? []
        trace = on ? [] : nil
        return recorded
    }

    func allocate(bytes: Int, alignment: Int, requested: Int) throws -> Allocation {
        lock.lock()
        defer { lock.unlock() }
        let t = Self.tier(for: bytes)
        if Self.tiers[t].blockSize > 0, let best = findRange(tier: t, bytes: bytes, alignment: alignment) {
            let a = take(best.block, best.index, best.offset, bytes, requested)
            a.alignment = alignment
            cursor = (ObjectIdentifier(best.block), best.offset + bytes)
            return a
        }
        guard bytes <= maxAllocation else {
            throw BackendError(.outOfMemory, "memory pool: \(bytes) bytes exceeds the device's largest allocation (\(maxAllocation) bytes)")
        }
        var held = blocks.reduce(0) { $0 + $1.size }
        if held + bytes > budgetBytes {
            collectGarbageLocked(olderThan: 0)  // give idle blocks back before refusing
            held = blocks.reduce(0) { $0 + $1.size }
        }
        guard held + bytes <= budgetBytes else {
            throw BackendError(
                .outOfMemory,
                "memory pool: \(bytes) bytes requested with \(held) of \(budgetBytes) bytes "
                    + "held (resources.memory_pool_mb); the pool budget is exhausted")
        }
        // The tier's block size for its n-th block, cut down to what the budget still allows
        // (never below the request).
        let inTier = blocks.filter { $0.tier == t }.count
        let full = Self.tiers[t].blockSize
        let growing: Int
        switch growth {
        case .fixed: growing = full
        case .linear: growing = full / 8 * min(8, inTier + 1)
        case .exponential: growing = full >> max(0, 3 - inTier)
        case .adaptive: growing = min(full, max(full / 8, tierPeak[t] ?? 0))
        }
        let blockSize =
            Self.tiers[t].blockSize > 0
            ? max(Self.alignUp(bytes, alignment), min(growing, maxAllocation, budgetBytes - held)) : bytes
        let block = try newBlock(size: blockSize, tier: t)
        let a = take(block, 0, 0, bytes, requested)
        a.alignment = alignment
        return a
    }

    /// The free range the fit strategy picks among the tier's blocks, or nil.
    private func findRange(tier t: Int, bytes: Int, alignment: Int) -> (block: Block, index: Int, offset: Int)? {
        var candidates: [(block: Block, index: Int, offset: Int, length: Int)] = []
        for b in blocks where b.tier == t {
            for (i, r) in b.free.enumerated() {
                let start = Self.alignUp(r.offset, alignment)
                guard start + bytes <= r.offset + r.length else { continue }
                candidates.append((b, i, start, r.length))
                if fit == .first_fit { return (b, i, start) }
            }
        }
        switch fit {
        case .first_fit: return nil
        case .best_fit: return candidates.min { $0.length < $1.length }.map { ($0.block, $0.index, $0.offset) }
        case .worst_fit: return candidates.max { $0.length < $1.length }.map { ($0.block, $0.index, $0.offset) }
        case .next_fit:
            // The first range at or after where the last allocation ended, wrapping around.
            guard let c = cursor else { return candidates.first.map { ($0.block, $0.index, $0.offset) } }
            let order = blocks.filter { $0.tier == t }.map(ObjectIdentifier.init)
            let pos = order.firstIndex(of: c.block) ?? 0
            func rank(_ x: (block: Block, index: Int, offset: Int, length: Int)) -> (Int, Int) {
                let bi = order.firstIndex(of: ObjectIdentifier(x.block)) ?? 0
                let rel = (bi - pos + order.count) % max(order.count, 1)
                return (rel == 0 && x.offset < c.offset) ? (order.count, x.offset) : (rel, x.offset)
            }
            return candidates.min { rank($0) < rank($1) }.map { ($0.block, $0.index, $0.offset) }
        }
    }

    /// Sets the fit strategy and the block growth (a memory_management pool configuration).
    public func configure(fit: Fit? = nil, growth: Growth? = nil) {
        lock.lock()
        if let fit { self.fit = fit }
        if let growth { self.growth = growth }
        lock.unlock()
    }

    public var configuration: (fit: Fit, growth: Growth) {
        lock.lock()
        defer { lock.unlock() }
        return (fit, growth)
    }

    /// Reserves blocks up to `bytes` ahead of use (a pool's initial_size), in the medium tier.
    @discardableResult
    public func prewarm(bytes: Int) throws -> Int {
        lock.lock()
        defer { lock.unlock() }
        var held = blocks.reduce(0) { $0 + $1.size }
        var added = 0
        let t = 2  // medium: weight matrices and activations of most models
        while held < bytes {
            let size = min(Self.tiers[t].blockSize, max(bytes - held, Self.tiers[t].maxRequest), budgetBytes - held, maxAllocation)
            guard size > 0 else { break }
            let b = try newBlock(size: size, tier: t)
            b.idleSince = Date()
            held += size
            added += size
        }
        return added
    }

    /// Bytes held in empty blocks (what cleanup could return).
    public var idleBytes: Int {
        lock.lock()
        defer { lock.unlock() }
        return blocks.filter { $0.allocations == 0 }.reduce(0) { $0 + $1.size }
    }

    /// Returns empty blocks, oldest idle first, until at most `keepBytes` of them stay (and, with
    /// `keepPerTier`, one per tier stays as a cache); the bytes freed.
    @discardableResult
    public func releaseIdle(keepBytes: Int = 0, keepPerTier: Bool = false) -> Int {
        lock.lock()
        defer { lock.unlock() }
        let idle = blocks.filter { $0.allocations == 0 && Self.tiers[$0.tier].blockSize > 0 }
            .sorted { ($0.idleSince ?? .distantPast) < ($1.idleSince ?? .distantPast) }
        var kept = idle.reduce(0) { $0 + $1.size }
        var freed = 0
        var protected = Set<ObjectIdentifier>()
        if keepPerTier {
            var seen = Set<Int>()
            for b in idle.reversed() where !seen.contains(b.tier) { seen.insert(b.tier); protected.insert(ObjectIdentifier(b)) }
        }
        for b in idle where kept > keepBytes && !protected.contains(ObjectIdentifier(b)) {
            blocks.removeAll { $0 === b }
            release(b)
            kept -= b.size
            freed += b.size
        }
        return freed
    }

    /// Held bytes over the budget: 0 (empty) … 1 (full).
    public var pressure: Double {
        lock.lock()
        defer { lock.unlock() }
        return budgetBytes > 0 ? Double(blocks.reduce(0) { $0 + $1.size }) / Double(budgetBytes) : 0
    }

    private func take(_ b: Block, _ index: Int, _ offset: Int, _ bytes: Int, _ requested: Int) -> Allocation {
        let r = b.free[index]
        var replacement: [(offset: Int, length: Int)] = []
        if offset > r.offset { replacement.append((r.offset, offset - r.offset)) }
        let end = offset + bytes
        if end < r.offset + r.length { replacement.append((end, r.offset + r.length - end)) }
        b.free.replaceSubrange(index...index, with: replacement)
        b.allocations += 1
        b.idleSince = nil
        requestedBytes += requested
        allocatedBytes += bytes
        liveAllocations += 1
        totalAllocations += 1
        let tierHeld = blocks.filter { $0.tier == b.tier }.reduce(0) { $0 + $1.size - $1.freeBytes }
        tierPeak[b.tier] = max(tierPeak[b.tier] ?? 0, tierHeld)
        let a = Allocation(block: b, offset: offset, size: bytes, requested: requested)
        owners[ObjectIdentifier(a)] = a
        if trace != nil {
            nextTraceID += 1
            a.traceID = nextTraceID
            trace?.append(PoolTraceEvent(id: nextTraceID, allocate: true, requested: requested, size: bytes))
        }
        return a
    }

    func free(_ a: Allocation) {
        lock.lock()
        defer { lock.unlock() }
        freeLocked(a)
    }

    private func freeLocked(_ a: Allocation) {
        let b = a.block
        owners[ObjectIdentifier(a)] = nil
        if trace != nil, a.traceID > 0 {
            trace?.append(PoolTraceEvent(id: a.traceID, allocate: false, requested: a.requested, size: a.size))
        }
        requestedBytes -= a.requested
        allocatedBytes -= a.size
        liveAllocations -= 1
        b.allocations -= 1
        if Self.tiers[b.tier].blockSize == 0 {  // dedicated: straight back to the driver
            blocks.removeAll { $0 === b }
            release(b)
            return
        }
        // Insert and coalesce with the neighbours.
        let i = b.free.firstIndex { $0.offset > a.offset } ?? b.free.count
        b.free.insert((a.offset, a.size), at: i)
        if i + 1 < b.free.count, b.free[i].offset + b.free[i].length == b.free[i + 1].offset {
            b.free[i].length += b.free[i + 1].length
            b.free.remove(at: i + 1)
        }
        if i > 0, b.free[i - 1].offset + b.free[i - 1].length == b.free[i].offset {
            b.free[i - 1].length += b.free[i].length
            b.free.remove(at: i)
        }
        if b.allocations == 0 { b.idleSince = Date() }
    }

    private func newBlock(size: Int, tier: Int) throws -> Block {
        var mai = VkMemoryAllocateInfo()
        mai.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO
        mai.allocationSize = VkDeviceSize(size)
        mai.memoryTypeIndex = memoryTypeIndex
        var mem: VkDeviceMemory?
        try vkCheck(vkAllocateMemory(device, &mai, nil, &mem), "vkAllocateMemory(\(size) bytes)")
        guard let mem else { throw BackendError(.outOfMemory, "vkAllocateMemory returned no memory") }
        var ptr: UnsafeMutableRawPointer?
        if hostVisible {
            let r = vkMapMemory(device, mem, 0, VkDeviceSize(VK_WHOLE_SIZE), 0, &ptr)
            guard r == VK_SUCCESS, ptr != nil else {
                vkFreeMemory(device, mem, nil)
                try vkCheck(r == VK_SUCCESS ? VK_ERROR_MEMORY_MAP_FAILED : r, "vkMapMemory")
                throw BackendError(.outOfMemory, "vkMapMemory returned no pointer")
            }
        }
        let b = Block(memory: mem, mapped: ptr, size: size, tier: tier)
        driverAllocations += 1
        blocks.append(b)
        peakReserved = max(peakReserved, blocks.reduce(0) { $0 + $1.size })
        return b
    }

    private func release(_ b: Block) {
        if b.mapped != nil { vkUnmapMemory(device, b.memory) }
        vkFreeMemory(device, b.memory, nil)
    }

    /// Returns empty blocks idle for at least `seconds` to the driver; the bytes freed.
    @discardableResult
    public func collectGarbage(olderThan seconds: TimeInterval = 0) -> Int {
        lock.lock()
        defer { lock.unlock() }
        return collectGarbageLocked(olderThan: seconds)
    }

    @discardableResult
    private func collectGarbageLocked(olderThan seconds: TimeInterval) -> Int {
        let now = Date()
        var freed = 0
        blocks.removeAll { b in
            guard b.allocations == 0, let idle = b.idleSince, now.timeIntervalSince(idle) >= seconds else { return false }
            freed += b.size
            release(b)
            return true
        }
        return freed
    }

    /// Moves live allocations out of the emptiest blocks of each tier into free space in the
    /// tier's other blocks, then returns the blocks that emptied to the driver. `relocate`
    /// rebinds a buffer to its new place and copies its contents; it runs under the pool's lock,
    /// so it must not call back into the pool. The caller guarantees no recorded command still
    /// refers to the buffers (VulkanContext checks that no sequence is recording).
    func defragment(relocate: (VulkanBuffer, Allocation) throws -> Void) throws -> DefragmentationResult {
        lock.lock()
        defer { lock.unlock() }
        var moved = 0, movedBytes = 0
        let before = blocks.reduce(0) { $0 + $1.size }
        for t in Self.tiers.indices where Self.tiers[t].blockSize > 0 {
            // Emptiest first: the cheapest blocks to clear.
            let candidates = blocks.filter { $0.tier == t && $0.allocations > 0 }.sorted {
                ($0.size - $0.freeBytes) < ($1.size - $1.freeBytes)
            }
            guard candidates.count >= 2 else { continue }
            for source in candidates.dropLast() {
                let live = liveAllocations(in: source)
                // Only clear a block whose every allocation fits elsewhere; a half-moved block frees nothing.
                var plan: [(Allocation, Block, Int, Int)] = []
                var shadow = Dictionary(
                    uniqueKeysWithValues: blocks.filter { $0.tier == t && $0 !== source }.map { (ObjectIdentifier($0), $0.free) })
                for a in live {
                    var placed = false
                    for target in blocks where target.tier == t && target !== source {
                        guard var ranges = shadow[ObjectIdentifier(target)] else { continue }
                        if let i = ranges.firstIndex(where: { Self.alignUp($0.offset, a.alignment) + a.size <= $0.offset + $0.length }) {
                            let start = Self.alignUp(ranges[i].offset, a.alignment)
                            let end = start + a.size
                            var rest: [(offset: Int, length: Int)] = []
                            if start > ranges[i].offset { rest.append((ranges[i].offset, start - ranges[i].offset)) }
                            if end < ranges[i].offset + ranges[i].length { rest.append((end, ranges[i].offset + ranges[i].length - end)) }
                            ranges.replaceSubrange(i...i, with: rest)
                            shadow[ObjectIdentifier(target)] = ranges
                            plan.append((a, target, i, start))
                            placed = true
                            break
                        }
                    }
                    if !placed { plan.removeAll(); break }
                }
                guard !plan.isEmpty, plan.count == live.count else { continue }
                for (a, target, _, start) in plan {
                    guard let owner = a.owner,
                        let index = target.free.firstIndex(where: { $0.offset <= start && start + a.size <= $0.offset + $0.length })
                    else { continue }
                    let fresh = take(target, index, start, a.size, a.requested)
                    fresh.owner = owner
                    fresh.alignment = a.alignment
                    try relocate(owner, fresh)
                    freeLocked(a)
                    moved += 1
                    movedBytes += a.size
                }
            }
        }
        let released = collectGarbageLocked(olderThan: 0)
        return DefragmentationResult(
            moved: moved, movedBytes: movedBytes, releasedBytes: released,
            reservedBefore: before, reservedAfter: blocks.reduce(0) { $0 + $1.size })
    }

    /// The live allocations of a block, found through their owners.
    private var owners: [ObjectIdentifier: Allocation] = [:]
    private func liveAllocations(in block: Block) -> [Allocation] {
        owners.values.filter { $0.block === block && $0.owner != nil }.sorted { $0.offset < $1.offset }
    }

    /// Registers a buffer as the owner of its allocation, so defragmentation can move it.
    func adopt(_ a: Allocation, by owner: VulkanBuffer) {
        lock.lock()
        defer { lock.unlock() }
        a.owner = owner
        owners[ObjectIdentifier(a)] = a
    }

    /// Statistics in the spirit of VMA's: what was asked for, what the pool holds, how it is split.
    public func statistics() -> VulkanPoolStatistics {
        lock.lock()
        defer { lock.unlock() }
        let reserved = blocks.reduce(0) { $0 + $1.size }
        let freeBytes = blocks.filter { Self.tiers[$0.tier].blockSize > 0 }.reduce(0) { $0 + $1.freeBytes }
        let largest = blocks.map(\.largestFree).max() ?? 0
        let perTier = Self.tiers.indices.map { t in
            let bs = blocks.filter { $0.tier == t }
            return VulkanPoolStatistics.TierStatistics(
                name: Self.tiers[t].name, blocks: bs.count, allocations: bs.reduce(0) { $0 + $1.allocations },
                reservedBytes: bs.reduce(0) { $0 + $1.size })
        }
        return VulkanPoolStatistics(
            blocks: blocks.count, allocations: liveAllocations, totalAllocations: totalAllocations,
            driverAllocations: driverAllocations,
            requestedBytes: requestedBytes, allocatedBytes: allocatedBytes, reservedBytes: reserved,
            peakReservedBytes: peakReserved, freeBytes: freeBytes, largestFreeRange: largest,
            budgetBytes: budgetBytes, tiers: perTier)
    }
}

/// What one defragmentation pass did.
public struct DefragmentationResult: Sendable {
    public let moved: Int
    public let movedBytes: Int
    public let releasedBytes: Int
    public let reservedBefore: Int
    public let reservedAfter: Int
}

/// One allocation or free of a recorded trace: `size` is what the driver's requirements asked
/// for (size and alignment rounding included), `requested` what the caller asked for.
public struct PoolTraceEvent: Sendable, Codable, Equatable {
    public let id: Int
    public let allocate: Bool
    public let requested: Int
    public let size: Int
}

public struct VulkanPoolStatistics: Sendable {
    public struct TierStatistics: Sendable {
        public let name: String
        public let blocks: Int
        public let allocations: Int
        public let reservedBytes: Int
    }
    public let blocks: Int
    public let allocations: Int
    public let totalAllocations: Int
    /// vkAllocateMemory calls made so far (one per block).
    public let driverAllocations: Int
    /// Bytes callers asked for (live).
    public let requestedBytes: Int
    /// Bytes handed out, with the driver's size and alignment rounding (live).
    public let allocatedBytes: Int
    /// Bytes held from the driver.
    public let reservedBytes: Int
    public let peakReservedBytes: Int
    public let freeBytes: Int
    public let largestFreeRange: Int
    public let budgetBytes: Int
    public let tiers: [TierStatistics]

    /// 1 − largest free range / all free bytes: 0 when the free space is one piece.
    public var fragmentation: Double { freeBytes == 0 ? 0 : 1 - Double(largestFreeRange) / Double(freeBytes) }
}
