import CLua
import CLuaShim
import GPUFlowCore
import GPUFlowML

/// The Lua constructors of the task model: `gpu.training{...}`, the algorithms and the
/// coordination patterns. Each validates every argument and refuses unknown ones; none
/// schedules anything.
enum TaskConstructors {
    static let functions: [(String, gf_swift_fn)] = [
        ("training", { L in LuaBinding.call(L) { L, job in try push(L, training(LuaArgs(L, 1, function: "gpu.training"), job: job)) } }),
        ("inference", { L in LuaBinding.call(L) { L, _ in try push(L, inference(LuaArgs(L, 1, function: "gpu.inference"))) } }),
        ("optimization", { L in LuaBinding.call(L) { L, _ in try push(L, optimization(LuaArgs(L, 1, function: "gpu.optimization"))) } }),
        (
            "memory_management",
            { L in
                LuaBinding.call(L) { L, _ in try push(L, memoryManagement(LuaArgs(L, 1, function: "gpu.memory_management"))) }
            }
        ),
        (
            "resource_coordination",
            { L in
                LuaBinding.call(L) { L, _ in try push(L, resourceCoordination(LuaArgs(L, 1, function: "gpu.resource_coordination"))) }
            }
        ),
        (
            "hybrid_compute",
            { L in LuaBinding.call(L) { L, _ in try push(L, hybridCompute(LuaArgs(L, 1, function: "gpu.hybrid_compute"))) } }
        ),
        (
            "backprop",
            { L in LuaBinding.call(L) { L, _ in try pushAlgorithm(L, backprop(LuaArgs(L, 1, function: "gpu.backprop", optional: true))) } }
        ),
        ("adam", { L in LuaBinding.call(L) { L, _ in try pushAlgorithm(L, adam(LuaArgs(L, 1, function: "gpu.adam", optional: true))) } }),
        (
            "rmsprop",
            { L in LuaBinding.call(L) { L, _ in try pushAlgorithm(L, rmsprop(LuaArgs(L, 1, function: "gpu.rmsprop", optional: true))) } }
        ),
        (
            "reinforcement",
            { L in
                LuaBinding.call(L) { L, _ in
                    try pushAlgorithm(L, reinforcement(LuaArgs(L, 1, function: "gpu.reinforcement", optional: true)))
                }
            }
        ),
        (
            "transfer",
            { L in
                LuaBinding.call(L) { L, _ in
                    let (algorithm, base, mapping, strict) = try transfer(LuaArgs(L, 1, function: "gpu.transfer"))
                    LuaObjects.push(L, AlgorithmBox(algorithm, baseModel: base, mapping: mapping, strict: strict))
                    return 1
                }
            }
        ),
        (
            "evolutionary",
            { L in
                LuaBinding.call(L) { L, _ in try pushAlgorithm(L, evolutionary(LuaArgs(L, 1, function: "gpu.evolutionary", optional: true)))
                }
            }
        ),
        (
            "exclusive",
            { L in
                LuaBinding.call(L) { L, _ in
                    try pushPattern(L, pattern(.exclusive, LuaArgs(L, 1, function: "gpu.exclusive", optional: true)))
                }
            }
        ),
        (
            "time_sliced",
            { L in
                LuaBinding.call(L) { L, _ in
                    try pushPattern(L, pattern(.time_sliced, LuaArgs(L, 1, function: "gpu.time_sliced", optional: true)))
                }
            }
        ),
        (
            "space_partitioned",
            { L in
                LuaBinding.call(L) { L, _ in
                    try pushPattern(L, pattern(.space_partitioned, LuaArgs(L, 1, function: "gpu.space_partitioned", optional: true)))
                }
            }
        ),
        (
            "pipeline",
            { L in LuaBinding.call(L) { L, _ in try pushPattern(L, pattern(.pipeline, LuaArgs(L, 1, function: "gpu.pipeline"))) } }
        ),
        (
            "collaborative",
            { L in
                LuaBinding.call(L) { L, _ in
                    try pushPattern(L, pattern(.collaborative, LuaArgs(L, 1, function: "gpu.collaborative", optional: true)))
                }
            }
        ),
    ]

    private static func push(_ L: OpaquePointer, _ d: TaskDescriptor) -> Int32 {
        LuaObjects.push(L, d)
        return 1
    }
    private static func pushAlgorithm(_ L: OpaquePointer, _ a: TrainingAlgorithm) -> Int32 {
        LuaObjects.push(L, AlgorithmBox(a))
        return 1
    }
    private static func pushPattern(_ L: OpaquePointer, _ p: CoordinationSpec) -> Int32 {
        LuaObjects.push(L, PatternBox(p))
        return 1
    }

    private static func required<T>(_ a: LuaArgs, _ key: String, _ value: T?, _ what: String) throws -> T {
        guard let value else { throw LuaArgumentError("\(a.function): \(key) is required (\(what))") }
        return value
    }

    // MARK: task types

