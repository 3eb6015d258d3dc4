import GPUFlowCompute
import GPUFlowCore

/// The fixed MLP pipeline as the training loop sees it: its hand-written forward and backward
/// passes, parameters in layer order (weight, then bias, layer by layer: a graph's order).
final class MLPTraining: TrainableNetwork {
    let net: NetworkOnBackend
    let parameters: [Tensor]
    let trainable: [Bool]
    var backend: Backend { net.backend }
    var outputCount: Int { net.layers.last?.outputs ?? 0 }

    /// `layers`: per layer, false freezes its weights and bias (transfer learning).
    init(_ model: MLPModel, on backend: Backend, layers: [Bool]) throws {
        net = try NetworkOnBackend(model, on: backend)
        parameters = Optimizer.interleaved(net.weights, net.biases)
        trainable = layers.flatMap { [$0, $0] }
    }

    /// The network a cache holds, for evaluation (nothing is trained).
    init(sharing net: NetworkOnBackend) throws {
        self.net = net
        parameters = Optimizer.interleaved(net.weights, net.biases)
        trainable = parameters.map { _ in false }
    }

    func trainingPass(_ x: Tensor, rows: Int, step: Int) throws -> TrainingPass {
        let pass = try net.forward(x, rows: rows)
        return TrainingPass(output: pass.output) { [net] grad in
            let g = try net.backward(pass, outputGrad: grad)
            return Optimizer.interleaved(g.weights, g.biases).map { $0 }
        }
    }

    func outputs(_ x: Tensor, rows: Int) throws -> Tensor { try net.forward(x, rows: rows).output }
    func export() throws -> MLPModel { try net.export() }
    static func checkpointed(_ model: MLPModel) -> CheckpointModel { .mlp(model) }

    func restored(_ model: CheckpointModel) -> MLPModel? {
        guard case .mlp(let m) = model, m.layers.map({ [$0.inputs, $0.outputs] }) == net.layers.map({ [$0.inputs, $0.outputs] }) else {
            return nil
        }
        return m
    }

    static func checkFinite(_ model: MLPModel, epoch: Int, learningRate: Double?, gradientClip: Double?) throws {
        for (i, layer) in model.layers.enumerated() {
            for (values, name) in [(layer.weights, "weights"), (layer.bias, "biases")] {
                guard let bad = values.firstIndex(where: { !$0.isFinite }) else { continue }
                throw TrainingError.diverged(
                    epoch: epoch, what: "layer \(i + 1)'s \(name) hold \(values[bad]) (element \(bad + 1))",
                    learningRate: learningRate, gradientClip: gradientClip)
            }
        }
    }
}

/// A graph model as the training loop sees it: the forward pass recorded on a tape, every
/// parameter's gradient from the tape's rules, dropout's masks drawn from (seed, step, node).
final class GraphTraining: TrainableNetwork {
    let runner: GraphRunner
    let trainable: [Bool]
    let seed: UInt64
    private let frozen: Set<String>
    var backend: Backend { runner.backend }
    var parameters: [Tensor] { runner.parameters }
    let outputCount: Int

    init(_ model: GraphModel, on backend: Backend, frozen: Set<String>, seed: UInt64) throws {
        runner = try GraphRunner(model, on: backend)
        self.frozen = frozen
        self.seed = seed
        trainable = model.parameters.map { $0.trainable && !frozen.contains($0.layer) }
        outputCount = try GraphTraining.outputWidth(model)
    }

    func trainingPass(_ x: Tensor, rows: Int, step: Int) throws -> TrainingPass {
        let tape = Tape(backend: backend)
        let frozen = self.frozen
        let pass = try runner.forwardWithStatistics(
            x, on: tape, training: true, seed: seed, step: step, trainable: { $0.trainable && !frozen.contains($0.layer) })
        let runner = self.runner, model = runner.model
        return TrainingPass(output: tape.tensor(pass.output)) { grad in
            let grads = try tape.gradients(of: pass.output, seed: grad)
            // A frozen layer's running statistics stay as they were (its batch norm is fixed).
            try runner.updateRunning(pass.statistics.filter { !frozen.contains(model.parameters[$0.parameter].layer) }, on: tape)
            return pass.parameters.map { grads[$0] }
        }
    }

    func outputs(_ x: Tensor, rows: Int) throws -> Tensor { try runner.predict(x) }
    func export() throws -> GraphModel { try runner.export() }
    static func checkpointed(_ model: GraphModel) -> CheckpointModel { .graph(model) }

    /// The same graph (ops, wiring, parameter names and shapes), whatever the values.
    func restored(_ model: CheckpointModel) -> GraphModel? {
        guard case .graph(let g) = model, g.with(values: runner.model.parameters.map(\.values)) == runner.model else { return nil }
        return g
    }

    /// Outputs per row of a model whose output is [rows, k], as losses and predictions take it,
    /// or per position of a language model's [rows, positions, tokens]; another rank is
    /// refused with the shape it has.
    static func outputWidth(_ model: GraphModel) throws -> Int {
        let shape = try model.outputShape(rows: 1)
        guard shape.count == 2 || (shape.count == 3 && model.isSequenceModel) else {
            throw MLError(
                "the model's output has shape \(shape.dropFirst()) per sample; losses and predictions take one row of values per sample (put nn.flatten{} before the last layer)"
            )
        }
        return shape[shape.count - 1]
    }

    static func checkFinite(_ model: GraphModel, epoch: Int, learningRate: Double?, gradientClip: Double?) throws {
        for p in model.parameters {
            guard let bad = p.values.firstIndex(where: { !$0.isFinite }) else { continue }
            throw TrainingError.diverged(
                epoch: epoch, what: "\(p.name) holds \(p.values[bad]) (element \(bad + 1))",
                learningRate: learningRate, gradientClip: gradientClip)
        }
    }
}
