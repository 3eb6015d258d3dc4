import GPUFlowCompute

/// Reverse-mode automatic differentiation over the graph core's ops: every op applied through
/// the tape is recorded with its inputs and outputs, and `gradients` walks the records
/// backwards, running one rule per op (`GradientRules`) on the same backend. Nothing is read
/// back to the host on the way, so a device backend records the whole step — forward, loss,
/// backward — before its one submission.
public final class Tape {
    public let backend: Backend
    /// A value on the tape: a leaf (an input or a parameter) or an op's output.
    public struct Value: Hashable, Sendable {
        public let id: Int
    }

    struct Record {
        let op: Op
        let inputs: [Value]
        let outputs: [Value]
    }

    private(set) var tensors: [Tensor] = []
    private var wantsGradient: [Bool] = []
    private var leaves: Set<Int> = []
    private(set) var records: [Record] = []

    public init(backend: Backend) { self.backend = backend }

    public func tensor(_ v: Value) -> Tensor { tensors[v.id] }
    public func shape(_ v: Value) -> [Int] { tensors[v.id].shape }

    /// A tensor entering the tape; `gradient`: whether `gradients` should return its gradient.
    public func leaf(_ t: Tensor, gradient: Bool = false) -> Value {
        tensors.append(t)
        wantsGradient.append(gradient)
        leaves.insert(tensors.count - 1)
        return Value(id: tensors.count - 1)
    }

    /// Runs `op` on the backend and records it (when any input needs a gradient).
    @discardableResult
    public func apply(_ op: Op, _ inputs: [Value]) throws -> [Value] {
        let out = try backend.run(op, inputs.map { tensors[$0.id] })
        let needs = inputs.contains { wantsGradient[$0.id] } && GradientRules.differentiable(op)
        let values = out.map { t -> Value in
            tensors.append(t)
            wantsGradient.append(needs)
            return Value(id: tensors.count - 1)
        }
        if needs { records.append(Record(op: op, inputs: inputs, outputs: values)) }
        return values
    }

    /// The one-output form of `apply`.
    public func callAsFunction(_ op: Op, _ inputs: Value...) throws -> Value { try apply(op, inputs)[0] }

    /// Gradients of `output` (seeded with `seed`, ones by default) for every leaf made with
    /// `gradient: true` that `output` depends on.
    public func gradients(of output: Value, seed: Tensor? = nil) throws -> [Value: Tensor] {
        var grads: [Int: Tensor] = [:]
        grads[output.id] = try seed ?? backend.filled(1, shape: shape(output))
        for r in records.reversed() {
            let dOut = r.outputs.map { grads[$0.id] }
            guard dOut.contains(where: { $0 != nil }) else { continue }
            let dIn = try GradientRules.gradients(
                r.op, inputs: r.inputs.map { tensors[$0.id] }, outputs: r.outputs.map { tensors[$0.id] },
                outputGradients: dOut, needed: r.inputs.map { wantsGradient[$0.id] }, backend: backend)
            for (v, g) in zip(r.inputs, dIn) {
                guard let g, wantsGradient[v.id] else { continue }
                if let have = grads[v.id] {
                    grads[v.id] = try backend.run(.binary(.add), [have, g])[0]
                } else {
                    grads[v.id] = g
                }
            }
        }
        var out: [Value: Tensor] = [:]
        for (id, g) in grads where wantsGradient[id] && leaves.contains(id) {
            out[Value(id: id)] = g
        }
        return out
    }
}
