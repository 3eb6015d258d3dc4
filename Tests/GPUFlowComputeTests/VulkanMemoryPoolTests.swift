import GPUFlowTesting
import Testing

@testable import GPUFlowCompute

/// The tiered pool on the real device (lavapipe in CI), each test on its own context so the
/// statistics are its own.
@Suite(.serialized) struct VulkanMemoryPoolTests {
    private func context() throws -> VulkanContext { try VulkanContext(preference: .any) }

    @Test func tiersShareBlocksAndFreesCoalesce() throws {
        let c = try context()
        var buffers: [VulkanBuffer] = []
        for n in [16, 1000, 4, 300] { buffers.append(try VulkanBuffer(context: c, bytes: n * 4)) }
        var s = c.pool.statistics()
        #expect(s.allocations == 4)
        #expect(s.tiers[0].blocks == 1 && s.tiers[0].allocations == 4, "four tiny buffers share one block")
        #expect(s.requestedBytes == (16 + 1000 + 4 + 300) * 4)
        #expect(s.allocatedBytes >= s.requestedBytes)
        #expect(s.reservedBytes == VulkanMemoryPool.tiers[0].blockSize / 8, "a tier's first block is an eighth of its size")
        buffers.remove(at: 1)  // a hole in the middle
        s = c.pool.statistics()
        #expect(s.fragmentation > 0, "a hole and the tail are two free ranges")
        buffers.removeAll()
        s = c.pool.statistics()
        #expect(s.allocations == 0 && s.requestedBytes == 0)
        #expect(s.fragmentation == 0 && s.largestFreeRange == VulkanMemoryPool.tiers[0].blockSize / 8, "frees coalesce into one range")
        #expect(s.blocks == 1, "the empty block stays cached")
        #expect(c.pool.collectGarbage() == VulkanMemoryPool.tiers[0].blockSize / 8)
        #expect(c.pool.statistics().blocks == 0)
    }

    @Test func blocksGrowAsATierFills() throws {
        let c = try context()
        var keep: [VulkanBuffer] = []
        let big = VulkanMemoryPool.tiers[1].maxRequest  // 256 KiB: fills small-tier blocks quickly
        for _ in 0..<12 { keep.append(try VulkanBuffer(context: c, bytes: big)) }
        // Blocks of 1, 2, 4, then 8 MiB hold 4, 8, 16, 32 requests of 256 KiB: 12 need the first two.
        #expect(c.pool.statistics().tiers[1].blocks == 2)
        #expect(c.pool.statistics().tiers[1].reservedBytes == (1 + 2) << 20)
        keep.append(try VulkanBuffer(context: c, bytes: big))
        #expect(c.pool.statistics().tiers[1].reservedBytes == (1 + 2 + 4) << 20, "the third block is twice the second")
        keep.removeAll()
    }

    @Test func sizesPickTheirTier() {
        #expect(VulkanMemoryPool.tier(for: 4 << 10) == 0)
        #expect(VulkanMemoryPool.tier(for: (4 << 10) + 1) == 1)
        #expect(VulkanMemoryPool.tier(for: 4 << 20) == 2)
        #expect(VulkanMemoryPool.tier(for: 64 << 20) == 3)
        #expect(VulkanMemoryPool.tier(for: (64 << 20) + 4) == 4)
    }

    @Test func hugeBuffersAreDedicatedAndReturnedAtOnce() throws {
        let c = try context()
        var big: VulkanBuffer? = try VulkanBuffer(context: c, bytes: 65 << 20)
        #expect(c.pool.statistics().tiers[4].blocks == 1)
        big?.mapped?.storeBytes(of: Float(3), as: Float.self)
        big = nil
        #expect(c.pool.statistics().blocks == 0)
    }

    @Test func budgetExhaustionIsATypedErrorAndThePoolKeepsWorking() throws {
        let c = try context()
        c.pool.setBudget(bytes: 10 << 20)
        let small = try VulkanBuffer(context: c, bytes: 200 << 10)  // a 1 MiB small-tier block (8 MiB / 8)
        let medium = try VulkanBuffer(context: c, bytes: 1 << 20)  // an 8 MiB medium-tier block (64 MiB / 8)
        #expect(c.pool.statistics().reservedBytes <= 10 << 20)
        let more = try VulkanBuffer(context: c, bytes: 3 << 20)  // fits the medium block
        do {
            _ = try VulkanBuffer(context: c, bytes: 5 << 20)  // large tier, a new block: 1 + 8 + 5 MiB > 10 MiB
            Issue.record("an allocation past the budget was accepted")
        } catch let e as BackendError {
            #expect(e.code == .outOfMemory && e.message.contains("the pool budget is exhausted"))
        }
        let another = try VulkanBuffer(context: c, bytes: 100 << 10)  // still fits the small block
        #expect(c.pool.statistics().allocations == 4)
        #expect(c.pool.statistics().reservedBytes == 9 << 20)
        _ = (small, medium, more, another)
    }

    @Test func zeroSizedAndAbsurdBuffersAreRefused() throws {
        let c = try context()
        #expect(throws: BackendError.self) { try VulkanBuffer(context: c, bytes: 0) }
        do {
            _ = try VulkanBuffer(context: c, bytes: c.maxStorageBufferRange + 4)
            Issue.record("a buffer past the max storage buffer range was accepted")
        } catch let e as BackendError {
            #expect(e.code == .outOfMemory && e.message.contains("max storage buffer range"))
        }
        #expect(c.pool.statistics().allocations == 0, "a refused buffer holds nothing")
    }

