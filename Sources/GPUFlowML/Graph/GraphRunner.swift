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
    /// A batch statistic computed in a training pass, for its running average.
    public struct Statistic {
        let parameter: Int
        let value: Tape.Value
        let rule: GraphModel.RunningStatistic
        /// Values per channel it was computed over.
        let count: Int
    }

    public func forward(
        _ x: Tensor, on tape: Tape, training: Bool, seed: UInt64 = 0, step: Int = 0,
        trainable: (GraphModel.Parameter) -> Bool = { _ in true }
    ) throws -> (output: Tape.Value, parameters: [Tape.Value]) {
        let r = try forwardWithStatistics(x, on: tape, training: training, seed: seed, step: step, trainable: trainable)
        return (r.output, r.parameters)
    }

    /// `forward`, with the batch statistics whose running averages a training step updates.
    public func forwardWithStatistics(
        _ x: Tensor, on tape: Tape, training: Bool, seed: UInt64 = 0, step: Int = 0,
        trainable: (GraphModel.Parameter) -> Bool = { _ in true }
    ) throws -> (output: Tape.Value, parameters: [Tape.Value], statistics: [Statistic]) {
        var statistics: [Statistic] = []
        let input = tape.leaf(x)
        let params = zip(model.parameters, parameters).map { p, t in tape.leaf(t, gradient: training && p.trainable && trainable(p)) }
        let index = Dictionary(model.parameters.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        var outputs: [[Tape.Value]] = []
        func value(_ s: GraphModel.Source) throws -> Tape.Value {
            switch s {
            case .input: return input
            case .parameter(let name):
                guard let i = index[name] else { throw MLError("model graph: no parameter '\(name)'", kind: .script) }
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
            if let r = node.running, let p = index[r.parameter] {
                if !training {  // at inference the statistic is its running average
                    outputs.append([params[p]])
                    continue
                }
                let out = try tape.apply(op, try node.inputs.map(value))
                // The values per channel: the statistic is a mean along axis 1 of [C, n].
                var count = 1
                if case .node(let reduced, _) = node.inputs[0], case .node(let rows, _)? = model.nodes[reduced].inputs.first {
                    count = tape.shape(outputs[rows][0]).last ?? 1
                }
                statistics.append(Statistic(parameter: p, value: out[0], rule: r, count: count))
                outputs.append(out)
                continue
            }
            if case .dropout(let p, _, _) = op {
                // A stream per step and node: Philox blocks are counted from (step, node).
                op = .dropout(p: p, seed: seed ^ 0x6472_6f70_6f75_7400, offset: (UInt64(step) << 20) &+ (UInt64(i) << 40))
            }
            do {
                outputs.append(try tape.apply(op, try node.inputs.map(value)))
            } catch let e as BackendError {
                throw MLError("layer \(node.layer) (\(op.name)): \(e.message)")
            }
        }
        return (try value(model.output), params, statistics)
    }

    /// running ← (1 − m) · running + m · statistic (· n/(n − 1) for a variance), on the backend,
    /// so a device step stays one submission.
    public func updateRunning(_ statistics: [Statistic], on tape: Tape) throws {
        for s in statistics {
            let m = s.rule.momentum
            let f: Float = s.rule.unbiased && s.count > 1 ? Float(s.count) / Float(s.count - 1) : 1
            let old = try backend.run(.unary(.scale(1 - m)), [parameters[s.parameter]])[0]
            let new = try backend.run(.unary(.scale(m * f)), [tape.tensor(s.value)])[0]
            parameters[s.parameter] = try backend.run(.binary(.add), [old, new])[0]
        }
    }

    /// The outputs for `x`, with dropout off.
    public func predict(_ x: Tensor) throws -> Tensor {
        let tape = Tape(backend: backend)
        return tape.tensor(try forward(x, on: tape, training: false).output)
    }

    /// The trained model: the same graph with the parameters' current values.
    public func export() throws -> GraphModel { model.with(values: try backend.read(parameters)) }
}
