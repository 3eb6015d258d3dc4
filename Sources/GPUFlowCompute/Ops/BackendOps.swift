/// The graph core's one entry point on every backend. A backend that has its own kernel for an
/// op says so in `supports(_:)`; for the others, `runOnHost` brings the inputs to the host,
/// runs the CPU reference and puts the outputs back (on a host backend that is the same
/// memory; on a device it is a round trip, which `supports` lets a caller see and avoid).
extension Backend {
    public func supports(_ op: Op) -> Bool { op.isDenseKernel }

    public func run(_ op: Op, _ inputs: [Tensor]) throws -> [Tensor] {
        if op.convolution != nil { return try convolve(op, inputs) }
        return op.isDenseKernel ? try runDense(op, inputs) : try runOnHost(op, inputs)
    }

    /// The fused dense-layer ops through this backend's own kernels (`biasActivation`,
    /// `addBias`, `activationBackward`, `columnSum`), which every backend has: a graph MLP runs
    /// exactly the kernels, in the order, of today's dense layers. The input is copied first,
    /// since the kernels overwrite it and a graph's values stay what they were.
    public func runDense(_ op: Op, _ inputs: [Tensor]) throws -> [Tensor] {
        let shapes = try op.outputShapes(inputs.map(\.shape))
        let x = inputs[0]
        let cols = x.shape.last ?? 1, rows = cols == 0 ? 0 : x.count / cols
        switch op {
        case .biasActivation(let f):
            let pre = try zeros(shape: x.shape)
            try copy(x, into: pre)
            if f == .identity {
                try addBias(pre, inputs[1], rows: rows, cols: cols)
                return [pre, pre]
            }
            let y = try zeros(shape: x.shape)
            try biasActivation(f, pre, inputs[1], y, rows: rows, cols: cols)
            return [y, pre]
        case .biasActivationGrad(let f):
            var dx = inputs[1]
            if f != .identity {
                dx = try zeros(shape: x.shape)
                try activationBackward(f, x, inputs[1], dx)
            }
            let db = try zeros(shape: shapes[1])
            try columnSum(dx, rows: rows, cols: cols, db)
            return [dx, db]
        default:
            return try runOnHost(op, inputs)
        }
    }

    /// The CPU reference on this backend's tensors.
    public func runOnHost(_ op: Op, _ inputs: [Tensor]) throws -> [Tensor] {
        let shapes = try op.outputShapes(inputs.map(\.shape))
        if case .reshape = op, let x = inputs.first { return [x.view(shape: shapes[0])] }
        let values = try read(inputs)
        let out = try ReferenceOps.run(op, zip(values, inputs).map { HostArray($0, $1.shape) })
        return try zip(out, shapes).map { try tensor($0, shape: $1) }
    }
}

extension Tensor {
    /// The same elements under another shape of the same count: no copy, on any backend.
    public func view(shape: [Int]) -> Tensor {
        Tensor(shape: shape, storage: storage, backendName: backendName, dtype: dtype, offset: offset)
    }
}
