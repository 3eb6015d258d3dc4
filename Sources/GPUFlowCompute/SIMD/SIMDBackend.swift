import COpenBLAS
import Foundation

/// The fast CPU backend: GEMM through OpenBLAS (cblas_sgemm), elementwise kernels over SIMD8
/// vectors with scalar tails. Tensors are host arrays, as on the CPU reference, whose results
/// it must match (KernelParity).
public final class SIMDBackend: Backend, @unchecked Sendable {
    public let name = "simd"
    public var deviceDescription: String {
        "host CPU (\(ProcessInfo.processInfo.activeProcessorCount) cores), OpenBLAS (\(Self.blasThreading)) + SIMD8"
    }

    /// Which OpenBLAS build the process loaded (Package.swift prefers the OpenMP one).
    static var blasThreading: String {
        switch openblas_get_parallel() {
        case 0: return "sequential"
        case 1: return "pthreads"
        case 2: return "OpenMP"
        default: return "unknown threading"
        }
    }
    private let host = HostTensors(backend: "simd")
    public var tensorBytesPeak: Int? { host.meter.peakBytes }
    public var tensorMeter: TensorMeter? { host.meter }

    public init() {}

    public var deviceIdentity: String { "host" }
    public var driverDescription: String? { nil }
    public func sibling() throws -> Backend { SIMDBackend() }

    /// OpenBLAS runs matmul, SIMDGraphOps the activations, elementwise arithmetic, softmax and
    /// layer norm, SIMDConvolution the convolutions; the other graph ops are declined, and run
    /// as the CPU reference on the same host arrays (no copy: a host tensor's read is its array).
    public func supports(_ op: Op) -> Bool {
        if case .matmul = op { return true }
        return op.isDenseKernel || Self.hasOwnLoop(op) || op.convolution != nil
    }

    public func run(_ op: Op, _ inputs: [Tensor]) throws -> [Tensor] {
        if op.isDenseKernel { return try runDense(op, inputs) }
        if op.convolution != nil { return try convolve(op, inputs) }
        guard case .matmul(let ta, let tb) = op else {
            if Self.hasOwnLoop(op) {
                let shapes = try op.outputShapes(inputs.map(\.shape))
                if let out = try runOwnLoop(op, inputs, shapes: shapes) { return out }
            }
            return try runOnHost(op, inputs)
        }
        let shape = try op.outputShapes(inputs.map(\.shape))[0]
        let a = inputs[0], b = inputs[1]
        let m = shape[shape.count - 2], n = shape[shape.count - 1]
        let k = ta ? a.shape[a.shape.count - 2] : a.shape[a.shape.count - 1]
        let batch = shape.dropLast(2).reduce(1, *)
        let c = try zeros(shape: shape)
        if batch == 1 {
            try gemm(a, b, c, m: m, n: n, k: k, transA: ta, transB: tb, alpha: 1, beta: 0)
        } else {
            try gemmBatched(
                a, b, c, batch: batch, m: m, n: n, k: k, strideA: m * k, strideB: b.shape.count == 2 ? 0 : k * n, strideC: m * n,
                transA: ta, transB: tb, alpha: 1, beta: 0)
        }
        return [c]
    }

    private func storage(_ t: Tensor, _ op: String) throws -> HostTensors.Storage { try host.storage(t, op) }

    private func expect(_ t: Tensor, _ count: Int, _ op: String, _ role: String) throws -> HostTensors.Storage {
        try host.expect(t, count, op, role)
    }

    public func tensor(_ values: [Float], shape: [Int]) throws -> Tensor { try host.tensor(values, shape: shape) }
    public func zeros(shape: [Int]) throws -> Tensor { try filled(0, shape: shape) }
    public func read(_ t: Tensor) throws -> [Float] { try host.storage(t, "read").values }
    public func write(_ t: Tensor, _ values: [Float]) throws { try host.write(t, values) }

    public func gemm(
        _ a: Tensor, _ b: Tensor, _ c: Tensor, m: Int, n: Int, k: Int,
        transA: Bool, transB: Bool, alpha: Float, beta: Float
    ) throws {
        let sa = try expect(a, m * k, "gemm", "A"), sb = try expect(b, k * n, "gemm", "B"), sc = try expect(c, m * n, "gemm", "C")
        if a === c || b === c { throw BackendError(.shapeMismatch, "gemm: C must not alias an operand") }
        sa.values.withUnsafeBufferPointer { pa in
            sb.values.withUnsafeBufferPointer { pb in
                sc.values.withUnsafeMutableBufferPointer { pc in
                    cblas_sgemm(
                        CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                        Int32(m), Int32(n), Int32(k), alpha, pa.baseAddress, Int32(transA ? m : k),
                        pb.baseAddress, Int32(transB ? k : n), beta, pc.baseAddress, Int32(n))
                }
            }
        }
    }

