import Foundation
import GPUFlowCompute
import GPUFlowCore
import Logging

/// What a workload shares with every other one in the process: the learning engine, the
/// circuit breakers, the monitor, and the profile's fallback for plain tasks.
public struct ExecutionServices: Sendable {
    public let learning: GPULearningEngine
    public let breakers: CircuitBreakerBoard
    public let monitor: GPUPerformanceMonitor?
    /// Where a plain (non-hybrid) task goes when its backend faults; empty: it fails.
    public let fallbackBackends: [BackendKind]
    public let logger: Logger
    /// Step-level arbitration between agents (time slices, compute shares); nil: none.
    public let gate: DeviceGate?
    /// Per-agent tensor-memory quotas; nil: tensors are not charged to agents.
    public let quotas: AgentQuotas?
    /// Buffers memory_management tasks allocated, for the run.
    public let buffers: DeviceBufferRegistry
    /// Hears task starts, epochs and results (the run store, the progress display).
    public var observer: RunObserver?
    /// Keeps training checkpoints beyond the process, for resuming a killed run.
    public var checkpoints: CheckpointStore?
    /// Admission by a job server's orchestrator (nil: this process decides alone).
    public var admission: AdmissionControl?
    /// Time slices across jobs, from a job server (nil: none).
    public var slices: SliceControl?

    public init(
        learning: GPULearningEngine, breakers: CircuitBreakerBoard, monitor: GPUPerformanceMonitor? = nil,
        fallbackBackends: [BackendKind] = [], logger: Logger = Logger(label: "gpuflow.execution"),
        gate: DeviceGate? = nil, quotas: AgentQuotas? = nil, buffers: DeviceBufferRegistry = DeviceBufferRegistry()
    ) {
        self.learning = learning
        self.breakers = breakers
        self.monitor = monitor
        self.fallbackBackends = fallbackBackends
        self.logger = logger
        self.gate = gate
        self.quotas = quotas
        self.buffers = buffers
    }

    /// What an orchestrator's tasks share: its learning engine, breakers, gate and agent limits.
    public init(
        orchestrator: GPUTaskOrchestrator, monitor: GPUPerformanceMonitor? = nil, fallbackBackends: [BackendKind] = [],
        logger: Logger = Logger(label: "gpuflow.execution"), quotas: AgentQuotas? = nil,
        buffers: DeviceBufferRegistry = DeviceBufferRegistry()
    ) {
        self.init(
            learning: orchestrator.learning, breakers: orchestrator.breakers, monitor: monitor, fallbackBackends: fallbackBackends,
            logger: logger, gate: orchestrator.gate, quotas: quotas ?? AgentQuotas(limits: orchestrator.memoryLimits), buffers: buffers)
    }

    /// In-memory learning and fresh breakers, for callers outside a run (tests, benchmarks).
    public static func standalone() -> ExecutionServices {
        ExecutionServices(learning: GPULearningEngine(enabled: true), breakers: CircuitBreakerBoard())
    }
}