    static func training(_ a: LuaArgs, job: LuaJob) throws -> TaskDescriptor {
        let graph: GraphNetwork? = try? a.object("model", kind: "model")
        let given: MLPModel? = graph == nil ? try a.object("model", kind: "model") : nil
        let box: AlgorithmBox? = try? a.object("algorithm", kind: "algorithm")
        let algorithm = try algorithmArgument(a)
        if let graph, case .reinforcement = algorithm {
            return try reinforcementTraining(a, model: nil, graph: graph, algorithm: algorithm, job: job)
        }
        if let graph, case .evolutionary = algorithm, a.has("environment") {
            return try reinforcementTraining(a, model: nil, graph: graph, algorithm: algorithm, job: job)
        }
        if case .reinforcement = algorithm { return try reinforcementTraining(a, model: given, algorithm: algorithm, job: job) }
        if case .evolutionary = algorithm, a.has("environment") {
            return try reinforcementTraining(a, model: given, algorithm: algorithm, job: job)
        }
        let data: Dataset = try required(a, "data", try a.object("data", kind: "dataset"), "a dataset from gpu.data")
        // Transfer learning starts from its base model: given as a model, or loaded from its file
        // here (either kind), so a missing or corrupt file is reported at the constructor's line.
        var model: (any TaskObject)? = graph ?? given
        if case .transfer(let t) = algorithm {
            if let base = box?.baseModel {
                guard model == nil else {
                    throw LuaArgumentError("\(a.function): with gpu.transfer the model is the base_model; do not pass model as well")
                }
                model = base
            } else {
                // In the sandbox, only a file of the job's folder (checked before it is opened: its
                // contents and its very existence are not the script's to learn elsewhere).
                let file = try job.readablePath(t.baseModel, what: "base_model", factor: 2)
                if let architecture = model {
                    // A state dict (PyTorch's weights, no graph) goes into the architecture given as model.
                    let g = try (architecture as? GraphNetwork)?.graph ?? (architecture as? MLPModel).map { try GraphModel(mlp: $0) }
                    guard let g else { throw LuaArgumentError("\(a.function): model must be a model") }
                    model = try ModelInterop.importStateDict(
                        file: file, shownAs: t.baseModel, into: g, mapping: box?.mapping ?? StateDictMapping(), strict: box?.strict ?? true,
                        asMLP: architecture is MLPModel)
                } else {
                    model = try ModelFiles.load(path: file)
                }
            }
        }
        guard let model else { throw LuaArgumentError("\(a.function): model is required (a model from nn.mlp or nn.sequential)") }
        var perStep: Bool?
        var task = TrainingTask(
            algorithm: algorithm,
            epochs: try a.int("epochs", default: 10, min: 1, max: 1_000_000),
            batchSize: try a.int("batch_size", default: 32, min: 1),
            loss: try a.choice("loss") ?? .cross_entropy,
            durationEstimate: try a.double("duration_estimate", min: 0, exclusiveMin: true),
            memoryRequirementMB: try a.int("memory_requirement_mb", min: 0) ?? 0,
            computeIntensity: try a.choice("intensity") ?? a.choice("compute_intensity") ?? .moderate,
            validationSplit: try a.double("validation_split", default: 0, min: 0, max: 0.9),
            seed: try a.int("seed", min: 0, max: .max).map(UInt64.init),
            gradientClipNorm: try a.double("gradient_clip", min: 0, exclusiveMin: true),
            earlyStopping: try a.table("early_stopping") { e in
                EarlyStopping(
                    patience: try e.int("patience", default: 5, min: 1), minDelta: try e.double("min_delta", default: 0, min: 0),
                    restoreBest: try e.bool("restore_best") ?? true)
            },
            schedule: try schedule(a, perStep: &perStep))
        task.schedulePerStep = perStep
        task.augmentation = try a.table("augment") { g in
            ImageAugmentation(
                cropPadding: try g.int("crop_padding", default: 0, min: 0, max: 1024), horizontalFlip: try g.bool("flip") ?? false)
        }
        if task.augmentation != nil, data.sampleShape.count != 3 {
            throw LuaArgumentError(
                "\(a.function): augment takes images (samples of shape [channels, height, width]); data has \(data.sampleShape) (ds:reshape{C, H, W} first)"
            )
        }
        task.lossOptions = try lossOptions(a, loss: task.loss)
        task.warmupSteps = try a.int("warmup_steps", min: 1, max: 1 << 30)
        task.checkpointEvery = try a.int("checkpoint_every", min: 1)
        // Checked where every training task is made, so that no way of submitting it (nested
        // in gpu.hybrid_compute, say) skips the check.
        task.checkpointPath = try a.string("checkpoint_path").map { try job.allowedPath($0, write: true, what: "checkpoint_path") }
        task.resumeFrom = try a.string("resume_from").map { try job.allowedPath($0, write: false, what: "resume_from") }
        if task.checkpointEvery != nil, task.checkpointPath == nil {
            throw LuaArgumentError("\(a.function): checkpoint_every needs checkpoint_path")
        }
        if task.earlyStopping != nil, task.validationSplit == 0 {
            throw LuaArgumentError("\(a.function): early_stopping watches the validation loss; set validation_split (e.g. 0.2)")
        }
        var graphModel = model as? GraphNetwork
        var lifts = false
        if a.has("freeze") {
            // An nn.mlp model is a chain of dense layers (dense1, dense2, ...): it trains as its
            // graph, bit for bit, and comes back as the MLP.
            if graphModel == nil, let mlp = model as? MLPModel, !a.has("resume_from") {
                graphModel = GraphNetwork(try GraphModel(mlp: mlp))
                lifts = true
            }
            guard let g = graphModel else {
                throw LuaArgumentError(
                    "\(a.function): freeze names layers of a graph model (nn.sequential, or an nn.mlp's dense1, dense2, ...)")
            }
            task.frozenLayers = try frozenLayers(a, graph: g)
        }
        var options = try SubmitOptions.read(a)
        if options.memoryMB == nil, task.memoryRequirementMB > 0 { options.memoryMB = task.memoryRequirementMB }
        try a.finish()
        if let graphModel {
            let shape = graphModel.graph.inputShape
            // Rows of features against rows: Validation.check below names the two counts.
            if shape.count > 1 || data.sampleShape.count > 1 { try checkSampleShape(a, data: data, model: graphModel) }
            try Validation.check(
                inputs: shape.reduce(1, *), outputs: graphModel.outputs, data: data, loss: task.loss, context: a.function)
            var inputs = TaskInputs(data: data, graph: graphModel)
            inputs.liftsToMLP = lifts
            return TaskDescriptor(type: .training(task), inputs: inputs, options: options)
        }
        guard let mlp = model as? MLPModel else { throw LuaArgumentError("\(a.function): model is not a model this version trains") }
        try Validation.check(model: mlp, data: data, loss: task.loss, context: a.function)
        return TaskDescriptor(type: .training(task), inputs: TaskInputs(model: mlp, data: data), options: options)
    }

