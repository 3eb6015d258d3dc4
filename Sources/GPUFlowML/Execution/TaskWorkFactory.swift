import Foundation
import GPUFlowCompute
import GPUFlowCore

/// Builds the orchestrator's work closure for a GPU task.
///
/// The numerical work is synchronous and can take seconds, so it runs on a thread of its own:
/// not on Swift's cooperative pool, where it would starve the orchestrator actor, and not on a
/// GCD queue either — on Linux the global executor shares GCD's root queues, and a few busy
/// workloads there delayed every actor call (a `gpu.submit` waited for a running task to end).
/// Cancellation and timeouts reach it through a `CancellationToken` it polls between batches.
public enum TaskWorkFactory {
    /// Runs `body` on a new thread with a stack large enough for deep Lua callbacks.
    static func onThread(_ body: @escaping @Sendable () -> Void) {
        let t = Thread(block: body)
        t.stackSize = 8 << 20
        t.name = "gpuflow.workload"
        t.start()
    }

    public static func work(
        for task: GPUTaskType, inputs: TaskInputs, backend: BackendKind, device: DeviceSelection = .init(),
        seed: UInt64, orchestrator: GPUTaskOrchestrator, services: ExecutionServices? = nil,
        agent: String? = nil, memoryMB: Int? = nil
    ) -> TaskWork {
        let services = services ?? ExecutionServices(orchestrator: orchestrator)
        if case .resourceCoordination(let rc) = task {
            return { _ in
                let c = Coordination(spec: rc.pattern, agents: rc.participatingAgents, policy: rc.policy)
                try await orchestrator.coordinate(c, limits: rc.sharingPolicy)
                let fields: [(String, TaskValue)] =
                    [
                        ("pattern", .string(rc.pattern.pattern.rawValue)),
                        ("agents", .array(rc.participatingAgents.map { .string($0) })),
                    ]
                    + rc.pattern.parameters
                return .table(fields)
            }
        }
        if case .memoryManagement(let m) = task, m.operation == .stats {
            return { _ in
                let u = await orchestrator.usage()
                var fields: [(String, TaskValue)] = [
                    ("memory_pool_mb", .integer(u.memoryPoolMB)), ("memory_in_use_mb", .integer(u.memoryInUseMB)),
                    ("peak_memory_mb", .integer(u.peakMemoryMB)), ("running_tasks", .integer(u.runningTasks)),
                    ("queued_tasks", .integer(u.queuedTasks)), ("peak_running_tasks", .integer(u.peakRunningTasks)),
                ]
                if let pooled = try? BackendSelector.make(backend, device: device).backend as? DeviceMemoryPooling {
                    fields.append(("device_pool", MemoryTasks.statistics(pooled.deviceContext)))
                } else {
                    fields.append(("device_pool", .string("unavailable (the \(backend.rawValue) backend has no device memory pool)")))
                }
                return .table(fields)
            }
        }
        return { ctx in
            let token = CancellationToken()
            // A job server's orchestrator admits the task first; its lease is given back at the end.
            var lease: String?
            if let admission = services.admission, task.isDeviceWork {
                let granted = try await admission.acquire(
                    task, name: ctx.name, agent: agent, memoryMB: memoryMB ?? task.memoryRequirementMB)
                lease = granted.lease
                // The allocator here enforces what the server allows this agent across all its jobs.
                if let bytes = granted.allowanceBytes, let agent { orchestrator.memoryLimits.set(agent, bytes: bytes) }
            }
            defer {
                if let lease, let admission = services.admission { Task { await admission.release(lease) } }
            }
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (c: CheckedContinuation<TaskValue, Error>) in
                    onThread {
                        // Every step boundary of the work passes the device gate under its agent.
                        if let gate = services.gate { token.attach(gate, agent: agent ?? "-") }
                        if let slices = services.slices, task.isDeviceWork {
                            let who = agent ?? "-"
                            token.attachRemote { try slices.ensure(agent: who) }
                        }
                        defer {
                            token.detach()
                            if let slices = services.slices, task.isDeviceWork { slices.release(agent: agent ?? "-") }
                        }
                        c.resume(
                            with: Result {
                                try ResilientRunner.run(
                                    task, inputs: inputs, backend: backend, services: services, device: device, seed: seed,
                                    cancel: token, taskID: ctx.id, taskName: ctx.name, agent: agent)
                            })
                    }
                }
            } onCancel: {
                token.cancel()
            }
        }
    }
}
