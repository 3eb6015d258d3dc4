import Foundation
import GPUFlowCompute
import GPUFlowCore

/// The objects a GPU task works on, beside its parameters.
public struct TaskInputs: Sendable {
    public var model: MLPModel?
    /// A graph model (nn.sequential) in place of `model`.
    public var graph: GraphNetwork?
    /// For an optimization over a graph's architecture: the model built for each point.
    public var candidates: [GraphCandidate] = []
    /// `graph` is an nn.mlp model lowered to its graph (to train with frozen layers): the
    /// trained graph comes back as the MLP it is.
    public var liftsToMLP = false
    public var data: Dataset?
    /// For hybrid compute: the task it runs on the backend it chooses.
    public var inner: GPUTaskType?
    /// For reinforcement learning: the environment episodes run in.
    public var environment: EnvironmentSpec?
    public init(
        model: MLPModel? = nil, data: Dataset? = nil, inner: GPUTaskType? = nil, environment: EnvironmentSpec? = nil,
        graph: GraphNetwork? = nil
    ) {
        self.graph = graph
        self.model = model
        self.data = data
        self.inner = inner
        self.environment = environment
    }
}

/// Runs a GPU task's workload on a backend and returns its result as a `TaskValue` table.
public enum WorkloadRunner {
    /// `recovery`: where gradient training leaves a checkpoint after each epoch and resumes from
    /// (the fault-tolerant path of `ResilientRunner`).
    public static func run(
        _ task: GPUTaskType, inputs: TaskInputs, backend: Backend, device: DeviceSelection = .init(), seed: UInt64,
        cancel: CancellationToken = CancellationToken(), recovery: TrainingRecovery? = nil,
        onEpoch: ((EpochMetrics) -> Void)? = nil
    ) throws -> TaskValue {
        if let graph = inputs.graph, case .training(let t) = task, case .reinforcement(let rl) = t.algorithm {
            return try reinforcement(rl, inputs: inputs, graph: graph, backend: backend, seed: t.seed ?? seed, cancel: cancel)
        }
        if let graph = inputs.graph, case .training(let t) = task, case .evolutionary(let e) = t.algorithm {
            return try graphEvolution(t, e, graph: graph, inputs: inputs, backend: backend, seed: t.seed ?? seed, cancel: cancel)
        }
        if let graph = inputs.graph, case .inference(let t) = task, let g = t.generation {
            return try textGeneration(t, g, graph: graph, backend: backend, seed: seed, cancel: cancel)
        }
        if let graph = inputs.graph, let data = inputs.data {
            switch task {
            case .training(let t):
                return try graphTraining(
                    t, graph: graph, data: data, backend: backend, seed: t.seed ?? seed, cancel: cancel, onEpoch: onEpoch,
                    recovery: recovery, lift: inputs.liftsToMLP)
            case .inference(let t):
                return try graphInference(t, graph: graph, data: data, backend: backend, seed: seed, cancel: cancel)
            case .optimization(let t):
                let r = try ConfigurationSearch.run(
                    .graph(graph, candidates: inputs.candidates), data: data, task: t, backend: backend, seed: t.seed ?? seed,
                    device: device,
                    cancel: cancel)
                return searchValue(t, r, backend: backend)
            default:
                throw MLError("\(task.name): a graph model (nn.sequential) is taken by training, inference and optimization tasks so far")
            }
        }
        switch task {
        case .training(let t):
            if case .reinforcement(let rl) = t.algorithm {
                return try reinforcement(rl, inputs: inputs, backend: backend, seed: t.seed ?? seed, cancel: cancel)
            }
            if case .evolutionary(let e) = t.algorithm, let env = inputs.environment, let model = inputs.model {
                let r = try EvolutionaryTrainer.train(
                    model: model, environment: env.make, config: e, generations: t.epochs, backend: backend,
                    seed: t.seed ?? seed, cancel: cancel)
                return evolutionValue(model: r.model, generations: r.epochs, seconds: r.seconds, environment: env, backend: backend)
            }
            var base = inputs.model
            if base == nil, case .transfer(let tl) = t.algorithm {
                let loaded = try ModelFiles.load(path: tl.baseModel)
                if let g = loaded as? GraphNetwork, let data = inputs.data {
                    return try graphTraining(
                        t, graph: g, data: data, backend: backend, seed: t.seed ?? seed, cancel: cancel, onEpoch: onEpoch,
                        recovery: recovery)
                }
                base = loaded as? MLPModel
            }
            guard let model = base else { throw MLError("training: a model is required") }
            guard let data = inputs.data else { throw MLError("training: data is required") }
            if case .evolutionary(let e) = t.algorithm {
                let r = try EvolutionaryTrainer.train(
                    model: model, data: data, config: e, generations: t.epochs, loss: t.loss, backend: backend,
                    seed: t.seed ?? seed, cancel: cancel)
                return trainingValue(
                    t, model: r.model, parameters: model.parameterCount, run: TrainedRun(r), data: data, backend: backend)
            }
            let r = try Trainer.train(
                model: model, data: data, task: t, backend: backend, seed: t.seed ?? seed, cancel: cancel,
                onEpoch: onEpoch, recovery: recovery)
            var run = TrainedRun(r)
            if case .transfer = t.algorithm {
                run.frozen = .array(r.frozenLayers.map { .integer($0 + 1) })
                run.baseModel = model.objectID
            }
            return trainingValue(t, model: r.model, parameters: model.parameterCount, run: run, data: data, backend: backend)

        case .inference(let t):
            guard let model = inputs.model else { throw MLError("inference: a model is required") }
            guard let given = inputs.data else { throw MLError("inference: data is required") }
            let data = try model.schema?.prepare(given) ?? given
            guard data.cols == model.inputs else {
                throw MLError("inference: data set \(data.source) has \(data.cols) features but the model expects \(model.inputs) inputs")
            }
            var fields: [(String, TaskValue)] = []
            var p99 = 0.0, throughput = 0.0
            let (_, hit) = try ModelCache.shared.withNetwork(model, on: backend, owner: { try backend.sibling() }) {
                net in
                if let s = t.stream {
                    let r = try StreamingInference.run(
                        net: net, data: data, batchSize: t.batchSize, requests: s.requests,
                        arrivalRate: s.arrivalRate, maxWaitMS: (t.maxLatencyMS ?? 2) / 2, seed: seed, cancel: cancel)
                    fields = streamFields(r)
                    (p99, throughput) = (r.latencyMS.p99, r.throughputPerSec)
                } else {
                    let r = try InferenceRunner.run(net: net, model: model, data: data, batchSize: t.batchSize, cancel: cancel)
                    fields = [
                        ("mode", .string("batch")), ("predictions", .floats(r.predictions)), ("rows", .integer(r.rows)),
                        ("batch_size", .integer(r.batchSize)), ("batches", .integer(r.batches)), ("latency_ms", latencyValue(r.latencyMS)),
                        ("throughput_per_sec", .number(r.throughputPerSec)), ("seconds", .number(r.seconds)),
                    ]
                    if let a = r.accuracy { fields.append(("accuracy", .number(a))) }
                    fields = merged(
                        fields, PredictionFields.fields(outputs: r.outputs ?? [], width: model.outputs, data: data, schema: model.schema))
                    (p99, throughput) = (r.latencyMS.p99, r.throughputPerSec)
                }
            }
            if let layer = t.layer, t.stream == nil {
                fields.append(
                    (
                        "embeddings",
                        try layerOutputs(
                            try GraphModel(mlp: model), layer: layer, data: data, batchSize: t.batchSize,
                            backend: backend, cancel: cancel)
                    ))
            }
            let c = ModelCache.shared.statistics()
            return servedValue(
                t, fields: fields, p99: p99, throughput: throughput, backend: backend,
                cache: .table([
                    ("hit", .bool(hit)), ("resident_models", .integer(c.residentModels)),
                    ("evictions", .integer(c.evictions)),
                ]))

        case .optimization(let t):
            guard let model = inputs.model else { throw MLError("optimization: a model is required") }
            let data = try inputs.data ?? syntheticInputs(for: model, seed: t.seed ?? seed)
            let r = try ConfigurationSearch.run(
                model: model, data: data, task: t, backend: backend, seed: t.seed ?? seed, device: device,
                cancel: cancel)
            return searchValue(t, r, backend: backend)

        case .hybridCompute:
            // Backend choice, faults and retries belong to the resilient runner; called here
            // directly, it runs with in-memory learning and fresh breakers.
            return try ResilientRunner.run(
                task, inputs: inputs, backend: .auto, services: .standalone(), device: device, seed: seed,
                cancel: cancel)

        case .memoryManagement(let m):
            return try MemoryTasks.run(m, backend: backend)

        case .resourceCoordination:
            throw MLError("resource_coordination is carried out by the orchestrator: submit it with gpu.submit or call gpu.coordinate{...}")
        }
    }