    /// The data's samples have the shape the graph takes, or an error naming both (as counts
    /// when both are rows of features).
    private static func checkSampleShape(_ a: LuaArgs, data: Dataset, model: GraphNetwork, which: String = "the model") throws {
        let shape = model.graph.inputShape
        guard data.sampleShape != shape else { return }
        if shape.count == 1, data.sampleShape.count == 1 {
            throw LuaArgumentError("\(a.function): data has \(data.cols) features but \(which) expects \(model.inputs) inputs")
        }
        throw LuaArgumentError("\(a.function): data has samples of shape \(data.sampleShape) but \(which) takes \(shape)")
    }

    /// `freeze = {"linear1", ...}`: layer names of the graph, each checked.
    private static func frozenLayers(_ a: LuaArgs, graph: GraphNetwork) throws -> [String] {
        a.pushField("freeze")
        defer { gf_pop(a.L, 1) }
        let list = try LuaArgs(a.L, -1, function: "\(a.function): freeze")
        let names = try list.positional(limit: 4096) { _ -> String in
            guard lua_type(a.L, -1) == LUA_TSTRING, let n = LuaStack.string(a.L, -1) else {
                throw LuaArgumentError("\(a.function): freeze lists layer names (strings)")
            }
            return n
        }
        try list.finish(positional: true)
        let known = Set(graph.layers)
        if let unknown = names.first(where: { !known.contains($0) }) {
            throw LuaArgumentError(
                "\(a.function): freeze names '\(unknown)', not a layer of the model (its layers: \(graph.layers.joined(separator: ", ")))")
        }
        return names
    }

    /// label_smoothing (cross-entropy) and huber_delta (huber); nil when neither is given.
    private static func lossOptions(_ a: LuaArgs, loss: LossKind) throws -> LossOptions? {
        let smoothing = try a.double("label_smoothing", min: 0, max: 1)
        let delta = try a.double("huber_delta", min: 0, exclusiveMin: true)
        if smoothing != nil, loss != .cross_entropy {
            throw LuaArgumentError("\(a.function): label_smoothing goes with loss = \"cross_entropy\", not \(loss.rawValue)")
        }
        if let s = smoothing, s >= 1 { throw LuaArgumentError("\(a.function): label_smoothing must be below 1, got \(s)") }
        if delta != nil, loss != .huber {
            throw LuaArgumentError("\(a.function): huber_delta goes with loss = \"huber\", not \(loss.rawValue)")
        }
        guard smoothing != nil || delta != nil else { return nil }
        return LossOptions(labelSmoothing: smoothing ?? 0, huberDelta: delta ?? 1)
    }

    /// gpu.training{model = policy, algorithm = gpu.reinforcement{...} or gpu.evolutionary{...},
    ///              environment = "cartpole" | {name = ..., ...}[, epochs = generations]}
    private static func reinforcementTraining(
        _ a: LuaArgs, model: MLPModel?, graph: GraphNetwork? = nil, algorithm: TrainingAlgorithm, job: LuaJob
    ) throws -> TaskDescriptor {
        let model: any TaskObject = try required(a, "model", graph ?? model, "a policy network from nn.mlp, nn.sequential or nn.graph")
        let (inputs, outputs) =
            graph.map { ($0.graph.inputShape.count == 1 ? $0.inputs : -1, $0.outputs) } ?? (model as? MLPModel).map {
                ($0.inputs, $0.outputs)
            } ?? (0, 0)
        var env: EnvironmentSpec?
        if let name = try? a.string("environment") {
            env = try environment(name, nil, a)
        } else {
            env = try a.table("environment") { e in
                if e.has("new") { return try scriptEnvironment(e, job: job) }
                return try environment(try e.string("name") ?? "", e, a)
            }
        }
        guard let env else {
            throw LuaArgumentError("\(a.function): environment is required (\(EnvironmentSpec.names), or {name = ..., ...})")
        }
        guard inputs == env.observationSize, outputs == env.actionCount else {
            throw LuaArgumentError(
                "\(a.function): \(env.name) has \(env.observationSize) observations and \(env.actionCount) actions, "
                    + "but the model is \(inputs < 0 ? "\(graph?.graph.inputShape ?? [])" : "\(inputs)")→\(outputs)")
        }
        let task = TrainingTask(
            algorithm: algorithm, epochs: try a.int("epochs", default: 10, min: 1, max: 1_000_000),
            durationEstimate: try a.double("duration_estimate", min: 0, exclusiveMin: true),
            memoryRequirementMB: try a.int("memory_requirement_mb", min: 0) ?? 0,
            computeIntensity: try a.choice("intensity") ?? .moderate, seed: try a.int("seed", min: 0, max: .max).map(UInt64.init))
        let options = try SubmitOptions.read(a)
        try a.finish()
        if let graph {
            return TaskDescriptor(type: .training(task), inputs: TaskInputs(environment: env, graph: graph), options: options)
        }
        return TaskDescriptor(type: .training(task), inputs: TaskInputs(model: model as? MLPModel, environment: env), options: options)
    }

    /// {new = function() return env end, observations = n, actions = k, max_steps = 200, name = "mine"}
    private static func scriptEnvironment(_ e: LuaArgs, job: LuaJob) throws -> EnvironmentSpec {
        guard let observations = try e.int("observations", min: 1, max: 1 << 20) else {
            throw LuaArgumentError("\(e.function): observations is required with new (the length of an observation)")
        }
        guard let actions = try e.int("actions", min: 2, max: 1 << 16) else {
            throw LuaArgumentError("\(e.function): actions is required with new (how many actions step accepts)")
        }
        let maxSteps = try e.int("max_steps", default: 200, min: 1, max: 10_000_000)
        let name = try e.string("name") ?? "script"
        guard let newRef = try e.function("new") else { throw LuaArgumentError("\(e.function): new must be a function") }
        let factory = LuaRLEnvironmentFactory(job: job, newRef: newRef, observations: observations, actions: actions, maxSteps: maxSteps)
        return EnvironmentSpec(name: name, observationSize: observations, actionCount: actions, make: factory.make)
    }

