import COpenBLAS
import Foundation

/// The fast CPU backend: GEMM through OpenBLAS (cblas_sgemm), elementwise kernels over SIMD8
/// vectors with scalar tails. Tensors are host arrays, as on the CPU reference, whose results
/// it must match (KernelParity).
public final class SIMDBackend: Backend, @unchecked Sendable {
    public let name = "simd"
    public var deviceDescription: String { "host CPU (\(ProcessInfo.processInfo.activeProcessorCount) cores), OpenBLAS + SIMD8" }
    private let host = HostTensors(backend: "simd")
    public var tensorBytesPeak: Int? { host.meter.peakBytes }
    public var tensorMeter: TensorMeter? { host.meter }

    public init() {}

    public func supports(_ op: KernelOp) -> Bool { true }

    private func storage(_ t: Tensor, _ op: String) throws -> HostTensors.Storage { try host.storage(t, op) }

    private func expect(_ t: Tensor, _ count: Int, _ op: String, _ role: String) throws -> HostTensors.Storage {
        try host.expect(t, count, op, role)
    }

    public func tensor(_ values: [Float], shape: [Int]) throws -> Tensor { try host.tensor(values, shape: shape) }
    public func zeros(shape: [Int]) throws -> Tensor { try filled(0, shape: shape) }
    public func read(_ t: Tensor) throws -> [Float] { try host.storage(t, "read").values }
    public func write(_ t: Tensor, _ values: [Float]) throws { try host.write(t, values) }