    public func gemmBatched(
        _ a: Tensor, _ b: Tensor, _ c: Tensor, batch: Int, m: Int, n: Int, k: Int,
        strideA: Int, strideB: Int, strideC: Int, transA: Bool, transB: Bool, alpha: Float, beta: Float
    ) throws {
        try BatchedShapes.check(a, b, c, batch: batch, m: m, n: n, k: k, strideA: strideA, strideB: strideB, strideC: strideC)
        let sa = try storage(a, "gemmBatched"), sb = try storage(b, "gemmBatched"), sc = try storage(c, "gemmBatched")
        let av = sa.values, bv = sb.values
        sc.values.withUnsafeMutableBufferPointer { pc in
            av.withUnsafeBufferPointer { pa in
                bv.withUnsafeBufferPointer { pb in
                    for i in 0..<batch {
                        cblas_sgemm(
                            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                            Int32(m), Int32(n), Int32(k), alpha, pa.baseAddress.map { $0 + i * strideA }, Int32(transA ? m : k),
                            pb.baseAddress.map { $0 + i * strideB }, Int32(transB ? k : n), beta,
                            pc.baseAddress.map { $0 + i * strideC }, Int32(n))
                    }
                }
            }
        }
    }

    public func addBias(_ x: Tensor, _ bias: Tensor, rows: Int, cols: Int) throws {
        let sx = try expect(x, rows * cols, "addBias", "x"), sb = try expect(bias, cols, "addBias", "bias")
        let bv = sb.values
        sx.values.withUnsafeMutableBufferPointer { px in
            bv.withUnsafeBufferPointer { pb in
                for r in 0..<rows { Self.axpyLoop(1, pb, UnsafeMutableBufferPointer(rebasing: px[(r * cols)..<((r + 1) * cols)])) }
            }
        }
    }

    /// One pass over each row: the pre-activation stays in x (the backward pass reads it) and
    /// f of it goes to y, so the row is in cache once instead of three times.
    public func biasActivation(_ f: Activation, _ x: Tensor, _ bias: Tensor, _ y: Tensor, rows: Int, cols: Int) throws {
        let sx = try expect(x, rows * cols, "biasActivation", "x"), sb = try expect(bias, cols, "biasActivation", "bias")
        let sy = try expect(y, rows * cols, "biasActivation", "y")
        if sx === sy { throw BackendError(.shapeMismatch, "biasActivation: y must not alias x") }
        let bv = sb.values
        sx.values.withUnsafeMutableBufferPointer { px in
            sy.values.withUnsafeMutableBufferPointer { py in
                bv.withUnsafeBufferPointer { pb in
                    guard let x0 = px.baseAddress, let y0 = py.baseAddress, let b = pb.baseAddress else { return }
                    let vec = cols / 8 * 8
                    for r in 0..<rows {
                        let xr = x0 + r * cols, yr = y0 + r * cols
                        var i = 0
                        while i < vec {
                            let v = Self.load8(xr + i) + Self.load8(b + i)
                            Self.store8(v, xr + i)
                            if f == .relu { Self.store8(v.replacing(with: 0, where: v .< 0), yr + i) }
                            i += 8
                        }
                        while i < cols { xr[i] += b[i]; if f == .relu { yr[i] = max(0, xr[i]) }; i += 1 }
                        if f != .relu { for j in 0..<cols { yr[j] = CPUBackend.apply(f, xr[j]) } }
                    }
                }
            }
        }
    }

    @inline(__always) static func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inline(__always) static func load8(_ p: UnsafeMutablePointer<Float>) -> SIMD8<Float> { load8(UnsafePointer(p)) }