    private static func environment(_ name: String, _ e: LuaArgs?, _ a: LuaArgs) throws -> EnvironmentSpec {
        switch name {
        case "cartpole": return .cartpole(maxSteps: try e?.int("max_steps", default: 200, min: 1, max: 100_000) ?? 200)
        case "gridworld": return .gridworld(size: try e?.int("size", default: 5, min: 2, max: 64) ?? 5)
        case "bandit":
            return .bandit(
                arms: try e?.int("arms", default: 10, min: 2, max: 10_000) ?? 10,
                seed: UInt64(try e?.int("seed", default: 0, min: 0, max: .max) ?? 0))
        default:
            throw LuaArgumentError("\(a.function): unknown environment '\(name)' (expected \(EnvironmentSpec.names))")
        }
    }

    /// schedule = {kind = "step", every = 10, gamma = 0.5} | {kind = "cosine", min_factor = 0.01} | {kind = "constant"}
    /// schedule = {kind = ..., per = "epoch" | "step"}: the schedule, and whether it runs over steps.
    private static func schedule(_ a: LuaArgs, perStep: inout Bool?) throws -> LearningRateSchedule {
        var per: Bool?
        let schedule = try a.table("schedule") { s in
            switch try s.string("per") ?? "epoch" {
            case "epoch": per = nil
            case "step": per = true
            case let other: throw LuaArgumentError("\(s.function): per must be \"epoch\" or \"step\", got '\(other)'")
            }
            switch try s.string("kind") ?? "constant" {
            case "constant":
                return LearningRateSchedule.constant
            case "step":
                return .step(
                    every: try s.int("every", default: 10, min: 1),
                    gamma: try s.double("gamma", default: 0.5, min: 0, max: 1, exclusiveMin: true))
            case "cosine":
                return .cosine(minFactor: try s.double("min_factor", default: 0, min: 0, max: 1))
            case let other:
                throw LuaArgumentError("\(s.function): kind must be one of constant | step | cosine, got '\(other)'")
            }
        }
        perStep = per
        return schedule ?? .constant
    }

    /// `algorithm` as a constructed algorithm or a name taking that algorithm's defaults.
    private static func algorithmArgument(_ a: LuaArgs) throws -> TrainingAlgorithm {
        if let box: AlgorithmBox = try? a.object("algorithm", kind: "algorithm") { return box.algorithm }
        guard let name = try? a.string("algorithm") else {
            if a.has("algorithm") {
                _ = try a.string("algorithm")  // rethrows the uniform type error
            }
            return .adam(Adam())
        }
        switch name {
        case "backprop", "backpropagation": return .backpropagation(Backpropagation())
        case "adam": return .adam(Adam())
        case "rmsprop": return .rmsprop(RMSprop())
        case "reinforcement": return .reinforcement(ReinforcementLearning())
        case "evolutionary": return .evolutionary(Evolutionary())
        case "transfer":
            throw LuaArgumentError("\(a.function): algorithm 'transfer' needs a base model: use gpu.transfer{base_model = ...}")
        default:
            throw LuaArgumentError(
                "\(a.function): unknown algorithm '\(name)' (expected backprop | adam | rmsprop | reinforcement | transfer | evolutionary, or gpu.adam{...} etc.)"
            )
        }
    }

    static func inference(_ a: LuaArgs) throws -> TaskDescriptor {
        let graph: GraphNetwork? = try? a.object("model", kind: "model")
        let model: MLPModel? = graph == nil ? try required(a, "model", try a.object("model", kind: "model"), "a model") : nil
        if a.has("prompt") { return try generation(a, graph: graph) }
        // A data set, or rows given as a Lua table or a tensor (scaled and coded by the model's schema).
        let data: Dataset
        if let d: Dataset = try? a.object("data", kind: "dataset") {
            data = d
        } else if a.has("data"), let m: any TaskObject = graph ?? model {
            a.pushField("data")
            defer { gf_pop(a.L, 1) }
            data = try ModelInterop.rows(try LuaStack.read(a.L, -1, what: "\(a.function): data"), model: m, function: a.function)
        } else {
            data = try required(a, "data", try a.object("data", kind: "dataset"), "a dataset, or a prompt for a language model")
        }
        guard data.rows > 0 else { throw LuaArgumentError("\(a.function): data has no rows to serve (\(data.source))") }
        var task = InferenceTask(
            modelID: graph?.objectID ?? model?.objectID ?? "", batchSize: try a.int("batch_size", default: 64, min: 1),
            maxLatencyMS: try a.double("max_latency_ms", min: 0, exclusiveMin: true),
            minThroughputPerSec: try a.double("min_throughput_per_sec", min: 0, exclusiveMin: true))
        if !a.has("batch_size") { task.batchSizeSource = "default" }
        if let layer = try a.string("layer") {
            let g = try graph?.graph ?? (try model.map { try GraphModel(mlp: $0) })
            do { _ = try g?.cut(after: layer) } catch let e as MLError { throw LuaArgumentError("\(a.function): \(e.message)") }
            task.layer = layer
        }
        task.stream = try a.table("stream") { s in
            InferenceTask.StreamSettings(
                requests: try s.int("requests", default: 1000, min: 1, max: 10_000_000),
                arrivalRate: try s.double("arrival_rate", default: 5000, min: 0, max: 1e7, exclusiveMin: true))
        }
        if task.layer != nil, task.stream != nil {
            throw LuaArgumentError("\(a.function): layer outputs come with a batch inference, not a stream")
        }
        let options = try SubmitOptions.read(a)
        try a.finish()
        if let graph {
            try checkSampleShape(a, data: data, model: graph)
            return TaskDescriptor(type: .inference(task), inputs: TaskInputs(data: data, graph: graph), options: options)
        }
        guard let model else { throw LuaArgumentError("\(a.function): model is required (a model)") }
        guard data.cols == model.inputs else {
            throw LuaArgumentError("\(a.function): data has \(data.cols) features but the model expects \(model.inputs) inputs")
        }
        return TaskDescriptor(type: .inference(task), inputs: TaskInputs(model: model, data: data), options: options)
    }

