import GPUFlowCompute
import GPUFlowCore

/// Memory-management tasks that act on the device's tensor pool: `optimize` compacts it
/// (defragmentation), `garbage_collection` returns idle blocks to the driver.
enum MemoryTasks {
    static func run(_ task: MemoryManagementTask, backend: Backend) throws -> TaskValue {
        guard let vulkan = backend as? VulkanBackend else {
            throw DataError("memory_management '\(task.operation.rawValue)' acts on a device memory pool; the \(backend.name) backend has none (use --backend vulkan)")
        }
        let before = statistics(vulkan.context)
        var fields: [(String, TaskValue)] = [("operation", .string(task.operation.rawValue)), ("before", before)]
        switch task.operation {
        case .optimize:
            let r = try vulkan.defragment()
            fields += [("moved", .integer(r.moved)), ("moved_bytes", .integer(r.movedBytes)), ("released_bytes", .integer(r.releasedBytes))]
        default:
            // Immediate cleanup returns every idle block; the others keep blocks idle under a second.
            let age = task.cleanupStrategy == .immediate ? 0.0 : 1.0
            fields.append(("released_bytes", .integer(vulkan.context.pool.collectGarbage(olderThan: age))))
        }
        fields.append(("after", statistics(vulkan.context)))
        return .table(fields)
    }

    static func statistics(_ c: VulkanContext) -> TaskValue {
        let s = c.pool.statistics()
        var fields: [(String, TaskValue)] = [
            ("blocks", .integer(s.blocks)), ("allocations", .integer(s.allocations)),
            ("requested_bytes", .integer(s.requestedBytes)), ("allocated_bytes", .integer(s.allocatedBytes)),
            ("reserved_bytes", .integer(s.reservedBytes)), ("peak_reserved_bytes", .integer(s.peakReservedBytes)),
            ("free_bytes", .integer(s.freeBytes)), ("largest_free_range", .integer(s.largestFreeRange)),
            ("fragmentation", .number(s.fragmentation)), ("budget_bytes", .integer(s.budgetBytes)),
            ("driver_allocations", .integer(s.driverAllocations)), ("memory_path", .string(c.memoryPath.rawValue)),
            ("tiers", .array(s.tiers.map { .table([("name", .string($0.name)), ("blocks", .integer($0.blocks)),
                                                   ("allocations", .integer($0.allocations)), ("reserved_bytes", .integer($0.reservedBytes))]) })),
        ]
        if let b = c.heapBudget() {
            fields += [("heap_budget_bytes", .integer(b.budgetBytes)), ("heap_usage_bytes", .integer(b.usageBytes))]
        } else {
            fields.append(("heap_budget_bytes", .string("unavailable (no VK_EXT_memory_budget)")))
        }
        return .table(fields)
    }
}
