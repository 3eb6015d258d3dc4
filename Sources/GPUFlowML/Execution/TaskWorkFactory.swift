import Dispatch
import GPUFlowCompute
import GPUFlowCore

/// Builds the orchestrator's work closure for a GPU task.
///
/// The numerical work is synchronous and can take seconds, so it runs on a dispatch queue, not
/// on Swift's cooperative pool, where it would starve the orchestrator actor. Cancellation and
/// timeouts reach it through a `CancellationToken` it polls between batches.
public enum TaskWorkFactory {
    private static let queue = DispatchQueue(label: "gpuflow.workloads", attributes: .concurrent)

    public static func work(for task: GPUTaskType, inputs: TaskInputs, backend: BackendKind, device: DeviceSelection = .init(),
                            seed: UInt64, orchestrator: GPUTaskOrchestrator, services: ExecutionServices? = nil) -> TaskWork {
        let services = services ?? ExecutionServices(learning: orchestrator.learning, breakers: orchestrator.breakers)
        if case .memoryManagement(let m) = task, m.operation == .stats {
            return { _ in
                let u = await orchestrator.usage()
                var fields: [(String, TaskValue)] = [
                    ("memory_pool_mb", .integer(u.memoryPoolMB)), ("memory_in_use_mb", .integer(u.memoryInUseMB)),
                    ("peak_memory_mb", .integer(u.peakMemoryMB)), ("running_tasks", .integer(u.runningTasks)),
                    ("queued_tasks", .integer(u.queuedTasks)), ("peak_running_tasks", .integer(u.peakRunningTasks)),
                ]
                if let vulkan = try? BackendSelector.make(backend, device: device).backend as? VulkanBackend {
                    fields.append(("device_pool", MemoryTasks.statistics(vulkan.context)))
                } else {
                    fields.append(("device_pool", .string("unavailable (the \(backend.rawValue) backend has no device memory pool)")))
                }
                return .table(fields)
            }
        }
        return { ctx in
            let token = CancellationToken()
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (c: CheckedContinuation<TaskValue, Error>) in
                    queue.async {
                        c.resume(with: Result {
                            try ResilientRunner.run(task, inputs: inputs, backend: backend, services: services, device: device, seed: seed,
                                                    cancel: token, taskID: ctx.id, taskName: ctx.name)
                        })
                    }
                }
            } onCancel: {
                token.cancel()
            }
        }
    }
}