    /// gpu.inference{model = lm, prompt = "...", max_tokens = 200, temperature = 1, top_k, seed}.
    private static func generation(_ a: LuaArgs, graph: GraphNetwork?) throws -> TaskDescriptor {
        guard let graph, graph.graph.isSequenceModel else {
            throw LuaArgumentError("\(a.function): a prompt is for a language model (nn.sequential starting with nn.token_embedding)")
        }
        guard let prompt = try a.bytes("prompt") else { throw LuaArgumentError("\(a.function): prompt must be a string") }
        guard prompt.count <= 1 << 20 else { throw LuaArgumentError("\(a.function): prompt is longer than 1 MiB") }
        do { _ = try TextGeneration.promptTokens(graph.graph, prompt: prompt, context: a.function) } catch let e as MLError {
            throw LuaArgumentError(e.message)
        }
        if a.has("data") { throw LuaArgumentError("\(a.function): give a prompt (generation) or data (perplexity), not both") }
        var task = InferenceTask(
            modelID: graph.objectID, batchSize: 1, maxLatencyMS: try a.double("max_latency_ms", min: 0, exclusiveMin: true),
            minThroughputPerSec: try a.double("min_throughput_per_sec", min: 0, exclusiveMin: true))
        task.generation = InferenceTask.GenerationSettings(
            prompt: prompt, maxTokens: try a.int("max_tokens", default: 200, min: 0, max: 100_000),
            temperature: try a.double("temperature", default: 1, min: 0, max: 100), topK: try a.int("top_k", min: 1, max: 1 << 20),
            seed: try a.int("seed", min: 0, max: .max).map(UInt64.init))
        let options = try SubmitOptions.read(a)
        try a.finish()
        return TaskDescriptor(type: .inference(task), inputs: TaskInputs(graph: graph), options: options)
    }

    static func optimization(_ a: LuaArgs) throws -> TaskDescriptor {
        let target: OptimizationTarget = try required(a, "target", try a.choice("target"), OptimizationTarget.choices)
        let graph: GraphNetwork? = try? a.object("model", kind: "model")
        let model: MLPModel? = graph == nil ? try required(a, "model", try a.object("model", kind: "model"), "the model to tune") : nil
        let data: Dataset? = try a.object("data", kind: "dataset")
        // A graph's architecture search: gpu.nn's wrapper built one model per point of the
        // dimensions the builder function reads, before the search (no Lua runs during it).
        var candidates: [GraphCandidate] = []
        if a.has("candidates") {
            guard graph != nil else {
                throw LuaArgumentError("\(a.function): candidates go with a graph model (model = function(p) ... end)")
            }
            a.pushField("candidates")
            defer { gf_pop(a.L, 1) }
            let list = try LuaArgs(a.L, -1, function: "\(a.function): candidates")
            candidates = try list.positional(limit: 256) { i in
                let c = try LuaArgs(a.L, -1, function: "\(a.function): candidate \(i)")
                let m: GraphNetwork = try required(
                    c, "model", try c.object("model", kind: "model"), "a graph model from nn.sequential or nn.graph")
                c.pushField("point")
                let read = try LuaStack.read(a.L, -1, what: "\(a.function): candidate \(i) point")
                gf_pop(a.L, 1)
                guard case .table(let point) = read else { throw LuaArgumentError("\(a.function): candidate \(i) has no point") }
                try c.finish()
                let values = try Dictionary(
                    point.map { k, v -> (String, Double) in
                        guard let d = v.doubleValue, d.isFinite else {
                            throw LuaArgumentError("\(a.function): candidate \(i): \(k) is not a number")
                        }
                        return (k, d)
                    }, uniquingKeysWith: { x, _ in x })
                return GraphCandidate(values: values, graph: m)
            }
            try list.finish(positional: true)
        }
        let architecture = Set(candidates.first?.values.keys.map { $0 } ?? [])
        let constraints =
            try a.table("constraints") { c in
                OptimizationConstraints(
                    maxMemoryMB: try c.int("max_memory_mb", min: 1),
                    maxLatencyMS: try c.double("max_latency_ms", min: 0, exclusiveMin: true),
                    minThroughputPerSec: try c.double("min_throughput_per_sec", min: 0, exclusiveMin: true),
                    maxPowerW: try c.double("max_power_w", min: 0, exclusiveMin: true))
            } ?? OptimizationConstraints()
        var task = OptimizationTask(
            target: target, constraints: constraints, strategy: try a.choice("strategy") ?? .grid,
            budget: try a.int("budget", default: 8, min: 1, max: 256),
            seed: try a.int("seed", min: 0, max: .max).map(UInt64.init))
        task.trainingEpochs = try a.int("training_epochs", default: 5, min: 1, max: 10_000)
        task.warmStart = try a.bool("warm_start") ?? true
        // search = {batch_size = {16, 64}, backend = {"cpu", "vulkan"}, learning_rate = {1e-3, 1e-2}, hidden = {16, 64}}
        a.pushField("search")
        if lua_type(a.L, -1) > LUA_TNIL {
            guard case .table(let dims) = try LuaStack.read(a.L, -1, what: "\(a.function): search") else {
                throw LuaArgumentError("\(a.function): search must be a table of dimension = {values}")
            }
            for (name, v) in dims {
                guard ["batch_size", "backend", "learning_rate", "hidden", "tile"].contains(name) || architecture.contains(name) else {
                    throw LuaArgumentError(
                        "\(a.function): search: unknown dimension '\(name)' (\(ConfigurationSearch.dimensionNames)"
                            + (graph != nil ? "; a graph's own dimensions need model = function(p) return nn.sequential{...} end)" : ")"))
                }
                if name == "hidden", graph != nil {
                    throw LuaArgumentError(
                        "\(a.function): search.hidden sizes an nn.mlp model; give a graph's widths through model = function(p) ... end")
                }
                guard case .array(let items) = v, !items.isEmpty else {
                    throw LuaArgumentError("\(a.function): search.\(name) must be a non-empty list")
                }
                if architecture.contains(name) {
                    // Widths, depths, dropout rates: whatever the builder reads, as numbers.
                    task.space[name] = .numbers(
                        try items.map { i in
                            guard let d = i.doubleValue, d.isFinite else {
                                throw LuaArgumentError("\(a.function): search.\(name) values must be numbers")
                            }
                            return d
                        })
                    continue
                }
                if name == "backend" {
                    task.space[name] = .names(
                        try items.map { i in
                            guard case .string(let s) = i, BackendKind(rawValue: s) != nil else {
                                throw LuaArgumentError("\(a.function): search.backend values must be \(BackendKind.choices)")
                            }
                            return s
                        })
                } else {
                    task.space[name] = .numbers(
                        try items.map { i in
                            guard let d = i.doubleValue, d > 0, d.isFinite else {
                                throw LuaArgumentError("\(a.function): search.\(name) values must be positive numbers")
                            }
                            // Sizes become integers: whole numbers in range, so none overflows later.
                            if name != "learning_rate", d != d.rounded() || d > Double(1 << 20) {
                                throw LuaArgumentError(
                                    "\(a.function): search.\(name) values must be whole numbers from 1 to \(1 << 20), got \(d)")
                            }
                            return d
                        })
                }
            }
        }
        gf_pop(a.L, 1)
        if let w = try a.table(
            "weights",
            { w in
                try ["latency", "throughput", "memory", "accuracy", "power"].compactMap { k in try w.double(k, min: 0).map { (k, $0) } }
            })
        {
            task.weights = Dictionary(uniqueKeysWithValues: w)
        }
        if target == .multi_objective, task.weights.isEmpty {
            throw LuaArgumentError(
                "\(a.function): multi_objective needs weights = {latency = ..., throughput = ..., memory = ..., accuracy = ..., power = ...}"
            )
        }
        let options = try SubmitOptions.read(a)
        try a.finish()
        if let graph {
            guard let data else { throw LuaArgumentError("\(a.function): a graph model is tuned on data: give data = a data set") }
            for m in [graph] + candidates.map(\.graph) { try checkSampleShape(a, data: data, model: m, which: "a model") }
            var inputs = TaskInputs(data: data, graph: graph)
            inputs.candidates = candidates
            return TaskDescriptor(type: .optimization(task), inputs: inputs, options: options)
        }
        guard let model else { throw LuaArgumentError("\(a.function): model is required (the model to tune)") }
        if let data, data.cols != model.inputs {
            throw LuaArgumentError("\(a.function): data has \(data.cols) features but the model expects \(model.inputs) inputs")
        }
        return TaskDescriptor(type: .optimization(task), inputs: TaskInputs(model: model, data: data), options: options)
    }