/// Runs a GPU task on the backends its plan names, surviving device faults: a fault (device
/// lost, out of memory) counts against the backend's circuit breaker; the task is retried —
/// on the same backend while its breaker stays closed (device loss may be transient), on the
/// next one once it opens or at once for out-of-memory — and training resumes from its last
/// finished epoch, so no completed work is lost. Every attempt is in the result.
public enum ResilientRunner {
    public static func run(
        _ task: GPUTaskType, inputs: TaskInputs, backend requested: BackendKind, services: ExecutionServices,
        device: DeviceSelection = .init(), seed: UInt64, cancel: CancellationToken = CancellationToken(),
        taskID: Int? = nil, taskName: String? = nil, agent: String? = nil
    ) throws -> TaskValue {
        var work: GPUTaskType
        let plan: BackendPlan
        var hybrid = false
        if case .hybridCompute(let h) = task {
            guard let inner = inputs.inner else {
                throw MLError("hybrid_compute: an inner task is required (task = gpu.training{...} etc.)")
            }
            if case .hybridCompute = inner { throw MLError("hybrid_compute: the inner task cannot itself be hybrid_compute") }
            work = inner
            hybrid = true
            plan = BackendPlanner.plan(
                primary: h.primaryBackend, strategy: h.fallbackStrategy, criteria: h.selectionCriteria,
                shape: WorkloadShapes.shape(inner, inputs: inputs), learning: services.learning,
                breakers: services.breakers, device: device, seed: seed)
        } else {
            work = task
            let strategy: FallbackStrategy = services.fallbackBackends.isEmpty ? .fail : .cascade(services.fallbackBackends)
            plan = BackendPlanner.plan(
                primary: requested, strategy: strategy, criteria: SelectionCriteria(), shape: nil,
                learning: services.learning, breakers: services.breakers, device: device, seed: seed)
        }
        services.logger.debug(
            "backend plan",
            metadata: [
                "task": "\(taskName ?? work.name)", "order": "\(plan.order.map(\.rawValue).joined(separator: ","))",
                "reason": "\(plan.reason)",
            ])
        let shape = WorkloadShapes.shape(work, inputs: inputs)
        work = SearchMemory.warmStarted(work, inputs: inputs, learning: services.learning)
        var recovery = Self.resumable(work) ? TrainingRecovery() : nil
        // A checkpoint a killed run left for exactly this task (same task, model, data, seed)
        // lets it go on from its last finished epoch. The key hashes the data: computed once.
        let checkpoints = recovery == nil ? nil : services.checkpoints
        let checkpointKey = checkpoints == nil ? nil : Self.checkpointKey(work, inputs: inputs, seed: seed)
        if let store = checkpoints, let key = checkpointKey {
            if let data = store.load(key: key), let r = try? TrainingRecovery(resumingFrom: data) {
                recovery = r
                services.logger.info("resuming training from a stored checkpoint", metadata: ["epoch": "\(r.completedEpochs)"])
            }
            recovery?.onCheckpoint = { store.save(key: key, checkpoint: $0) }
            recovery?.policy = store.policy
        }
        var succeeded = false
        defer {
            if succeeded {
                recovery?.settle()
                if let store = checkpoints, !store.policy.keepOnSuccess, let key = checkpointKey { store.drop(key: key) }
            } else {
                recovery?.flush()
            }
        }
        var epochs: Int?
        if case .training(let t) = work { epochs = t.epochs }
        services.observer?.taskStarted(id: taskID, name: taskName ?? work.name, kind: work.name, agent: agent, epochs: epochs)
        let observer = services.observer, epochTotal = epochs ?? 0, label = taskName ?? work.name
        let onEpoch: ((EpochMetrics) -> Void)? = observer.map { o in { m in o.epoch(id: taskID, name: label, metrics: m, of: epochTotal) } }
        var attempts: [TaskValue] = []
        var refusals: [String] = []
        var faults = 0
        let started = Date()
        for kind in plan.order {
            var retry = true
            while retry {
                retry = false
                let choice: BackendSelector.Choice
                do {
                    choice = try BackendSelector.make(kind, device: device)
                } catch {
                    refusals.append("\(kind.rawValue): \(error)")
                    attempts.append(
                        .table([("backend", .string(kind.rawValue)), ("outcome", .string("unavailable")), ("error", .string("\(error)"))]))
                    break
                }
                let backend = choice.backend
                if let agent, let quotas = services.quotas { backend.tensorMeter?.quota = quotas.quota(for: agent) }
                let key = backend.name == "vulkan" ? "vulkan:" + backend.deviceDescription : backend.name
                guard services.breakers.allow(key) else {
                    let b = services.breakers.breaker(key)
                    let why = String(
                        format: "circuit open after %d consecutive faults, half-opens in %.1f s", b.consecutiveFailures,
                        services.breakers.remainingCooldown(key))
                    refusals.append("\(backend.name): \(why)")
                    attempts.append(.table([("backend", .string(backend.name)), ("outcome", .string("skipped")), ("error", .string(why))]))
                    break
                }
                let resumeFrom = recovery?.completedEpochs ?? 0
                let energy0 = PowerMeter.shared?.joules()
                let t0 = Date()
                do {
                    let result: TaskValue
                    if case .memoryManagement(let m) = work {
                        result = try MemoryTasks.run(m, backend: backend, services: services, agent: agent)
                    } else {
                        result = try WorkloadRunner.run(
                            work, inputs: inputs, backend: backend, device: device, seed: seed, cancel: cancel,
                            recovery: recovery, onEpoch: onEpoch)
                    }
                    let wall = Date().timeIntervalSince(t0)
                    services.breakers.recordSuccess(key)
                    let energy = zip2(PowerMeter.shared?.joules(), energy0).map { $0 - $1 }
                    var attempt: [(String, TaskValue)] = [
                        ("backend", .string(backend.name)), ("outcome", .string("succeeded")),
                        ("seconds", .number(wall)),
                    ]
                    if resumeFrom > 0 { attempt.append(("resumed_from_epoch", .integer(resumeFrom))) }
                    attempts.append(.table(attempt))
                    if let shape {
                        services.learning.record(
                            execution(
                                shape, backend: backend, seconds: wall, result: result, energy: energy,
                                doneFraction: doneFraction(work, resumedFrom: resumeFrom)))
                    }
                    SearchMemory.remember(work, inputs: inputs, result: result, learning: services.learning)
                    services.observer?.taskFinished(
                        id: taskID, name: label, kind: work.name, agent: agent, backend: backend.name, result: result)
                    var metrics = TaskMetrics(
                        id: taskID, name: taskName ?? work.name, kind: work.name, backend: backend,
                        startedAt: services.monitor.map { $0.elapsed - wall } ?? 0, wallS: wall,
                        attempts: attempts.count, energyJ: energy)
                    metrics.agent = agent
                    services.monitor?.record(metrics)
                    succeeded = true
                    return compose(
                        result, hybrid: hybrid, backend: backend.name, plan: plan, refusals: refusals, attempts: attempts,
                        faults: faults, seconds: Date().timeIntervalSince(started))
                } catch let e as BackendError where e.code == .deviceLost || e.code == .outOfMemory {
                    faults += 1
                    services.breakers.recordFailure(key)
                    let state = services.breakers.breaker(key).state
                    services.logger.warning(
                        "device fault",
                        metadata: [
                            "task": "\(taskName ?? work.name)", "backend": "\(key)", "error": "\(e)", "breaker": "\(state.rawValue)",
                            "completed_epochs": "\(recovery?.completedEpochs ?? 0)",
                        ])
                    if let shape {
                        services.learning.record(
                            ExecutionRecord(
                                kind: shape.kind, backend: backend.name, device: backend.deviceDescription,
                                features: shape.features, parameters: shape.parameters,
                                durationS: Date().timeIntervalSince(t0), succeeded: false))
                    }
                    var attempt: [(String, TaskValue)] = [
                        ("backend", .string(backend.name)), ("outcome", .string("fault")),
                        ("error", .string("\(e)")), ("breaker", .string(state.rawValue)),
                    ]
                    if let r = recovery { attempt.append(("completed_epochs", .integer(r.completedEpochs))) }
                    attempts.append(.table(attempt))
                    refusals.append("\(backend.name): \(e)")
                    // Device loss may pass; out-of-memory will not on the same device.
                    retry = e.code == .deviceLost && state == .closed
                } catch {
                    services.breakers.recordInconclusive(key)
                    throw error
                }
            }
        }
        throw BackendError(.unavailable, "no backend could run the task: " + refusals.joined(separator: "; "))
    }

