import GPUFlowCompute
import GPUFlowCore

/// Memory-management tasks on the device pool: allocate and deallocate buffers (charged to the
/// agent's quota), transfer (measured copies), optimize (compaction past a fragmentation
/// threshold), garbage collection, and the pool configuration and cleanup strategies.
enum MemoryTasks {
    static func run(_ task: MemoryManagementTask, backend: Backend, services: ExecutionServices? = nil, agent: String? = nil) throws
        -> TaskValue
    {
        guard let device = backend as? DeviceMemoryPooling else {
            throw MLError(
                "memory_management '\(task.operation.rawValue)' acts on a device memory pool; the \(backend.name) backend has none (use --backend vulkan)",
                kind: .device)
        }
        let pool = device.deviceContext.pool
        let registry = services?.buffers ?? DeviceBufferRegistry()
        let owner = agent ?? "-"
        var fields: [(String, TaskValue)] = [("operation", .string(task.operation.rawValue))]
        fields.append(("pool_configuration", try configure(pool, task.poolConfig, context: device.deviceContext)))
        fields.append(("before", statistics(device.deviceContext)))
        switch task.operation {
        case .allocate:
            if task.sizeBytes > 0 {
                let access = DeviceBuffer.Access(rawValue: task.accessPattern.rawValue) ?? .device_local
                let b = try device.allocateBuffer(bytes: task.sizeBytes, alignment: task.alignment.bytes, access: access)
                let id = registry.add(b, agent: owner)
                fields += [
                    ("buffer_id", .integer(id)), ("bytes", .integer(b.bytes)), ("allocated_bytes", .integer(b.allocatedBytes)),
                    ("alignment", .integer(b.alignment)), ("offset", .integer(b.offset)),
                    ("aligned", .bool(b.offset % b.alignment == 0)), ("access_pattern", .string(b.access.rawValue)),
                ]
            }
        case .deallocate:
            let r = try registry.remove(task.bufferIDs, agent: owner, force: task.force)
            fields += [
                ("freed", .array(r.freed.map { .integer($0) })), ("freed_bytes", .integer(r.bytes)),
                ("skipped", .array(r.skipped.map { .integer($0) })),
            ]
            fields.append(("cleanup", cleanup(task, pool: pool, registry: registry, services: services)))
        case .optimize:
            let fragmentation = pool.statistics().fragmentation
            if fragmentation >= task.consolidationThreshold {
                let r = try device.defragment()
                fields += [
                    ("compacted", .bool(true)), ("moved", .integer(r.moved)), ("moved_bytes", .integer(r.movedBytes)),
                    ("released_bytes", .integer(r.releasedBytes)),
                ]
            } else {
                fields += [
                    ("compacted", .bool(false)), ("moved", .integer(0)), ("released_bytes", .integer(0)),
                    (
                        "reason",
                        .string(
                            String(
                                format: "fragmentation %.3f is below the consolidation threshold %.3f", fragmentation,
                                task.consolidationThreshold))
                    ),
                ]
            }
        case .transfer:
            let direction = VulkanBackend.TransferDirection(rawValue: task.direction.rawValue) ?? .cpu_to_gpu
            let m = try device.measureTransfer(direction, bytes: task.sizeBytes)
            fields += [
                ("direction", .string(direction.rawValue)), ("bytes", .integer(task.sizeBytes)), ("seconds", .number(m.seconds)),
                ("gb_per_s", .number(Double(task.sizeBytes) / max(m.seconds, 1e-9) / 1e9)), ("clock", .string(m.clock)),
                ("memory_path", .string(device.deviceContext.memoryPath.rawValue)),
            ]
            if direction == .gpu_to_gpu {
                if let bw = try device.measureDeviceBandwidth(bytes: task.sizeBytes) {
                    fields.append(("device_bandwidth_gb_per_s", .number(bw.gbPerS)))
                } else {
                    fields.append(("device_bandwidth_gb_per_s", .string("unavailable (the queue has no timestamps)")))
                }
            }
        case .garbage_collection:
            if task.aggressive {
                fields.append(("released_bytes", .integer(pool.releaseIdle(keepBytes: 0, keepPerTier: task.preserveCache))))
            } else {
                fields.append(("cleanup", cleanup(task, pool: pool, registry: registry, services: services)))
            }
        case .stats:
            break
        }
        fields.append(("after", statistics(device.deviceContext)))
        fields.append(
            (
                "live_buffers",
                .array(
                    registry.live.map {
                        .table([
                            ("id", .integer($0.id)), ("bytes", .integer($0.bytes)),
                            ("agent", .string($0.agent)),
                        ])
                    })
            ))
        return .table(fields)
    }