    static func memoryManagement(_ a: LuaArgs) throws -> TaskDescriptor {
        let op: MemoryOperation = try required(a, "operation", try a.choice("operation"), MemoryOperation.choices)
        let pool =
            try a.table("pool") { p in
                PoolConfig(
                    sizeMB: try p.int("initial_size_mb") ?? p.int("size_mb", default: 0, min: 0),
                    maxSizeMB: try p.int("max_size_mb", min: 1),
                    growth: try p.choice("growth") ?? .fixed,
                    allocationStrategy: try p.choice("allocation") ?? p.choice("allocation_strategy") ?? .best_fit)
            } ?? PoolConfig()
        var task = MemoryManagementTask(operation: op, poolConfig: pool)
        // cleanup_strategy = "lazy" | {lazy = {pressure_threshold, delay}} | {scheduled = {interval, percentage}} | ...
        if let name = try? a.string("cleanup_strategy") {
            guard let c = CleanupStrategy(rawValue: name) else {
                throw LuaArgumentError("\(a.function): cleanup_strategy must be one of \(CleanupStrategy.choices), got '\(name)'")
            }
            task.cleanupStrategy = c
        } else if a.has("cleanup_strategy") {
            try a.table("cleanup_strategy") { c in
                if let l = try c.table(
                    "lazy",
                    { l in (try l.double("pressure_threshold", default: 0.8, min: 0, max: 1), try l.double("delay", default: 1, min: 0)) })
                {
                    task.cleanupStrategy = .lazy
                    (task.pressureThreshold, task.delayS) = l
                } else if let sc = try c.table(
                    "scheduled",
                    { s in (try s.double("interval", default: 1, min: 0.01), try s.double("percentage", default: 50, min: 0, max: 100)) })
                {
                    task.cleanupStrategy = .scheduled
                    (task.intervalS, task.percentage) = sc
                } else {
                    throw LuaArgumentError(
                        "\(a.function): cleanup_strategy table must be {lazy = {pressure_threshold, delay}} or {scheduled = {interval, percentage}}"
                    )
                }
            }
        } else {
            task.cleanupStrategy = .lazy
        }
        let mb = try a.int("size_mb", min: 0)
        task.sizeBytes = try a.int("size", min: 0) ?? (mb.map { $0 << 20 } ?? 0)
        task.alignment = try a.choice("alignment") ?? .cache_line
        task.accessPattern = try a.choice("access_pattern") ?? .device_local
        task.direction = try a.choice("direction") ?? .cpu_to_gpu
        task.bufferIDs = try a.intList("buffers", min: 1) ?? []
        task.force = try a.bool("force") ?? false
        task.consolidationThreshold = try a.double("consolidation_threshold", default: 0.2, min: 0, max: 1)
        task.aggressive = try a.bool("aggressive") ?? false
        task.preserveCache = try a.bool("preserve_cache") ?? true
        switch op {
        case .allocate where task.sizeBytes == 0 && pool.sizeMB == 0:
            throw LuaArgumentError("\(a.function): allocate needs size (bytes) or size_mb, or a pool = {initial_size_mb} to reserve")
        case .transfer where task.sizeBytes == 0:
            throw LuaArgumentError("\(a.function): transfer needs size (bytes) or size_mb")
        case .deallocate where task.bufferIDs.isEmpty:
            throw LuaArgumentError("\(a.function): deallocate needs buffers = {ids returned by allocate}")
        default: break
        }
        let options = try SubmitOptions.read(a)
        try a.finish()
        return TaskDescriptor(type: .memoryManagement(task), inputs: TaskInputs(), options: options)
    }