    /// An optimization result: the best trial (its searched values at the top), every trial,
    /// the space searched and what the grid left out.
    static func searchValue(_ t: OptimizationTask, _ r: SearchResult, backend: Backend) -> TaskValue {
        func trialValue(_ x: Trial) -> TaskValue {
            // The searched values also at the top (`best.learning_rate`), beside the measurements.
            var f: [(String, TaskValue)] = x.configuration.filter { $0.0 != "batch_size" }
            f += [
                ("configuration", .table(x.configuration)), ("batch_size", .integer(x.batchSize)),
                ("p99_latency_ms", .number(x.p99LatencyMS)), ("throughput_per_sec", .number(x.throughputPerSec)),
                ("memory_mb", .number(x.memoryMB)), ("feasible", .bool(x.feasible)),
            ]
            if let a = x.accuracy { f.append(("accuracy", .number(a))) }
            f.append(("power_w", x.powerW.map { .number($0) } ?? .string("unavailable")))
            if let why = x.reason { f.append(("reason", .string(why))) }
            f.append(("score", .number(x.score)))
            return .table(f)
        }
        var fields: [(String, TaskValue)] = [
            ("target", .string(t.target.rawValue)), ("strategy", .string(t.strategy.rawValue)),
            ("evaluations", .integer(r.trials.count)), ("trials", .array(r.trials.map(trialValue))),
            ("constraints_met", .bool(r.best != nil)), ("backend", .string(backend.name)),
            ("dimensions", .table(r.dimensions.map { ($0.0, .integer($0.1)) })),
            (
                "warm_start",
                .array(t.warmStartConfigurations.map { c in .table(c.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }) })
            ),
        ]
        if let b = r.best, let i = r.trials.firstIndex(where: { $0.score == b.score && $0.batchSize == b.batchSize }) {
            fields.append(("best_trial", .integer(i + 1)))
        }
        if let b = r.best { fields.insert(("best", trialValue(b)), at: 0) }
        fields.append(("space_size", .integer(r.spaceSize)))
        if t.strategy == .grid, r.spaceSize > t.budget {
            fields.append(
                (
                    "note",
                    .string(
                        "the grid has \(r.spaceSize) points and the budget is \(t.budget): \(r.trials.count) evenly spaced "
                            + "points were measured, not the whole grid (raise budget to \(r.spaceSize) to measure it all)")
                ))
        }
        return .table(fields)
    }

    static func reinforcement(
        _ rl: ReinforcementLearning, inputs: TaskInputs, graph: GraphNetwork? = nil, backend: Backend, seed: UInt64,
        cancel: CancellationToken
    ) throws -> TaskValue {
        guard let env = inputs.environment else { throw MLError("reinforcement: an environment is required (\(EnvironmentSpec.names))") }
        let options = ReinforcementTrainer.Options(episodes: rl.episodes, parallel: rl.parallelEpisodes, solveThreshold: rl.solveThreshold)
        if let graph {
            let r = try ReinforcementTrainer.train(
                graph: graph.graph, environment: env.make, config: rl, options: options, backend: backend,
                seed: seed, cancel: cancel)
            return reinforcementValue(r, model: GraphNetwork(r.model), rl: rl, env: env, backend: backend)
        }
        guard let model = inputs.model else { throw MLError("reinforcement: a model is required (a policy network)") }
        let r = try ReinforcementTrainer.train(
            model: model, environment: env.make, config: rl, options: options, backend: backend, seed: seed,
            cancel: cancel)
        return reinforcementValue(r, model: r.model, rl: rl, env: env, backend: backend)
    }

    static func reinforcementValue<M: Sendable>(
        _ r: ReinforcementResult<M>, model: any TaskObject, rl: ReinforcementLearning, env: EnvironmentSpec,
        backend: Backend
    ) -> TaskValue {
        var metrics: [(String, TaskValue)] = [
            ("episodes", .integer(r.returns.count)), ("average_return_last100", .number(r.averageLast100)),
            ("seconds", .number(r.seconds)), ("environment", .string(env.name)), ("policy_type", .string(rl.policyType.rawValue)),
        ]
        if let s = r.solvedAtEpisode { metrics.append(("solved_at_episode", .integer(s))) }
        return .table([
            ("model", .object(model)), ("metrics", .table(metrics)), ("returns", .floats(r.returns.map(Float.init))),
            ("backend", .string(backend.name)), ("device", deviceReport(backend)),
        ])
    }

    static func streamFields(_ r: StreamReport) -> [(String, TaskValue)] {
        [
            ("mode", .string("stream")), ("requests", .integer(r.requests)), ("batches", .integer(r.batches)),
            ("mean_batch_size", .number(r.meanBatchSize)), ("latency_ms", latencyValue(r.latencyMS)),
            ("throughput_per_sec", .number(r.throughputPerSec)), ("seconds", .number(r.seconds)),
        ]
    }

    /// An inference result's common tail: where it ran, the model cache, and each declared
    /// constraint met or not, and by how much (positive = room to spare).
    static func servedValue(
        _ t: InferenceTask, fields: [(String, TaskValue)], p99: Double, throughput: Double, backend: Backend,
        cache: TaskValue? = nil
    ) -> TaskValue {
        var fields = fields
        fields += [
            ("batch_size_source", .string(t.batchSizeSource)), ("backend", .string(backend.name)), ("device", deviceReport(backend)),
        ]
        if let cache { fields.append(("model_cache", cache)) }
        var slo: [(String, TaskValue)] = []
        if let l = t.maxLatencyMS { slo += [("latency_met", .bool(p99 <= l)), ("latency_margin_ms", .number(l - p99))] }
        if let th = t.minThroughputPerSec {
            slo += [("throughput_met", .bool(throughput >= th)), ("throughput_margin_per_sec", .number(throughput - th))]
        }
        if !slo.isEmpty { fields.append(("slo", .table(slo))) }
        return .table(fields)
    }

    /// An evolution against an environment: each generation's "loss" is its negated best return.
    static func evolutionValue(
        model: any TaskObject, generations: [EpochMetrics], seconds: Double, environment env: EnvironmentSpec,
        backend: Backend
    ) -> TaskValue {
        .table([
            ("model", .object(model)),
            (
                "metrics",
                .table([
                    ("best_return", .number(-(generations.map(\.loss).min() ?? 0))), ("generations", .integer(generations.count)),
                    ("seconds", .number(seconds)), ("environment", .string(env.name)),
                ])
            ),
            ("best_returns", .array(generations.map { .number(-$0.loss) })), ("backend", .string(backend.name)),
            ("device", deviceReport(backend)),
        ])
    }

    static func latencyValue(_ l: LatencySummary) -> TaskValue {
        .table([
            ("mean", .number(l.mean)), ("p50", .number(l.p50)), ("p95", .number(l.p95)), ("p99", .number(l.p99)), ("max", .number(l.max)),
            ("histogram", .array(l.histogram.map { .table([("upper_ms", .number($0.upperMS)), ("count", .integer($0.count))]) })),
        ])
    }

    /// What the device measured while the task ran: per-kernel GPU time and host↔device copies,
    /// or "unavailable" where the backend has no device clock (the CPU reference).
    static func deviceReport(_ backend: Backend) -> TaskValue {
        var fields: [(String, TaskValue)] = [("name", .string(backend.deviceDescription))]
        let timings = backend.kernelTimings
        if timings.isEmpty {
            fields.append(("gpu_time_ms", .string("unavailable")))
        } else {
            fields.append(("gpu_time_ms", .number(timings.reduce(0) { $0 + $1.totalNS } / 1e6)))
            fields.append(
                (
                    "kernels",
                    .array(
                        timings.map {
                            .table([
                                ("kernel", .string($0.kernel)), ("dispatches", .integer($0.dispatches)),
                                ("total_ms", .number($0.totalNS / 1e6)), ("max_ms", .number($0.maxNS / 1e6)),
                            ])
                        })
                ))
        }
        if let t = backend.transferStats {
            fields.append(
                (
                    "transfers",
                    .table([
                        ("uploads", .integer(t.uploads)), ("upload_bytes", .integer(t.uploadBytes)),
                        ("upload_ms", .number(t.uploadSeconds * 1e3)),
                        ("downloads", .integer(t.downloads)), ("download_bytes", .integer(t.downloadBytes)),
                        ("download_ms", .number(t.downloadSeconds * 1e3)),
                        (
                            "upload_device_ms",
                            t.uploadDeviceSeconds.map { .number($0 * 1e3) } ?? .string("unavailable (no staged copies timed)")
                        ),
                        (
                            "download_device_ms",
                            t.downloadDeviceSeconds.map { .number($0 * 1e3) } ?? .string("unavailable (no staged copies timed)")
                        ),
                    ])
                ))
        }
        return .table(fields)
    }

    /// Standard-normal inputs shaped for `model`, for measuring speed when no data is given.
    public static func syntheticInputs(for model: MLPModel, rows: Int = 1024, seed: UInt64) throws -> Dataset {
        var rng = Philox(seed: seed ^ 0xDA7A)
        let x = (0..<(rows * model.inputs)).map { _ in rng.normal() }
        return Dataset(
            features: x, rows: rows, cols: model.inputs, labels: [Float](repeating: 0, count: rows),
            source: "synthetic(rows=\(rows), seed=\(seed))")
    }
}
