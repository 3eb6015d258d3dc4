import GPUFlowCompute
import GPUFlowCore

/// A `GraphModel`'s parameters living on one backend, and its forward pass recorded on a tape
/// (training) or run straight through (inference). Gradients come from the tape's rules, so
/// every op the graph uses trains on every backend.
public final class GraphRunner {
    public let model: GraphModel
    public let backend: Backend
    public private(set) var parameters: [Tensor]

    public init(_ model: GraphModel, on backend: Backend) throws {
        self.model = model
        self.backend = backend
        parameters = try model.parameters.map { try backend.tensor($0.values, shape: $0.shape) }
        _ = try model.outputShape(rows: 1)
    }

    /// One forward pass of `x` ([rows] + inputShape) on `tape`. `training` keeps dropout,
    /// whose masks come from Philox(seed) at `step`; at inference dropout passes its input on.
    /// Returns the output and the tape values of the parameters (for their gradients).
    public func forward(
        _ x: Tensor, on tape: Tape, training: Bool, seed: UInt64 = 0, step: Int = 0,
        trainable: (GraphModel.Parameter) -> Bool = { _ in true }
    ) throws -> (output: Tape.Value, parameters: [Tape.Value]) {
        let input = tape.leaf(x)
        let params = zip(model.parameters, parameters).map { p, t in tape.leaf(t, gradient: training && p.trainable && trainable(p)) }
        let index = Dictionary(model.parameters.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        var outputs: [[Tape.Value]] = []
        func value(_ s: GraphModel.Source) throws -> Tape.Value {
            switch s {
            case .input: return input
            case .parameter(let name):
                guard let i = index[name] else { throw DataError("model graph: no parameter '\(name)'") }
                return params[i]
            case .node(let n, let o): return outputs[n][o]
            }
        }
        for (i, node) in model.nodes.enumerated() {
            var op = node.op
            if node.trainingOnly && !training {
                outputs.append([try value(node.inputs[0])])
                continue
            }
            if case .dropout(let p, _, _) = op {
                // A stream per step and node: Philox blocks are counted from (step, node).
                op = .dropout(p: p, seed: seed ^ 0x6472_6f70_6f75_7400, offset: (UInt64(step) << 20) &+ (UInt64(i) << 40))
            }
            do {
                outputs.append(try tape.apply(op, try node.inputs.map(value)))
            } catch let e as BackendError {
                throw DataError("layer \(node.layer) (\(op.name)): \(e.message)")
            }
        }
        return (try value(model.output), params)
    }

    /// The outputs for `x`, with dropout off.
    public func predict(_ x: Tensor) throws -> Tensor {
        let tape = Tape(backend: backend)
        return tape.tensor(try forward(x, on: tape, training: false).output)
    }

    /// The trained model: the same graph with the parameters' current values.
    public func export() throws -> GraphModel { model.with(values: try backend.read(parameters)) }
}