    public func gemm(_ a: Tensor, _ b: Tensor, _ c: Tensor, m: Int, n: Int, k: Int,
                     transA: Bool, transB: Bool, alpha: Float, beta: Float) throws {
        let sa = try expect(a, m * k, "gemm", "A"), sb = try expect(b, k * n, "gemm", "B"), sc = try expect(c, m * n, "gemm", "C")
        if a === c || b === c { throw BackendError(.shapeMismatch, "gemm: C must not alias an operand") }
        sa.values.withUnsafeBufferPointer { pa in
            sb.values.withUnsafeBufferPointer { pb in
                sc.values.withUnsafeMutableBufferPointer { pc in
                    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                                Int32(m), Int32(n), Int32(k), alpha, pa.baseAddress, Int32(transA ? m : k),
                                pb.baseAddress, Int32(transB ? k : n), beta, pc.baseAddress, Int32(n))
                }
            }
        }
    }

    public func gemmBatched(_ a: Tensor, _ b: Tensor, _ c: Tensor, batch: Int, m: Int, n: Int, k: Int,
                            strideA: Int, strideB: Int, strideC: Int, transA: Bool, transB: Bool, alpha: Float, beta: Float) throws {
        try BatchedShapes.check(a, b, c, batch: batch, m: m, n: n, k: k, strideA: strideA, strideB: strideB, strideC: strideC)
        let sa = try storage(a, "gemmBatched"), sb = try storage(b, "gemmBatched"), sc = try storage(c, "gemmBatched")
        let av = sa.values, bv = sb.values
        sc.values.withUnsafeMutableBufferPointer { pc in
            av.withUnsafeBufferPointer { pa in
                bv.withUnsafeBufferPointer { pb in
                    for i in 0..<batch {
                        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
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

    /// y += alpha · x over SIMD8 lanes, then the tail.
    static func axpyLoop(_ alpha: Float, _ x: UnsafeBufferPointer<Float>, _ y: UnsafeMutableBufferPointer<Float>) {
        let n = y.count, vec = n / 8 * 8
        var i = 0
        let a = SIMD8<Float>(repeating: alpha)
        while i < vec {
            let xv = SIMD8<Float>(x[i..<(i + 8)]), yv = SIMD8<Float>(y[i..<(i + 8)])
            let r = yv + a * xv
            for j in 0..<8 { y[i + j] = r[j] }
            i += 8
        }
        while i < n { y[i] += alpha * x[i]; i += 1 }
    }

    public func activation(_ f: Activation, _ x: Tensor, _ y: Tensor) throws {
        let sx = try storage(x, "activation"), sy = try expect(y, x.count, "activation", "y")
        if f == .relu {
            let xs = sx.values
            var out = [Float](repeating: 0, count: xs.count)
            let vec = xs.count / 8 * 8
            var i = 0
            while i < vec {
                let r = SIMD8<Float>(xs[i..<(i + 8)]).replacing(with: 0, where: SIMD8<Float>(xs[i..<(i + 8)]) .< 0)
                for j in 0..<8 { out[i + j] = r[j] }
                i += 8
            }
            while i < xs.count { out[i] = max(0, xs[i]); i += 1 }
            sy.values = out
        } else {
            sy.values = sx.values.map { CPUBackend.apply(f, $0) }
        }
    }

    public func activationBackward(_ f: Activation, _ x: Tensor, _ dy: Tensor, _ dx: Tensor) throws {
        let sx = try storage(x, "activationBackward")
        let sdy = try expect(dy, x.count, "activationBackward", "dy"), sdx = try expect(dx, x.count, "activationBackward", "dx")
        let xs = sx.values, dys = sdy.values
        sdx.values = (0..<xs.count).map { dys[$0] * CPUBackend.derivative(f, xs[$0]) }
    }

    // Row-wise losses and reductions: the reference's definitions, which already stream through memory.
    private let reference = CPUBackend()

    private func viaReference(_ tensors: [Tensor], _ body: ([Tensor]) throws -> Void) throws {
        let copies = try tensors.map { try reference.tensor(try storage($0, "kernel").values, shape: $0.shape) }
        try body(copies)
        for (t, c) in zip(tensors, copies) { try storage(t, "kernel").values = try reference.read(c) }
    }

    public func softmaxCrossEntropy(_ logits: Tensor, _ labels: Tensor, rows: Int, cols: Int, losses: Tensor, grad: Tensor) throws {
        try viaReference([logits, labels, losses, grad]) { t in
            try reference.softmaxCrossEntropy(t[0], t[1], rows: rows, cols: cols, losses: t[2], grad: t[3])
        }
    }

    public func mse(_ pred: Tensor, _ target: Tensor, rows: Int, cols: Int, losses: Tensor, grad: Tensor) throws {
        try viaReference([pred, target, losses, grad]) { t in try reference.mse(t[0], t[1], rows: rows, cols: cols, losses: t[2], grad: t[3]) }
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

    public func rowArgmax(_ x: Tensor, rows: Int, cols: Int, _ out: Tensor) throws {
        try viaReference([x, out]) { t in try reference.rowArgmax(t[0], rows: rows, cols: cols, t[1]) }
    }

    public func sum(_ x: Tensor) throws -> Float { try storage(x, "sum").values.reduce(0, +) }
    public func sumOfSquares(_ x: Tensor) throws -> Float { try storage(x, "sumOfSquares").values.reduce(0) { $0 + $1 * $1 } }

    public func scale(_ x: Tensor, _ alpha: Float) throws {
        let s = try storage(x, "scale")
        s.values.withUnsafeMutableBufferPointer { p in cblas_sscal(Int32(p.count), alpha, p.baseAddress, 1) }
    }

    public func axpy(_ alpha: Float, _ x: Tensor, _ y: Tensor) throws {
        let sx = try storage(x, "axpy"), sy = try expect(y, x.count, "axpy", "y")
        let xv = sx.values
        sy.values.withUnsafeMutableBufferPointer { py in xv.withUnsafeBufferPointer { px in Self.axpyLoop(alpha, px, py) } }
    }

    public func sgdMomentum(param: Tensor, grad: Tensor, velocity: Tensor, learningRate: Float, momentum: Float) throws {
        let sp = try storage(param, "sgdMomentum")
        let sg = try expect(grad, param.count, "sgdMomentum", "grad"), sv = try expect(velocity, param.count, "sgdMomentum", "velocity")
        let g = sg.values
        sv.values.withUnsafeMutableBufferPointer { v in
            sp.values.withUnsafeMutableBufferPointer { p in
                for i in 0..<p.count {
                    v[i] = momentum * v[i] + g[i]
                    p[i] -= learningRate * v[i]
                }
            }
        }
    }

    public func adam(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, step: Int, learningRate: Float,
                     beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float) throws {
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