    @inline(__always) static func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
    }

    /// y += alpha · x over SIMD8 lanes, then the tail.
    static func axpyLoop(_ alpha: Float, _ x: UnsafeBufferPointer<Float>, _ y: UnsafeMutableBufferPointer<Float>) {
        guard let xp = x.baseAddress, let yp = y.baseAddress else { return }
        let n = y.count, vec = n / 8 * 8
        var i = 0
        let a = SIMD8<Float>(repeating: alpha)
        while i < vec {
            store8(load8(yp + i) + a * load8(xp + i), yp + i)
            i += 8
        }
        while i < n { yp[i] += alpha * xp[i]; i += 1 }
    }

    /// Writes into y's own array (x may be y): a fresh array per call cost page faults and a
    /// zero fill on every large activation (16× the fused kernel's time at 1,024×128).
    public func activation(_ f: Activation, _ x: Tensor, _ y: Tensor) throws {
        let sx = try storage(x, "activation"), sy = try expect(y, x.count, "activation", "y")
        if sx !== sy {
            sy.values.withUnsafeMutableBufferPointer { py in sx.values.withUnsafeBufferPointer { px in _ = py.update(fromContentsOf: px) } }
        }
        sy.values.withUnsafeMutableBufferPointer { p in
            guard let yp = p.baseAddress else { return }
            let n = p.count
            var i = 0
            if f == .relu {
                let vec = n / 8 * 8
                while i < vec {
                    let v = Self.load8(yp + i)
                    Self.store8(v.replacing(with: 0, where: v .< 0), yp + i)
                    i += 8
                }
            }
            while i < n { yp[i] = CPUBackend.apply(f, yp[i]); i += 1 }
        }
    }

    public func activationBackward(_ f: Activation, _ x: Tensor, _ dy: Tensor, _ dx: Tensor) throws {
        let sx = try storage(x, "activationBackward")
        let sdy = try expect(dy, x.count, "activationBackward", "dy"), sdx = try expect(dx, x.count, "activationBackward", "dx")
        // Into dx's own array; where dx is x or dy, the copies taken here keep the inputs intact
        // (the write copies the shared array first).
        let xs = sx.values, dys = sdy.values
        xs.withUnsafeBufferPointer { px in
            dys.withUnsafeBufferPointer { pd in
                sdx.values.withUnsafeMutableBufferPointer { po in
                    guard let xp = px.baseAddress, let dp = pd.baseAddress, let op = po.baseAddress else { return }
                    let n = px.count
                    var i = 0
                    if f == .relu {
                        let vec = n / 8 * 8
                        while i < vec {
                            let g = Self.load8(dp + i)
                            Self.store8(g.replacing(with: 0, where: Self.load8(xp + i) .<= 0), op + i)
                            i += 8
                        }
                    }
                    while i < n { op[i] = dp[i] * CPUBackend.derivative(f, xp[i]); i += 1 }
                }
            }
        }
    }

    // MSE: the reference's definition, which already streams through memory.
    private let reference = CPUBackend()

    private func viaReference(_ tensors: [Tensor], _ body: ([Tensor]) throws -> Void) throws {
        let copies = try tensors.map { try reference.tensor(try storage($0, "kernel").values, shape: $0.shape) }
        try body(copies)
        for (t, c) in zip(tensors, copies) { try storage(t, "kernel").values = try reference.read(c) }
    }

    /// The reference's arithmetic (max, log of the sum of exponentials, p − one-hot over rows)
    /// in a vector kernel (CVectorKernels): a language model's logits are rows × vocabulary.
    public func softmaxCrossEntropy(_ logits: Tensor, _ labels: Tensor, rows: Int, cols: Int, losses: Tensor, grad: Tensor) throws {
        let sl = try expect(logits, rows * cols, "softmaxCrossEntropy", "logits")
        let sy = try expect(labels, rows, "softmaxCrossEntropy", "labels")
        let sloss = try expect(losses, rows, "softmaxCrossEntropy", "losses")
        let sg = try expect(grad, rows * cols, "softmaxCrossEntropy", "grad")
        let x = sl.values, y = sy.values
        try ClassLabels.check(y, cols: cols)
        guard cols > 0 else { return }
        let (loss, g) = Self.softmaxCrossEntropyRows(x, labels: y, rows: rows, cols: cols)
        sloss.values = loss
        sg.values = g
    }

    public func mse(_ pred: Tensor, _ target: Tensor, rows: Int, cols: Int, losses: Tensor, grad: Tensor) throws {
        try viaReference([pred, target, losses, grad]) { t in
            try reference.mse(t[0], t[1], rows: rows, cols: cols, losses: t[2], grad: t[3])
        }
    }

    public func columnSum(_ x: Tensor, rows: Int, cols: Int, _ out: Tensor) throws {
        let sx = try expect(x, rows * cols, "columnSum", "x"), so = try expect(out, cols, "columnSum", "out")
        var acc = [Float](repeating: 0, count: cols)
        sx.values.withUnsafeBufferPointer { px in
            acc.withUnsafeMutableBufferPointer { pa in
                for r in 0..<rows { Self.axpyLoop(1, UnsafeBufferPointer(rebasing: px[(r * cols)..<((r + 1) * cols)]), pa) }
            }
        }
        so.values = acc
    }

    /// The first index of the largest value of each row, as the reference picks it.
    public func rowArgmax(_ x: Tensor, rows: Int, cols: Int, _ out: Tensor) throws {
        let sx = try expect(x, rows * cols, "rowArgmax", "x"), so = try expect(out, rows, "rowArgmax", "out")
        var result = [Float](repeating: 0, count: rows)
        sx.values.withUnsafeBufferPointer { px in
            for r in 0..<rows {
                let row = r * cols
                var best = 0
                for c in 1..<max(cols, 1) where px[row + c] > px[row + best] { best = c }
                result[r] = Float(best)
            }
        }
        so.values = result
    }

    public func sum(_ x: Tensor) throws -> Float { try storage(x, "sum").values.reduce(0, +) }
    public func sumOfSquares(_ x: Tensor) throws -> Float { try storage(x, "sumOfSquares").values.reduce(0) { $0 + $1 * $1 } }

    public func scale(_ x: Tensor, _ alpha: Float) throws {
        let s = try storage(x, "scale")
        s.values.withUnsafeMutableBufferPointer { p in cblas_sscal(Int32(p.count), alpha, p.baseAddress, 1) }
    }

    public func copy(_ x: Tensor, into y: Tensor) throws {
        let sx = try storage(x, "copy"), sy = try expect(y, x.count, "copy", "y")
        let xv = sx.values
        sy.values.withUnsafeMutableBufferPointer { py in
            xv.withUnsafeBufferPointer { px in cblas_scopy(Int32(px.count), px.baseAddress, 1, py.baseAddress, 1) }
        }
    }

    public func axpy(_ alpha: Float, _ x: Tensor, _ y: Tensor) throws {
        let sx = try storage(x, "axpy"), sy = try expect(y, x.count, "axpy", "y")
        let xv = sx.values
        sy.values.withUnsafeMutableBufferPointer { py in xv.withUnsafeBufferPointer { px in Self.axpyLoop(alpha, px, py) } }
    }

    public func sgdMomentum(
        param: Tensor, grad: Tensor, velocity: Tensor, learningRate: Float, momentum: Float, weightDecay: Float,
        nesterov: Bool
    ) throws {
        let sp = try storage(param, "sgdMomentum")
        let sg = try expect(grad, param.count, "sgdMomentum", "grad"), sv = try expect(velocity, param.count, "sgdMomentum", "velocity")
        let g = sg.values
        sv.values.withUnsafeMutableBufferPointer { v in
            sp.values.withUnsafeMutableBufferPointer { p in
                for i in 0..<p.count {
                    let gi = weightDecay != 0 ? g[i] + weightDecay * p[i] : g[i]
                    v[i] = momentum * v[i] + gi
                    p[i] -= learningRate * (nesterov ? gi + momentum * v[i] : v[i])
                }
            }
        }
    }

    /// The CPU reference's arithmetic on the same host memory: an elementwise update the
    /// compiler vectorizes; the branch on momentum is hoisted out of the loop.
    public func rmsprop(
        param: Tensor, grad: Tensor, square: Tensor, buffer: Tensor, learningRate: Float, alpha: Float, epsilon: Float,
        weightDecay: Float, momentum: Float
    ) throws {
        let sp = try storage(param, "rmsprop"), sg = try expect(grad, param.count, "rmsprop", "grad")
        let ss = try expect(square, param.count, "rmsprop", "square"), sb = try expect(buffer, param.count, "rmsprop", "buffer")
        let g = sg.values
        ss.values.withUnsafeMutableBufferPointer { s in
            sb.values.withUnsafeMutableBufferPointer { b in
                sp.values.withUnsafeMutableBufferPointer { p in
                    for i in 0..<p.count {
                        let gi = weightDecay != 0 ? g[i] + weightDecay * p[i] : g[i]
                        s[i] = alpha * s[i] + (1 - alpha) * gi * gi
                        let u = gi / (s[i].squareRoot() + epsilon)
                        if momentum > 0 {
                            b[i] = momentum * b[i] + u
                            p[i] -= learningRate * b[i]
                        } else {
                            p[i] -= learningRate * u
                        }
                    }
                }
            }
        }
    }

    public func adam(
        param: Tensor, grad: Tensor, m: Tensor, v: Tensor, step: Int, learningRate: Float,
        beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float
    ) throws {
        let sp = try storage(param, "adam"), sg = try expect(grad, param.count, "adam", "grad")
        let sm = try expect(m, param.count, "adam", "m"), sv = try expect(v, param.count, "adam", "v")
        let c1 = 1 - pow(beta1, Float(step)), c2 = 1 - pow(beta2, Float(step))
        let g = sg.values
        sm.values.withUnsafeMutableBufferPointer { mm in
            sv.values.withUnsafeMutableBufferPointer { vv in
                sp.values.withUnsafeMutableBufferPointer { p in
                    for i in 0..<p.count {
                        mm[i] = beta1 * mm[i] + (1 - beta1) * g[i]
                        vv[i] = beta2 * vv[i] + (1 - beta2) * g[i] * g[i]
                        let mh = mm[i] / c1, vh = vv[i] / c2
                        p[i] -= learningRate * (mh / (vh.squareRoot() + epsilon) + weightDecay * p[i])
                    }
                }
            }
        }
    }
}