    static func resourceCoordination(_ a: LuaArgs) throws -> TaskDescriptor {
        let spec: CoordinationSpec
        if let box: PatternBox = try? a.object("pattern", kind: "pattern") {
            spec = box.pattern
        } else {
            let p: CoordinationPattern = try required(a, "pattern", try a.choice("pattern"), "gpu.exclusive{...} etc. or a pattern name")
            spec = CoordinationSpec.defaults(p)
            if p == .pipeline {
                throw LuaArgumentError("\(a.function): a pipeline needs its stages: pattern = gpu.pipeline{stages = {...}}")
            }
        }
        let agents: [String] = try required(a, "agents", try a.stringList("agents"), "a list of agent names")
        guard !agents.isEmpty else { throw LuaArgumentError("\(a.function): agents must name at least one agent") }
        var sharing = ResourceSharingPolicy()
        let policy =
            try a.table("sharing_policy") { p -> SharingPolicy in
                sharing = try ResourceSharingPolicy.read(from: LuaParameters(args: p))
                // The older nested spelling of the three isolation flags.
                if let iso = try p.table(
                    "isolation",
                    { i in
                        (try i.bool("memory"), try i.bool("compute"), try i.bool("performance_isolation") ?? i.bool("performance"))
                    })
                {
                    if let m = iso.0 { sharing.memoryIsolation = m }
                    if let c = iso.1 { sharing.computeIsolation = c }
                    if let pf = iso.2 { sharing.performanceIsolation = pf }
                }
                return SharingPolicy(
                    maxMemoryMB: try p.int("max_memory_mb", min: 1), maxConcurrentTasks: try p.int("max_concurrent_tasks", min: 1),
                    maxComputePercent: try p.double("max_compute_percent", min: 0, max: 100, exclusiveMin: true))
            } ?? SharingPolicy()
        if let s = sharing.minResourceShare, Double(agents.count) * s > 1 {
            throw LuaArgumentError(
                "\(a.function): sharing_policy.min_resource_share \(s) for \(agents.count) agents adds up to more than the whole device")
        }
        if case .pipeline(let p) = spec, let stray = p.stages.first(where: { !agents.contains($0) }) {
            throw LuaArgumentError("\(a.function): pipeline stage '\(stray)' is not among the agents (\(agents.joined(separator: ", ")))")
        }
        let options = try SubmitOptions.read(a)
        try a.finish()
        return TaskDescriptor(
            type: .resourceCoordination(
                ResourceCoordinationTask(
                    pattern: spec, participatingAgents: agents, sharingPolicy: policy,
                    policy: sharing)),
            inputs: TaskInputs(), options: options)
    }

    static func hybridCompute(_ a: LuaArgs) throws -> TaskDescriptor {
        let inner: TaskDescriptor = try required(a, "task", try a.object("task", kind: "task"), "the task to run, e.g. gpu.training{...}")
        let fallback: FallbackStrategy
        if a.has("fallback") {
            if let name = try? a.string("fallback") {
                if name == "fail" {
                    fallback = .fail
                } else if name == "adaptive" {
                    fallback = .adaptive(AdaptiveSelection())
                } else if let k = BackendKind(rawValue: name) {
                    fallback = .fallback(k)
                } else {
                    throw LuaArgumentError(
                        "\(a.function): fallback must be \"fail\", \"adaptive\", a backend (\(BackendKind.choices)), a list of backends or {adaptive = {...}}, got '\(name)'"
                    )
                }
            } else if let list = try? a.stringList("fallback") {
                fallback = .cascade(
                    try list.map { n in
                        guard let k = BackendKind(rawValue: n) else {
                            throw LuaArgumentError("\(a.function): unknown backend '\(n)' in fallback (expected \(BackendKind.choices))")
                        }
                        return k
                    })
            } else {
                let adaptive = try a.table("fallback") { f -> AdaptiveSelection in
                    guard
                        let sel = try f.table(
                            "adaptive",
                            { x -> AdaptiveSelection in
                                let names = try x.stringList("backends") ?? ["vulkan", "simd", "cpu"]
                                let kinds = try names.map { n -> BackendKind in
                                    guard let k = BackendKind(rawValue: n) else {
                                        throw LuaArgumentError("\(x.function): unknown backend '\(n)' (expected \(BackendKind.choices))")
                                    }
                                    return k
                                }
                                return AdaptiveSelection(
                                    candidates: kinds, threshold: try x.double("threshold", default: 0.1, min: 0, max: 10),
                                    exploration: try x.double("exploration", default: 0.05, min: 0, max: 1))
                            })
                    else {
                        throw LuaArgumentError(
                            "\(a.function): fallback table must be a list of backends or {adaptive = {backends, threshold, exploration}}")
                    }
                    return sel
                }
                fallback = .adaptive(adaptive ?? AdaptiveSelection())
            }
        } else {
            _ = try a.string("fallback")
            fallback = .cascade([.vulkan, .simd, .cpu])
        }
        let criteria =
            try a.table("selection_criteria") { c in
                SelectionCriteria(
                    performance: try c.double("performance", default: 0.4, min: 0, max: 1),
                    memory: try c.double("memory", default: 0.2, min: 0, max: 1),
                    power: try c.double("power", default: 0.1, min: 0, max: 1),
                    availability: try c.double("availability", default: 0.3, min: 0, max: 1),
                    historyWindow: try c.int("history_window", default: 20, min: 1))
            } ?? SelectionCriteria()
        let task = HybridComputeTask(
            primaryBackend: try a.choice("primary_backend") ?? .auto, fallbackStrategy: fallback,
            selectionCriteria: criteria, memoryRequirementMB: inner.type.memoryRequirementMB)
        let options = try SubmitOptions.read(a).merged(over: inner.options)
        try a.finish()
        var inputs = inner.inputs
        inputs.inner = inner.type
        return TaskDescriptor(type: .hybridCompute(task), inputs: inputs, options: options)
    }

