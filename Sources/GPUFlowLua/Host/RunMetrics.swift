import Foundation
import GPUFlowCore
import GPUFlowML

/// Everything measured in a run as one value: the orchestrator's task records and pool, and
/// the monitor's device, queue, kernel and per-task figures. Shared by `gpu.metrics.snapshot()`
/// and `gpuflow run --metrics-out`.
public enum RunMetrics {
    public static func collect(
        _ env: RunEnvironment, series: Bool = false,
        blocking: (@escaping @Sendable () async throws -> ([TaskRecord], PoolUsage)) throws -> ([TaskRecord], PoolUsage)
    )
        rethrows -> TaskValue
    {
        let orchestrator = env.orchestrator
        let (records, usage) = try blocking { (await orchestrator.records(), await orchestrator.usage()) }
        var fields: [(String, TaskValue)] = [
            ("tasks", .array(records.map(GPUFunctions.recordValue))),
            (
                "pool",
                .table([
                    ("memory_pool_mb", .integer(usage.memoryPoolMB)), ("memory_in_use_mb", .integer(usage.memoryInUseMB)),
                    ("peak_memory_mb", .integer(usage.peakMemoryMB)), ("running_tasks", .integer(usage.runningTasks)),
                    ("queued_tasks", .integer(usage.queuedTasks)), ("peak_running_tasks", .integer(usage.peakRunningTasks)),
                    ("max_concurrent_tasks", .integer(env.profile.resources.maxConcurrentTasks)),
                ])
            ),
            ("backend", .string(env.backendName)),
        ]
        if case .table(let m) = MonitorReport.value(env.monitor, breakers: orchestrator.breakers, series: series) { fields += m }
        return .table(fields)
    }

    /// From outside the Lua host (the CLI after the scripts ended): waits on the orchestrator.
    public static func collectNow(_ env: RunEnvironment) -> TaskValue {
        collect(env, series: true) { body in
            let box = ResultBox()
            let done = DispatchSemaphore(value: 0)
            Task.detached {
                box.value = try? await body()
                done.signal()
            }
            done.wait()
            return box.value ?? (
                [],
                PoolUsage(
                    runningTasks: 0, queuedTasks: 0, memoryInUseMB: 0, memoryPoolMB: 0, peakRunningTasks: 0,
                    peakMemoryMB: 0)
            )
        }
    }

    /// The orchestrator's task records, from outside the Lua host.
    public static func collectRecords(_ env: RunEnvironment) -> [TaskRecord] {
        let box = RecordsBox()
        let done = DispatchSemaphore(value: 0)
        let orchestrator = env.orchestrator
        Task.detached {
            box.value = await orchestrator.records()
            done.signal()
        }
        done.wait()
        return box.value
    }

    private final class RecordsBox: @unchecked Sendable { var value: [TaskRecord] = [] }
    private final class ResultBox: @unchecked Sendable { var value: ([TaskRecord], PoolUsage)? }
}
