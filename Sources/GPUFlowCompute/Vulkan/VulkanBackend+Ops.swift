/// The graph core's ops as Vulkan kernels (Shaders/unary.comp, binary.comp, strided_copy.comp,
/// reduce_axis.comp, softmax_axis.comp, layer_norm.comp, ...), recorded into the backend's one
/// sequence like every other kernel, so a training step's forward, loss and backward still go
/// to the device in one submission. Strided kernels take ranks up to 6; a larger rank runs
/// through the CPU reference (`runOnHost`), as `supports(op, shapes:)` says.
extension VulkanBackend {
    static let maxRank = 6

    public func supports(_ op: Op) -> Bool { true }

    /// Whether these input shapes run on the device (ranks above 6 do not).
    public func supports(_ op: Op, shapes: [[Int]]) -> Bool {
        shapes.allSatisfy { $0.count <= Self.maxRank } && ((try? op.outputShapes(shapes))?.allSatisfy { $0.count <= Self.maxRank } ?? false)
    }

    public func run(_ op: Op, _ inputs: [Tensor]) throws -> [Tensor] {
        let shapes = try op.outputShapes(inputs.map(\.shape))
        guard supports(op, shapes: inputs.map(\.shape)) else { return try runOnHost(op, inputs) }
        let x = inputs[0]
        switch op {
        case .biasActivation, .biasActivationGrad:
            return try runDense(op, inputs)
        case .unary(let fn):
            let y = try zeros(shape: shapes[0])
            try dispatch(.unary, [x, y], [u(x.count), unaryCode(fn), f(unaryConstant(fn))], count: x.count)
            return [y]
        case .unaryGrad(let fn):
            let dx = try zeros(shape: shapes[0])
            try dispatch(.unaryGrad, [x, inputs[1], dx], [u(x.count), unaryCode(fn), f(unaryConstant(fn))], count: x.count)
            return [dx]
        case .binary(let fn):
            let out = shapes[0], c = try zeros(shape: out)
            let sa = Shapes.broadcastStrides(x.shape, to: out), sb = Shapes.broadcastStrides(inputs[1].shape, to: out)
            try dispatch(
                .binary, [x, inputs[1], c], [u(c.count), binaryCode(fn), u(out.count)] + padded(out) + padded(sa) + padded(sb),
                count: c.count)
            return [c]
        case .reduce(let r, let axis):
            let a = try Shapes.axis(axis, rank: x.shape.count, op.name)
            return [try reduceAxis(x, axis: a, kind: reduceCode(r), out: shapes[0])]
        case .broadcast(let target):
            let y = try zeros(shape: target)
            try stridedCopy(x, into: y, dims: target, src: Shapes.broadcastStrides(x.shape, to: target), dst: Shapes.strides(target))
            return [y]
        case .sumTo(let target):
            // Sum every stretched axis in turn (leading axes first), then take the target's shape.
            var cur = x
            let lead = x.shape.count - target.count
            for a in 0..<x.shape.count where (a < lead || target[a - lead] == 1) && x.shape[a] != 1 {
                var s = cur.shape
                s[a] = 1
                cur = try reduceAxis(cur, axis: a, kind: 0, out: s)
            }
            return [cur.view(shape: target)]
        case .matmul(let ta, let tb):
            let out = shapes[0], b = inputs[1]
            let m = out[out.count - 2], n = out[out.count - 1]
            let k = ta ? x.shape[x.shape.count - 2] : x.shape[x.shape.count - 1]
            let batch = Shapes.count(Array(out.dropLast(2)))
            let c = try zeros(shape: out)
            if batch == 1 {
                try gemm(x, b, c, m: m, n: n, k: k, transA: ta, transB: tb, alpha: 1, beta: 0)
            } else {
                try gemmBatched(
                    x, b, c, batch: batch, m: m, n: n, k: k, strideA: m * k, strideB: b.shape.count == 2 ? 0 : k * n, strideC: m * n,
                    transA: ta, transB: tb, alpha: 1, beta: 0)
            }
            return [c]
        case .reshape:
            return [x.view(shape: shapes[0])]
        case .permute(let perm):
            let y = try zeros(shape: shapes[0])
            let st = Shapes.strides(x.shape)
            try stridedCopy(x, into: y, dims: shapes[0], src: perm.map { st[$0] }, dst: Shapes.strides(shapes[0]))
            return [y]
        case .slice(let axis, let start, _):
            let a = try Shapes.axis(axis, rank: x.shape.count, op.name)
            let y = try zeros(shape: shapes[0])
            let st = Shapes.strides(x.shape)
            try stridedCopy(x, into: y, dims: shapes[0], src: st, dst: Shapes.strides(shapes[0]), srcBase: start * st[a])
            return [y]
        case .unslice(let axis, let start, _):
            let a = try Shapes.axis(axis, rank: x.shape.count, op.name)
            let y = try zeros(shape: shapes[0])
            let st = Shapes.strides(shapes[0])
            try stridedCopy(x, into: y, dims: x.shape, src: Shapes.strides(x.shape), dst: st, dstBase: start * st[a])
            return [y]
        case .concat(let axis):
            let a = try Shapes.axis(axis, rank: x.shape.count, op.name)
            let y = try zeros(shape: shapes[0])
            let st = Shapes.strides(shapes[0])
            var at = 0
            for t in inputs {
                try stridedCopy(t, into: y, dims: t.shape, src: Shapes.strides(t.shape), dst: st, dstBase: at * st[a])
                at += t.shape[a]
            }
            return [y]
        case .softmax(let axis), .logSoftmax(let axis):
            let a = try Shapes.axis(axis, rank: x.shape.count, op.name)
            var log: UInt32 = 0
            if case .logSoftmax = op { log = 1 }
            let (outer, n, inner) = Shapes.around(x.shape, axis: a)
            let y = try zeros(shape: x.shape)
            try dispatchRows(.softmaxAxis, [x, y], [u(n), u(inner), log], rows: outer * inner)
            return [y]
        case .softmaxGrad(let axis, let log):
            let a = try Shapes.axis(axis, rank: x.shape.count, op.name)
            let (outer, n, inner) = Shapes.around(x.shape, axis: a)
            let dx = try zeros(shape: x.shape)
            try dispatchRows(.softmaxGradAxis, [x, inputs[1], dx], [u(n), u(inner), log ? 1 : 0], rows: outer * inner)
            return [dx]
        case .layerNorm(let eps):
            let c = x.shape[x.shape.count - 1]
            let y = try zeros(shape: shapes[0]), mean = try zeros(shape: shapes[1]), rstd = try zeros(shape: shapes[2])
            try dispatchRows(.layerNorm, [x, inputs[1], inputs[2], y, mean, rstd], [u(c), f(eps)], rows: x.count / max(c, 1))
            return [y, mean, rstd]
        case .layerNormGrad:
            let c = x.shape[x.shape.count - 1], rows = x.count / max(c, 1)
            let dx = try zeros(shape: x.shape), p = try zeros(shape: x.shape)
            try dispatchRows(.layerNormGrad, [x, inputs[1], inputs[2], inputs[3], inputs[4], dx, p], [u(c)], rows: rows)
            let dg = try reduceAxis(p.view(shape: [rows, c]), axis: 0, kind: 0, out: [1, c]).view(shape: [c])
            let db = try reduceAxis(inputs[4].view(shape: [rows, c]), axis: 0, kind: 0, out: [1, c]).view(shape: [c])
            return [dx, dg, db]
        case .dropout(let p, let seed, let offset):
            let y = try zeros(shape: x.shape), mask = try zeros(shape: x.shape)
            try dispatch(
                .dropout, [x, y, mask],
                [
                    u(x.count), f(p), UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32),
                    UInt32(truncatingIfNeeded: offset), UInt32(truncatingIfNeeded: offset >> 32),
                ], count: x.count)
            return [y, mask]
        case .gather:
            let d = x.shape[1]
            try checkIndices(inputs[1], rows: x.shape[0], op.name)
            let y = try zeros(shape: shapes[0])
            try dispatch(.gatherRows, [x, inputs[1], y], [u(y.count), u(d)], count: y.count)
            return [y]
        case .conv2d, .conv2dGradInput, .conv2dGradWeight:
            return try convolve(op, inputs)
        case .scatterAdd(let rows):
            let d = x.shape[x.shape.count - 1]
            try checkIndices(inputs[1], rows: rows, op.name)
            try loop(inputs[1].count, op.name, "indices")
            let y = try zeros(shape: shapes[0])
            try dispatch(.scatterAddRows, [x, inputs[1], y], [u(y.count), u(d), u(inputs[1].count)], count: y.count)
            return [y]
        }
    }

    // MARK: dispatch helpers

    func dispatch(_ spec: KernelSpec, _ tensors: [Tensor], _ push: [UInt32], count: Int) throws {
        guard count > 0 else { return }
        try run(spec, try tensors.map { try buffer($0, spec.name) }, push, groups(count, spec.name))
    }

    /// One workgroup per row, spread over x and y (each at most 65,535).
    private func dispatchRows(_ spec: KernelSpec, _ tensors: [Tensor], _ push: [UInt32], rows: Int) throws {
        guard rows > 0 else { return }
        let gx = min(rows, 65_535), gy = (rows + gx - 1) / gx
        guard gy <= 65_535 else { throw BackendError(.unsupported, "\(spec.name): \(rows) rows need more than 65,535² workgroups") }
        try run(spec, try tensors.map { try buffer($0, spec.name) }, push + [u(gx), u(rows)], (u(gx), u(gy), 1))
    }

    func reduceAxis(_ x: Tensor, axis: Int, kind: UInt32, out: [Int]) throws -> Tensor {
        let (outer, n, inner) = Shapes.around(x.shape, axis: axis)
        let y = try zeros(shape: out)
        let outputs = outer * inner
        guard outputs > 0 else { return y }
        // A short axis: one invocation per output looping over it (reduce_axis_serial.comp);
        // a workgroup per output cost lavapipe 36 µs each, however little it summed.
        if n <= 64 {
            try dispatch(.reduceAxisSerial, [x, y], [u(n), u(inner), kind, u(outputs)], count: outputs)
            return y
        }
        let gx = min(outputs, 65_535), gy = (outputs + gx - 1) / gx
        try run(
            .reduceAxis, [try buffer(x, "reduce"), try buffer(y, "reduce")], [u(n), u(inner), kind, u(gx), u(outputs)], (u(gx), u(gy), 1))
        return y
    }

    private func stridedCopy(_ x: Tensor, into y: Tensor, dims: [Int], src: [Int], dst: [Int], srcBase: Int = 0, dstBase: Int = 0) throws {
        let count = Shapes.count(dims)
        try dispatch(
            .stridedCopy, [x, y], [u(count), u(dims.count), u(srcBase), u(dstBase)] + padded(dims) + padded(src) + padded(dst), count: count
        )
    }

    /// An array padded to the kernels' six axes (unused axes: size 1, stride 0).
    private func padded(_ v: [Int]) -> [UInt32] { v.map(u) + [UInt32](repeating: 0, count: Self.maxRank - v.count) }

    /// On the mapped path indices are checked on the host, as the reference does; on the staged
    /// path an index outside the table reads or writes nothing it should (documented).
    private func checkIndices(_ idx: Tensor, rows: Int, _ op: String) throws {
        guard let host = try buffer(idx, op).mapped else { return }
        if sequence.isPending(try buffer(idx, op)) { try sequence.flush() }
        let v = UnsafeBufferPointer(start: host.assumingMemoryBound(to: Float.self), count: idx.count)
        for (i, x) in v.enumerated() { _ = try ReferenceOps.index(x, rows: rows, position: i, op) }
    }

    private func unaryCode(_ f: UnaryOp) -> UInt32 {
        switch f {
        case .neg: return 0
        case .exp: return 1
        case .log: return 2
        case .sqrt: return 3
        case .abs: return 4
        case .square: return 5
        case .reciprocal: return 6
        case .relu: return 7
        case .gelu: return 8
        case .geluTanh: return 9
        case .silu: return 10
        case .sigmoid: return 11
        case .tanh: return 12
        case .leakyRelu: return 13
        case .scale: return 14
        case .add: return 15
        }
    }

    private func unaryConstant(_ f: UnaryOp) -> Float {
        switch f {
        case .leakyRelu(let s): return s
        case .scale(let a), .add(let a): return a
        default: return 0
        }
    }

    private func binaryCode(_ f: BinaryOp) -> UInt32 { UInt32(BinaryOp.allCases.firstIndex(of: f) ?? 0) }

    private func reduceCode(_ r: ReduceOp) -> UInt32 { UInt32(ReduceOp.allCases.firstIndex(of: r) ?? 0) }
}
