/// The graph core's one entry point on every backend. A backend that has its own kernel for an
/// op says so in `supports(_:)`; for the others, `runOnHost` brings the inputs to the host,
/// runs the CPU reference and puts the outputs back (on a host backend that is the same
/// memory; on a device it is a round trip, which `supports` lets a caller see and avoid).
extension Backend {
    public func supports(_ op: Op) -> Bool { false }

    public func run(_ op: Op, _ inputs: [Tensor]) throws -> [Tensor] { try runOnHost(op, inputs) }

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
