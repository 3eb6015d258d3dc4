import Foundation
import GPUFlowCompute
import GPUFlowCore
import GPUFlowTesting
import Testing

@testable import GPUFlowML

/// Memory-management tasks on lavapipe's device pool, through the resilient runner as scripts
/// run them: each operation's effect on the pool, and its errors.
@Suite(.serialized) struct MemoryTaskTests {
    private func run(_ t: MemoryManagementTask, _ s: ExecutionServices, agent: String = "alice") throws -> TaskValue {
        try ResilientRunner.run(.memoryManagement(t), inputs: TaskInputs(), backend: .vulkan, services: s, seed: 1, agent: agent)
    }

    private func task(_ op: MemoryOperation, _ edit: (inout MemoryManagementTask) -> Void = { _ in }) -> MemoryManagementTask {
        var t = MemoryManagementTask(operation: op)
        edit(&t)
        return t
    }

    @Test func allocateHonoursAlignmentAndChargesTheAgentDeallocateFreesIt() throws {
        let limits = AgentMemoryLimits()
        let s = ExecutionServices(
            learning: GPULearningEngine(enabled: true), breakers: CircuitBreakerBoard(), quotas: AgentQuotas(limits: limits))
        let quota = s.quotas?.quota(for: "alice")
        let before = quota?.usedBytes ?? 0
        let a = try run(
            task(.allocate) {
                $0.sizeBytes = 1_000_003; $0.alignment = .page
            }, s)
        #expect(a["aligned"]?.boolValue == true && (a["offset"]?.doubleValue ?? 1).truncatingRemainder(dividingBy: 4096) == 0)
        #expect((quota?.usedBytes ?? 0) - before == 1_000_003, "the buffer counts against alice's quota")
        let id = try #require(a["buffer_id"]?.doubleValue).rounded()
        // Another agent may not free it without force; an unknown id is an error; nothing is freed then.
        #expect(throws: MLError.self) { try self.run(self.task(.deallocate) { $0.bufferIDs = [Int(id)] }, s, agent: "bob") }
        #expect(throws: MLError.self) { try self.run(self.task(.deallocate) { $0.bufferIDs = [Int(id), 999] }, s) }
        let d = try run(
            task(.deallocate) {
                $0.bufferIDs = [Int(id), 999]; $0.force = true; $0.cleanupStrategy = .immediate
            }, s)
        #expect(d["freed_bytes"]?.doubleValue ?? 0 >= 1_000_003)
        #expect(quota?.usedBytes == before)
        // Past the agent's limit, allocation is refused with a typed error in its task only.
        limits.set("alice", bytes: 1 << 20)
        #expect {
            try self.run(self.task(.allocate) { $0.sizeBytes = 2 << 20 }, s)
        } throws: { e in (e as? BackendError)?.code == .quotaExceeded && "\(e)".contains("agent alice") }
    }

    @Test func transferIsMeasuredInEachDirection() throws {
        let s = ExecutionServices.standalone()
        for d in TransferDirection.allCases {
            let r = try run(
                task(.transfer) {
                    $0.sizeBytes = 1 << 20; $0.direction = d
                }, s)
            #expect((r["seconds"]?.doubleValue ?? 0) > 0 && (r["gb_per_s"]?.doubleValue ?? 0) > 0, "\(d)")
        }
    }

    @Test func optimizeCompactsOnlyPastItsThresholdAndGarbageCollectionReleases() throws {
        let s = ExecutionServices.standalone()
        let skip = try run(task(.optimize) { $0.consolidationThreshold = 1.0 }, s)
        #expect(skip["compacted"]?.boolValue == false && skip["reason"] != nil)
        let go = try run(task(.optimize) { $0.consolidationThreshold = 0 }, s)
        #expect(go["compacted"]?.boolValue == true)
        // Reserve idle memory, then an aggressive collection without cache returns all of it.
        _ = try run(task(.allocate) { $0.poolConfig.sizeMB = 16 }, s)
        let gc = try run(
            task(.garbage_collection) {
                $0.aggressive = true; $0.preserveCache = false
            }, s)
        #expect((gc["released_bytes"]?.doubleValue ?? 0) > 0)
        #expect(gc["after"]?["blocks"]?.doubleValue.map { $0 <= (gc["before"]?["blocks"]?.doubleValue ?? 0) } == true)
    }

    @Test func cleanupStrategiesDecideWhatIsFreed() throws {
        let s = ExecutionServices.standalone()
        _ = try run(task(.allocate) { $0.poolConfig.sizeMB = 16 }, s)
        let lazy = try run(
            task(.garbage_collection) {
                $0.cleanupStrategy = .lazy; $0.pressureThreshold = 1.0
            }, s)
        #expect(lazy["cleanup"]?["released_bytes"]?.doubleValue == 0, "below the pressure threshold, lazy keeps idle blocks")
        let smart = try run(task(.garbage_collection) { $0.cleanupStrategy = .smart }, s)
        #expect(smart["cleanup"]?["kept_bytes"] != nil)
        let sched = try run(
            task(.garbage_collection) {
                $0.cleanupStrategy = .scheduled; $0.intervalS = 0.05; $0.percentage = 100
            }, s)
        #expect(sched["cleanup"]?["strategy"]?.stringValue == "scheduled")
        let pool = try VulkanContext.shared(preference: .discrete).pool
        let held = pool.statistics().reservedBytes
        _ = try pool.prewarm(bytes: held + (16 << 20))
        #expect(pool.idleBytes >= 16 << 20)
        Thread.sleep(forTimeInterval: 0.3)
        #expect(pool.idleBytes < 8 << 20, "the scheduled cleaner freed the idle blocks (\(pool.idleBytes) bytes idle)")
    }

    @Test func hostBackendsHaveNoDevicePoolAndSaySo() throws {
        #expect {
            try ResilientRunner.run(
                .memoryManagement(self.task(.allocate) { $0.sizeBytes = 64 }), inputs: TaskInputs(), backend: .simd,
                services: .standalone(), seed: 1)
        } throws: { e in "\(e)".contains("the simd backend has none") }
    }
}

extension TaskValue {
    var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }
}
