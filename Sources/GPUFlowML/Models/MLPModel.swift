import GPUFlowCompute
import GPUFlowCore

/// A multi-layer perceptron's architecture and weights, as an immutable value on the host.
/// Training returns a new model; the old one is unchanged, so a task that reads it never races
/// with one that trains it.
public final class MLPModel: TaskObject, @unchecked Sendable {
    public struct Layer: Sendable, Equatable {
        public let inputs: Int
        public let outputs: Int
        /// inputs × outputs, row-major (y = x·W + b).
        public let weights: [Float]
        public let bias: [Float]
        public let activation: Activation
    }

    public let kind = "model"
    /// A hash of the architecture and weights, computed when first asked for: a training
    /// exports its model after every epoch (for its checkpoint), and hashing each export was a
    /// measurable share of a short epoch.
    public var objectID: String {
        id.get {
            var parts: [Float] = []
            for l in layers { parts += [Float(l.inputs), Float(l.outputs), Float(Activation.allCases.firstIndex(of: l.activation) ?? 0)] }
            return "mlp-" + String(Fingerprint.hex(parts, layers.flatMap(\.weights), layers.flatMap(\.bias)).prefix(12))
        }
    }
    private let id = OnceCell<String>()
    public let layers: [Layer]
    /// What the model was trained on (columns, scalings, classes), when it was trained: saved
    /// in its file, outside the weights' hash, so the id names the weights alone.
    public let schema: ModelSchema?

    public init(layers: [Layer], schema: ModelSchema? = nil) {
        self.layers = layers
        self.schema = schema
    }

    /// The same weights with `schema`.
    public func with(schema: ModelSchema?) -> MLPModel { MLPModel(layers: layers, schema: schema) }

    /// A new network: hidden layers use `activation`, the output layer is linear (logits).
    /// Weights are He-normal for ReLU/GELU and Xavier-normal otherwise, drawn from Philox(seed).
    public convenience init(inputs: Int, hidden: [Int], outputs: Int, activation: Activation, seed: UInt64) {
        var rng = Philox(seed: seed)
        let dims = [inputs] + hidden + [outputs]
        var layers: [Layer] = []
        for i in 0..<(dims.count - 1) {
            let (fanIn, fanOut) = (dims[i], dims[i + 1])
            let isOutput = i == dims.count - 2
            let std: Float =
                (activation == .relu || activation == .gelu) && !isOutput
                ? (2 / Float(fanIn)).squareRoot() : (2 / Float(fanIn + fanOut)).squareRoot()
            let w = (0..<(fanIn * fanOut)).map { _ in rng.normal() * std }
            layers.append(
                Layer(
                    inputs: fanIn, outputs: fanOut, weights: w, bias: [Float](repeating: 0, count: fanOut),
                    activation: isOutput ? .identity : activation))
        }
        self.init(layers: layers)
    }

    public var inputs: Int { layers.first?.inputs ?? 0 }
    public var outputs: Int { layers.last?.outputs ?? 0 }
    public var hidden: [Int] { layers.dropLast().map(\.outputs) }
    public var parameterCount: Int { layers.reduce(0) { $0 + $1.weights.count + $1.bias.count } }

    /// Bytes of tensors one forward pass of `batch` rows allocates on a backend: weights, the
    /// input, pre- and post-activation of each layer, and the argmax row. Exact for our
    /// backends' float buffers; excludes allocator overhead.
    public func forwardTensorBytes(batch: Int) -> Int {
        4 * (parameterCount + batch * inputs + layers.reduce(0) { $0 + 2 * batch * $1.outputs } + batch)
    }
}