    /// Applies a pool configuration: fit strategy, growth, budget (max size), initial size.
    static func configure(_ pool: VulkanMemoryPool, _ c: PoolConfig, context: VulkanContext) throws -> TaskValue {
        pool.configure(
            fit: VulkanMemoryPool.Fit(rawValue: c.allocationStrategy.rawValue),
            growth: c.growth == .fixed ? nil : VulkanMemoryPool.Growth(rawValue: c.growth.rawValue))
        if let m = c.maxSizeMB { context.setPoolBudget(bytes: m << 20) }
        var reserved = 0
        if c.sizeMB > 0 { reserved = try pool.prewarm(bytes: c.sizeMB << 20) }
        let (fit, growth) = pool.configuration
        return .table([
            ("allocation", .string(fit.rawValue)), ("growth", .string(growth.rawValue)),
            ("budget_bytes", .integer(pool.budgetBytes)), ("prewarmed_bytes", .integer(reserved)),
        ])
    }

    /// What the cleanup strategy frees now (or arranges to free later).
    static func cleanup(_ t: MemoryManagementTask, pool: VulkanMemoryPool, registry: DeviceBufferRegistry, services: ExecutionServices?)
        -> TaskValue
    {
        switch t.cleanupStrategy {
        case .immediate:
            return .table([
                ("strategy", .string("immediate")),
                ("released_bytes", .integer(pool.releaseIdle(keepBytes: 0, keepPerTier: t.preserveCache))),
            ])
        case .lazy:
            let p = pool.pressure
            let freed = p >= t.pressureThreshold ? pool.collectGarbage(olderThan: t.delayS) : 0
            return .table([
                ("strategy", .string("lazy")), ("pressure", .number(p)), ("pressure_threshold", .number(t.pressureThreshold)),
                ("released_bytes", .integer(freed)),
                (
                    "reason",
                    .string(
                        p >= t.pressureThreshold
                            ? "pool above the pressure threshold: idle blocks older than \(t.delayS) s freed"
                            : "pool below the pressure threshold: idle blocks kept for reuse")
                ),
            ])
        case .scheduled:
            registry.schedule(pool, intervalS: t.intervalS, percentage: t.percentage)
            return .table([
                ("strategy", .string("scheduled")), ("interval_s", .number(t.intervalS)), ("percentage", .number(t.percentage)),
                ("released_bytes", .integer(0)),
                ("reason", .string("a cleaner now frees \(t.percentage)% of idle blocks every \(t.intervalS) s")),
            ])
        case .smart:
            // Keep as much idle memory as the learned working set of recent tasks (their
            // predicted peaks); free the rest.
            let recent = services?.learning.executionsSnapshot().suffix(50) ?? []
            let keep = Int(recent.compactMap(\.peakMemoryBytes).max() ?? 0)
            return .table([
                ("strategy", .string("smart")), ("kept_bytes", .integer(keep)), ("evidence_runs", .integer(recent.count)),
                ("released_bytes", .integer(pool.releaseIdle(keepBytes: keep, keepPerTier: false))),
            ])
        }
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
            (
                "tiers",
                .array(
                    s.tiers.map {
                        .table([
                            ("name", .string($0.name)), ("blocks", .integer($0.blocks)),
                            ("allocations", .integer($0.allocations)), ("reserved_bytes", .integer($0.reservedBytes)),
                        ])
                    })
            ),
        ]
        if let b = c.heapBudget() {
            fields += [("heap_budget_bytes", .integer(b.budgetBytes)), ("heap_usage_bytes", .integer(b.usageBytes))]
        } else {
            fields.append(("heap_budget_bytes", .string("unavailable (no VK_EXT_memory_budget)")))
        }
        return .table(fields)
    }
}
