import GPUFlowCompute
import GPUFlowCore

/// Parameter updates for the gradient algorithms (SGD with momentum, Adam/AdamW, RMSprop);
/// their state (velocity, moments, square averages) lives on the backend beside the parameters.
final class Optimizer {
    private let algorithm: TrainingAlgorithm
    private var state1: [Tensor] = []
    private var state2: [Tensor] = []
    private var step = 0
    /// Per parameter: false leaves it exactly as it was.
    private let trainable: [Bool]
    /// The schedule's factor for the current epoch (and warm-up's for the current step).
    var rateFactor: Float = 1
    var steps: Int { step }

    /// The state tensors, read back for a checkpoint.
    func state(backend: Backend) throws -> [[Float]] { try backend.read(state1 + state2) }

    func restore(_ values: [[Float]], step: Int, backend: Backend) throws {
        let tensors = state1 + state2
        guard values.count == tensors.count, zip(values, tensors).allSatisfy({ $0.count == $1.count }) else {
            throw MLError("checkpoint: optimizer state does not fit this network and algorithm")
        }
        for (t, v) in zip(tensors, values) { try backend.write(t, v) }
        self.step = step
    }

    init(_ algorithm: TrainingAlgorithm, parameters: [Tensor], trainable: [Bool], backend: Backend) throws {
        self.algorithm = algorithm
        self.trainable = trainable
        for t in parameters {
            state1.append(try backend.zeros(shape: t.shape))
            switch algorithm {
            case .adam, .rmsprop: state2.append(try backend.zeros(shape: t.shape))
            default: break
            }
        }
    }

    /// One update of every trainable parameter that has a gradient.
    func step(parameters: [Tensor], gradients: [Tensor?], backend: Backend) throws {
        precondition(gradients.count == parameters.count, "a gradient slot per parameter")
        step += 1
        for (i, p) in parameters.enumerated() where trainable[i] {
            guard let g = gradients[i] else { continue }
            switch algorithm {
            case .backpropagation(let b):
                try backend.sgdMomentum(
                    param: p, grad: g, velocity: state1[i], learningRate: Float(b.learningRate) * rateFactor,
                    momentum: Float(b.momentum), weightDecay: Float(b.weightDecay ?? 0), nesterov: b.nesterov ?? false)
            case .adam(let a):
                try backend.adam(
                    param: p, grad: g, m: state1[i], v: state2[i], step: step,
                    learningRate: Float(a.learningRate) * rateFactor, beta1: Float(a.beta1), beta2: Float(a.beta2),
                    epsilon: Float(a.epsilon), weightDecay: Float(a.weightDecay))
            case .rmsprop(let r):
                try backend.rmsprop(
                    param: p, grad: g, square: state1[i], buffer: state2[i], learningRate: Float(r.learningRate) * rateFactor,
                    alpha: Float(r.alpha), epsilon: Float(r.epsilon), weightDecay: Float(r.weightDecay),
                    momentum: Float(r.momentum))
            default:
                throw MLError("training algorithm '\(algorithm.name)' has no gradient update")
            }
        }
    }
}

extension Optimizer {
    /// For an MLP on the backend (the reinforcement trainer's networks), per layer trainable.
    convenience init(_ algorithm: TrainingAlgorithm, net: NetworkOnBackend, trainable layers: [Bool]) throws {
        try self.init(
            algorithm, parameters: Self.interleaved(net.weights, net.biases), trainable: layers.flatMap { [$0, $0] },
            backend: net.backend)
    }

    func step(net: NetworkOnBackend, grads: (weights: [Tensor], biases: [Tensor])) throws {
        try step(
            parameters: Self.interleaved(net.weights, net.biases), gradients: Self.interleaved(grads.weights, grads.biases).map { $0 },
            backend: net.backend)
    }

    /// Weight, then bias, layer by layer: the order of a graph's parameters and of a checkpoint's.
    static func interleaved(_ weights: [Tensor], _ biases: [Tensor]) -> [Tensor] { zip(weights, biases).flatMap { [$0, $1] } }
}