    // MARK: algorithms

    static func backprop(_ a: LuaArgs) throws -> TrainingAlgorithm {
        let b = Backpropagation(
            learningRate: try a.double("learning_rate", default: 0.01, min: 0, exclusiveMin: true),
            batchSize: try a.int("batch_size", min: 1),
            momentum: try a.double("momentum", default: 0.9, min: 0, max: 0.999999),
            weightDecay: try a.double("weight_decay", min: 0, max: 1), nesterov: try a.bool("nesterov"))
        if b.nesterov == true, b.momentum == 0 { throw LuaArgumentError("\(a.function): nesterov needs momentum above 0") }
        try a.finish()
        return .backpropagation(b)
    }

    static func adam(_ a: LuaArgs) throws -> TrainingAlgorithm {
        let x = Adam(
            learningRate: try a.double("learning_rate", default: 1e-3, min: 0, exclusiveMin: true),
            beta1: try a.double("beta1", default: 0.9, min: 0, max: 0.999999),
            beta2: try a.double("beta2", default: 0.999, min: 0, max: 0.999999),
            epsilon: try a.double("epsilon", default: 1e-8, min: 0, exclusiveMin: true),
            weightDecay: try a.double("weight_decay", default: 0, min: 0, max: 1))
        try a.finish()
        return .adam(x)
    }

    static func rmsprop(_ a: LuaArgs) throws -> TrainingAlgorithm {
        let r = RMSprop(
            learningRate: try a.double("learning_rate", default: 1e-2, min: 0, exclusiveMin: true),
            alpha: try a.double("alpha", default: 0.99, min: 0, max: 0.999999),
            epsilon: try a.double("epsilon", default: 1e-8, min: 0, exclusiveMin: true),
            weightDecay: try a.double("weight_decay", default: 0, min: 0, max: 1),
            momentum: try a.double("momentum", default: 0, min: 0, max: 0.999999))
        try a.finish()
        return .rmsprop(r)
    }

    static func reinforcement(_ a: LuaArgs) throws -> TrainingAlgorithm {
        let policy: PolicyType = try a.choice("policy_type") ?? .policy_gradient
        let r = ReinforcementLearning(
            policyType: policy,
            rewardShaping: try a.choice("reward_shaping") ?? .dense,
            exploration: try a.choice("exploration") ?? (policy == .q_network ? .epsilon_greedy : .boltzmann),
            learningRate: try a.double("learning_rate", default: 1e-2, min: 0, exclusiveMin: true),
            discount: try a.double("discount", default: 0.99, min: 0, max: 1),
            episodes: try a.int("episodes", default: 500, min: 1, max: 10_000_000),
            parallelEpisodes: try a.int("parallel_episodes", default: 16, min: 1, max: 4096),
            solveThreshold: try a.double("solve_threshold"))
        try a.finish()
        return .reinforcement(r)
    }

    /// base_model: a model, or the path of a saved one (model:save), or of a PyTorch state dict
    /// (safetensors) for the architecture given as the training's model, named by `mapping`.
    static func transfer(_ a: LuaArgs) throws -> (TrainingAlgorithm, (any TaskObject)?, StateDictMapping, Bool) {
        let graph: GraphNetwork? = try? a.object("base_model", kind: "model")
        let mlp: MLPModel? = graph == nil ? try? a.object("base_model", kind: "model") : nil
        let object: (any TaskObject)? = graph ?? mlp
        let base: String
        if let object {
            base = object.objectID
        } else {
            base = try required(a, "base_model", try a.string("base_model"), "a model, or the path of a saved one")
        }
        let t = TransferLearning(
            baseModel: base, fineTuningLayers: try a.int("fine_tuning_layers", default: 1, min: 1),
            freezingStrategy: try a.choice("freezing_strategy") ?? .early_layers,
            learningRate: try a.double("learning_rate", default: 1e-3, min: 0, exclusiveMin: true))
        let mapping = try ModelInterop.mapping(a)
        let strict = try a.bool("strict") ?? true
        try a.finish()
        return (.transfer(t), object, mapping, strict)
    }

    static func evolutionary(_ a: LuaArgs) throws -> TrainingAlgorithm {
        let e = Evolutionary(
            populationSize: try a.int("population_size", default: 32, min: 2, max: 100_000),
            mutationRate: try a.double("mutation_rate", default: 0.05, min: 0, max: 1),
            selection: try a.choice("selection") ?? .tournament)
        try a.finish()
        return .evolutionary(e)
    }

    // MARK: patterns

    static func pattern(_ p: CoordinationPattern, _ a: LuaArgs) throws -> CoordinationSpec {
        let spec = try CoordinationSpec.read(p, from: LuaParameters(args: a))
        try a.finish()
        return spec
    }
}

/// A Lua table's parameters, read by the one definition in `CoordinationSpec` and
/// `ResourceSharingPolicy`, with errors that name the Lua function.
struct LuaParameters: ParameterSource {
    let args: LuaArgs

    func number(_ key: String, in range: ClosedRange<Double>) throws -> Double? {
        try args.double(key, min: range.lowerBound, max: range.upperBound)
    }
    func flag(_ key: String) throws -> Bool? { try args.bool(key) }
    func choice<C: NamedChoice>(_ key: String) throws -> C? { try args.choice(key) }
    func names(_ key: String) throws -> [String]? { try args.stringList(key) }
    func counts(_ key: String, in range: ClosedRange<Int>) throws -> [Int]? {
        try args.intList(key, min: range.lowerBound, max: range.upperBound)
    }
    func invalid(_ key: String, _ message: String) -> Error { LuaArgumentError("\(args.function): \(message)") }
}
