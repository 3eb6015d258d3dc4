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

    /// The orchestrator's task records in id order, fetched a page at a time as the sequence is
    /// read: the run's end writes a million tasks without holding all their records twice.
    public static func recordPages(_ env: RunEnvironment, pageSize: Int = 8192) -> some Sequence<TaskRecord> {
        let orchestrator = env.orchestrator
        var last: TaskID = 0
        var page: [TaskRecord] = []
        var index = 0
        return AnyIterator<TaskRecord> {
            if index == page.count {
                let box = RecordsBox()
                let done = DispatchSemaphore(value: 0)
                let after = last
                Task.detached {
                    box.value = await orchestrator.records(after: after, limit: pageSize)
                    done.signal()
                }
                done.wait()
                page = box.value
                index = 0
                guard let end = page.last else { return nil }
                last = end.id
            }
            defer { index += 1 }
            return page[index]
        }.lazy
    }

    private final class RecordsBox: @unchecked Sendable { var value: [TaskRecord] = [] }
    private final class ResultBox: @unchecked Sendable { var value: ([TaskRecord], PoolUsage)? }
}