    private static func zip2(_ a: Double?, _ b: Double?) -> (Double, Double)? {
        guard let a, let b else { return nil }
        return (a, b)
    }

    /// The identity of a training task's work: its parameters, its model's and data's bytes and
    /// its seed. Two runs with the same key train identically.
    static func checkpointKey(_ t: GPUTaskType, inputs: TaskInputs, seed: UInt64) -> String? {
        guard case .training(let tr) = t, let model: AnyObject = inputs.model ?? inputs.graph, let data = inputs.data,
            // Stable: with Foundation's per-process key order a resumed run got a key of its own
            // and started at epoch 1.
            let spec = try? StableJSON.encode(tr), let modelBytes = try? ModelFiles.encode(model) ?? nil
        else { return nil }
        var h = Hasher256()
        h.add(spec)
        h.add(Data(modelBytes))
        h.add(data.fingerprint)
        h.add(Data(String(tr.seed ?? seed).utf8))
        return h.hex
    }

    /// Gradient training keeps a checkpoint per epoch and can resume elsewhere; other work is
    /// pure given its seed and simply runs again.
    static func resumable(_ t: GPUTaskType) -> Bool {
        guard case .training(let tr) = t else { return false }
        switch tr.algorithm {
        case .backpropagation, .adam, .rmsprop, .transfer: return true
        default: return false
        }
    }

    /// The share of the task's work this attempt did (a resumed run trains fewer epochs).
    static func doneFraction(_ t: GPUTaskType, resumedFrom: Int) -> Double {
        guard resumedFrom > 0, case .training(let tr) = t, tr.epochs > 0 else { return 1 }
        return Double(tr.epochs - resumedFrom) / Double(tr.epochs)
    }

    static func execution(
        _ shape: WorkloadShape, backend: Backend, seconds: Double, result: TaskValue, energy: Double?,
        doneFraction: Double
    ) -> ExecutionRecord {
        var features = shape.features
        if doneFraction < 1 {
            for k in ["epochs", "flops"] { if let v = features[k] { features[k] = max(1, v * doneFraction) } }
        }
        var r = ExecutionRecord(
            kind: shape.kind, backend: backend.name, device: backend.deviceDescription, features: features,
            parameters: shape.parameters, durationS: seconds, peakMemoryBytes: backend.tensorBytesPeak.map(Double.init),
            throughput: WorkloadShapes.throughput(result), energyJ: energy)
        r.outcomes = WorkloadShapes.outcomes(result)
        return r
    }

    /// A hybrid task's result wraps the inner one with the choice and its reason; a plain task
    /// keeps its shape and gains `attempts` only when a fault moved it.
    static func compose(
        _ result: TaskValue, hybrid: Bool, backend: String, plan: BackendPlan, refusals: [String], attempts: [TaskValue],
        faults: Int, seconds: Double
    ) -> TaskValue {
        let reason = refusals.isEmpty ? plan.reason : plan.reason + "; " + refusals.joined(separator: "; ") + "; ran on \(backend)"
        if hybrid {
            var fields: [(String, TaskValue)] = [
                ("backend", .string(backend)), ("reason", .string(reason)), ("attempts", .array(attempts)),
                ("faults", .integer(faults)), ("seconds", .number(seconds)), ("result", result),
            ]
            if !plan.scores.isEmpty {
                fields.append(("scores", .table(plan.scores.map { ($0.backend, .number($0.score)) })))
            }
            return .table(fields)
        }
        guard attempts.count > 1, case .table(var fields) = result else { return result }
        fields += [("attempts", .array(attempts)), ("faults", .integer(faults)), ("fallback_reason", .string(reason))]
        return .table(fields)
    }
}
