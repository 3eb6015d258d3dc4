import GPUFlowCompute
import GPUFlowCore

/// The sizes a GPU task's cost depends on, in the form the learning engine predicts from.
/// FLOPs are counted for the dense layers only (2 per multiply-add; training ≈ 3× a forward
/// pass), the usual first-order estimate; work without a clear FLOP count gets none.
public enum WorkloadShapes {
    public static func modelSignature(_ m: MLPModel) -> String {
        ([m.inputs] + m.layers.map(\.outputs)).map(String.init).joined(separator: "-")
    }

    public static func shape(_ task: GPUTaskType, inputs: TaskInputs) -> WorkloadShape? {
        var f: [String: Double] = [:], p: [String: String] = [:]
        if let m = inputs.model {
            f["params"] = Double(m.parameterCount)
            p["model"] = modelSignature(m)
        }
        if task.memoryRequirementMB > 0 { f["declared_mb"] = Double(task.memoryRequirementMB) }
        let rows = Double(inputs.data?.rows ?? 0)
        let params = f["params"] ?? 0
        switch task {
        case .training(let t):
            p["algorithm"] = t.algorithm.name
            f["epochs"] = Double(t.epochs)
            f["batch_size"] = Double(t.batchSize)
            if rows > 0 {
                f["rows"] = rows
                if params > 0 { f["flops"] = 6 * params * rows * Double(t.epochs) }
            }
            if case .reinforcement(let rl) = t.algorithm { f["episodes"] = Double(rl.episodes) }
        case .inference(let t):
            f["batch_size"] = Double(t.batchSize)
            let n = t.stream.map { Double($0.requests) } ?? rows
            if n > 0 {
                f["rows"] = n
                if params > 0 { f["flops"] = 2 * params * n }
            }
        case .optimization(let t):
            p["target"] = t.target.rawValue
            p["strategy"] = t.strategy.rawValue
            f["budget"] = Double(t.budget)
            let n = rows > 0 ? rows : 1024
            f["rows"] = n
            if params > 0 { f["flops"] = Double(t.budget) * 2 * params * n }
        case .hybridCompute:
            guard let inner = inputs.inner else { return nil }
            return shape(inner, inputs: inputs)
        case .memoryManagement, .resourceCoordination:
            return nil
        }
        // Reinforcement and evolution cost what their episodes and populations cost, not what a
        // data set's rows do: they learn apart from supervised training.
        var kind = task.name
        if case .training(let t) = task {
            switch t.algorithm {
            case .reinforcement: kind = "reinforcement"
            case .evolutionary: kind = "evolutionary"
            default: break
            }
        }
        return WorkloadShape(kind: kind, features: f, parameters: p)
    }

    /// What the run achieved, for comparing algorithms (accuracy, loss) and searches.
    static func outcomes(_ result: TaskValue) -> [String: Double] {
        var o: [String: Double] = [:]
        if let m = result["metrics"] {
            for k in ["accuracy", "loss", "validation_accuracy", "average_return_last100"] { o[k] = m[k]?.doubleValue }
        }
        if let a = result["accuracy"]?.doubleValue { o["accuracy"] = a }
        if let e = result["evaluations"]?.doubleValue { o["evaluations"] = e }
        if let b = result["best_trial"]?.doubleValue { o["best_trial"] = b }  // how soon a search found its best
        return o.compactMapValues { $0.isFinite ? $0 : nil }
    }

    /// Samples or rows per second the result reports.
    static func throughput(_ result: TaskValue) -> Double? {
        result["metrics"]?["samples_per_sec"]?.doubleValue ?? result["throughput_per_sec"]?.doubleValue
    }
}

/// Warm starts and trial memory for optimization tasks.
enum SearchMemory {
    /// The task with the best configurations of similar past searches filled in.
    static func warmStarted(_ task: GPUTaskType, inputs: TaskInputs, learning: GPULearningEngine) -> GPUTaskType {
        guard case .optimization(var t) = task, t.warmStart, let model = inputs.model else { return task }
        var dims = Set(t.space.keys)
        dims.insert("batch_size")
        t.warmStartConfigurations = learning.warmStart(
            model: WorkloadShapes.modelSignature(model), target: t.target.rawValue, dimensions: dims)
        return .optimization(t)
    }

    /// Every feasible trial of a finished search, remembered for the next one.
    static func remember(_ task: GPUTaskType, inputs: TaskInputs, result: TaskValue, learning: GPULearningEngine) {
        guard case .optimization(let t) = task, let model = inputs.model, case .array(let trials)? = result["trials"] else { return }
        let signature = WorkloadShapes.modelSignature(model)
        let records = trials.compactMap { trial -> TrialRecord? in
            guard case .bool(true)? = trial["feasible"], let score = trial["score"]?.doubleValue, score.isFinite,
                case .table(let config)? = trial["configuration"]
            else { return nil }
            var c = Dictionary(config.map { ($0.0, ConfigurationSearch.text($0.1)) }, uniquingKeysWith: { a, _ in a })
            if c["batch_size"] == nil, let b = trial["batch_size"]?.doubleValue { c["batch_size"] = String(Int(b)) }
            return TrialRecord(model: signature, target: t.target.rawValue, configuration: c, score: -score)
        }
        learning.record(trials: records)
    }
}