    @Test func traceRecordsEveryAllocationAndFree() throws {
        let c = try context()
        c.pool.recordTrace(true)
        var a: VulkanBuffer? = try VulkanBuffer(context: c, bytes: 40)
        let b = try VulkanBuffer(context: c, bytes: 4000)
        a = nil
        let trace = c.pool.recordTrace(false)
        #expect(trace.map(\.allocate) == [true, true, false])
        #expect(trace.map(\.requested) == [40, 4000, 40])
        #expect(trace[2].id == trace[0].id)
        _ = (a, b)
    }

    /// Holes of 3 KiB, 1 KiB and 2 KiB (in that order) in one tiny-tier block; a 1 KiB request
    /// lands in the first (first fit), the smallest (best fit), the largest range — the block's
    /// free tail — (worst fit), or after the last allocation (next fit).
    @Test(arguments: VulkanMemoryPool.Fit.allCases)
    func fitStrategiesPickTheirHole(_ fit: VulkanMemoryPool.Fit) throws {
        let c = try context()
        c.pool.configure(fit: fit)
        var keep: [VulkanBuffer?] = []
        for n in [3072, 256, 1024, 256, 2048, 256] { keep.append(try VulkanBuffer(context: c, bytes: n)) }
        let offsets = keep.map { $0?.allocation.offset ?? -1 }
        keep[0] = nil
        keep[2] = nil
        keep[4] = nil
        let probe = try VulkanBuffer(context: c, bytes: 1024)
        let expected: Int
        switch fit {
        case .first_fit: expected = offsets[0]
        case .best_fit: expected = offsets[2]
        case .worst_fit: expected = offsets[5] + 256  // the block's free tail is its largest range
        case .next_fit: expected = offsets[5] + 256  // after the last allocation, in the free tail
        }
        #expect(probe.allocation.offset == expected, "\(fit): offset \(probe.allocation.offset), holes at \(offsets)")
        c.pool.configure(fit: .best_fit)
    }

    @Test(arguments: [(VulkanMemoryPool.Growth.fixed, [8, 8]), (.linear, [1, 2]), (.exponential, [1, 2])])
    func growthPoliciesSizeNewBlocks(_ growth: VulkanMemoryPool.Growth, _ expectedMiB: [Int]) throws {
        let c = try context()
        c.pool.configure(growth: growth)
        var keep: [VulkanBuffer] = []
        let big = VulkanMemoryPool.tiers[1].maxRequest
        while c.pool.statistics().tiers[1].blocks < 2 { keep.append(try VulkanBuffer(context: c, bytes: big)) }
        let reserved = c.pool.statistics().tiers[1].reservedBytes
        #expect(reserved == expectedMiB.reduce(0, +) << 20, "\(growth): \(reserved) bytes in two small-tier blocks")
    }
}

@Suite(.serialized) struct VulkanDefragmentationTests {
    @Test(arguments: [false, true])
    func defragmentMovesBuffersKeepsTheirContentsAndReleasesBlocks(_ staging: Bool) throws {
        let c = try VulkanContext(preference: .any, staging: staging)
        let v = try VulkanBackend(context: c)
        // 40 tensors of 4 KiB (the tiny tier's largest) need two blocks: 32 in the first, 8 in the second.
        var tensors: [Tensor?] = try (0..<40).map { i in try v.tensor([Float](repeating: Float(i), count: 1024), shape: [1024]) }
        #expect(c.pool.statistics().tiers[0].blocks == 2)
        for i in 0..<30 { tensors[i] = nil }  // the first block keeps only tensors 30 and 31
        let reservedBefore = c.pool.statistics().reservedBytes
        let result = try v.defragment()
        #expect(result.moved == 2, "the two survivors of the emptier block move")
        #expect(result.releasedBytes == VulkanMemoryPool.tiers[0].blockSize / 8)
        #expect(c.pool.statistics().reservedBytes == reservedBefore - result.releasedBytes)
        #expect(c.pool.statistics().tiers[0].blocks == 1)
        let survivors = tensors.compactMap { $0 }
        let values = try v.read(survivors)
        for (t, got) in zip(30..<40, values) { #expect(got == [Float](repeating: Float(t), count: 1024), "tensor \(t)") }
        // The moved buffers still work as kernel operands.
        try v.scale(survivors[0], 2)
        #expect(try v.read(survivors[0]).first == 60)
    }

    @Test func defragmentRefusesWhileCommandsAreRecorded() throws {
        let c = try VulkanContext(preference: .any)
        let a = try VulkanBackend(context: c), b = try VulkanBackend(context: c)
        let t = try a.tensor([1, 2, 3], shape: [3])
        try a.scale(t, 2)  // recorded, not submitted
        do {
            _ = try b.defragment()
            Issue.record("defragmented under a recording sequence")
        } catch let e as BackendError {
            #expect(e.code == .unsupported)
        }
        #expect(try a.read(t) == [2, 4, 6])
        _ = try b.defragment()
    }
}
