import Foundation

/// The reference backend: plain, readable Swift loops, no SIMD intrinsics, no BLAS. Every other
/// backend is tested against it, so clarity wins over speed here.
public final class CPUBackend: Backend, @unchecked Sendable {
    private let host = HostTensors(backend: "cpu")
    public var tensorBytesPeak: Int? { host.meter.peakBytes }
    public var tensorMeter: TensorMeter? { host.meter }

    public let name = "cpu"
    public var deviceDescription: String { "host CPU (\(ProcessInfo.processInfo.activeProcessorCount) cores), reference loops" }

    public init() {}

    public var deviceIdentity: String { "host" }
    public var driverDescription: String? { nil }
    public func sibling() throws -> Backend { CPUBackend() }
    /// The reference is this backend: every op.
    public func supports(_ op: Op) -> Bool { true }
    public func run(_ op: Op, _ inputs: [Tensor]) throws -> [Tensor] {
        if op.convolution != nil { return try convolve(op, inputs) }
        return op.isDenseKernel ? try runDense(op, inputs) : try runOnHost(op, inputs)
    }

    /// Measured (`gpuflow-bench conv`): the reference's matmul loops beat its per-product
    /// convolution loops 2.4–4.5× on ungrouped layers; grouped ones (depthwise: 1.8× the other
    /// way) pay the lowering's per-group permutes for GEMMs of a few columns.
    public func convolutionAlgorithm(_ g: Conv2DGeometry) -> Conv2DAlgorithm {
        g.groups == 1 && Conv2DLowering.tableSize(g) != nil ? .im2col : .direct
    }

    public func tensor(_ values: [Float], shape: [Int]) throws -> Tensor { try host.tensor(values, shape: shape) }
    public func zeros(shape: [Int]) throws -> Tensor { try filled(0, shape: shape) }
    public func read(_ t: Tensor) throws -> [Float] { try host.storage(t, "read").values }
    public func write(_ t: Tensor, _ values: [Float]) throws { try host.write(t, values) }

    // MARK: helpers

    private func storage(_ t: Tensor, _ op: String) throws -> HostTensors.Storage { try host.storage(t, op) }

    private func expect(_ t: Tensor, _ count: Int, _ op: String, _ role: String) throws -> HostTensors.Storage {
        try host.expect(t, count, op, role)
    }

    // MARK: kernels

    public func gemm(
        _ a: Tensor, _ b: Tensor, _ c: Tensor, m: Int, n: Int, k: Int,
        transA: Bool, transB: Bool, alpha: Float, beta: Float
    ) throws {
        let sa = try expect(a, m * k, "gemm", "A"), sb = try expect(b, k * n, "gemm", "B")
        let sc = try expect(c, m * n, "gemm", "C")
        let av = sa.values, bv = sb.values
        var cv = sc.values
        for i in 0..<m {
            for j in 0..<n {
                var acc: Float = 0
                for p in 0..<k {
                    let x = transA ? av[p * m + i] : av[i * k + p]
                    let y = transB ? bv[j * k + p] : bv[p * n + j]
                    acc += x * y
                }
                cv[i * n + j] = alpha * acc + (beta == 0 ? 0 : beta * cv[i * n + j])
            }
        }
        sc.values = cv
    }

    public func gemmBatched(
        _ a: Tensor, _ b: Tensor, _ c: Tensor, batch: Int, m: Int, n: Int, k: Int,
        strideA: Int, strideB: Int, strideC: Int, transA: Bool, transB: Bool, alpha: Float, beta: Float
    ) throws {
        try BatchedShapes.check(a, b, c, batch: batch, m: m, n: n, k: k, strideA: strideA, strideB: strideB, strideC: strideC)
        let av = try storage(a, "gemmBatched").values, bv = try storage(b, "gemmBatched").values
        let sc = try storage(c, "gemmBatched")
        var cv = sc.values
        for bi in 0..<batch {
            let oa = bi * strideA, ob = bi * strideB, oc = bi * strideC
            for i in 0..<m {
                for j in 0..<n {
                    var acc: Float = 0
                    for p in 0..<k {
                        let x = transA ? av[oa + p * m + i] : av[oa + i * k + p]
                        let y = transB ? bv[ob + j * k + p] : bv[ob + p * n + j]
                        acc += x * y
                    }
                    cv[oc + i * n + j] = alpha * acc + (beta == 0 ? 0 : beta * cv[oc + i * n + j])
                }
            }
        }
        sc.values = cv
    }

    public func addBias(_ x: Tensor, _ bias: Tensor, rows: Int, cols: Int) throws {
        let sx = try expect(x, rows * cols, "addBias", "x"), sb = try expect(bias, cols, "addBias", "bias")
        for r in 0..<rows { for c in 0..<cols { sx.values[r * cols + c] += sb.values[c] } }
    }

    /// The definition: addBias, then the activation of the result.
    public func biasActivation(_ f: Activation, _ x: Tensor, _ bias: Tensor, _ y: Tensor, rows: Int, cols: Int) throws {
        _ = try expect(y, rows * cols, "biasActivation", "y")
        try addBias(x, bias, rows: rows, cols: cols)
        try activation(f, x, y)
    }

    public func activation(_ f: Activation, _ x: Tensor, _ y: Tensor) throws {
        let sx = try storage(x, "activation"), sy = try expect(y, x.count, "activation", "y")
        sy.values = sx.values.map { CPUBackend.apply(f, $0) }
    }

    public func activationBackward(_ f: Activation, _ x: Tensor, _ dy: Tensor, _ dx: Tensor) throws {
        let sx = try storage(x, "activationBackward")
        let sdy = try expect(dy, x.count, "activationBackward", "dy"), sdx = try expect(dx, x.count, "activationBackward", "dx")
        var out = [Float](repeating: 0, count: x.count)
        for i in 0..<x.count { out[i] = sdy.values[i] * CPUBackend.derivative(f, sx.values[i]) }
        sdx.values = out
    }

    /// f(x) for one element; shared with tests as the scalar definition of each activation.
    public static func apply(_ f: Activation, _ x: Float) -> Float {
        switch f {
        case .identity: return x
        case .relu: return max(0, x)
        case .tanh: return Foundation.tanh(x)
        case .sigmoid: return 1 / (1 + exp(-x))
        case .gelu:  // tanh approximation, as in GPT-2 and PyTorch's approximate="tanh"
            let c: Float = 0.7978845608  // sqrt(2/pi)
            return 0.5 * x * (1 + Foundation.tanh(c * (x + 0.044715 * x * x * x)))
        }
    }

    /// f'(x) for one element.
    public static func derivative(_ f: Activation, _ x: Float) -> Float {
        switch f {
        case .identity: return 1
        case .relu: return x > 0 ? 1 : 0
        case .tanh:
            let t = Foundation.tanh(x)
            return 1 - t * t
        case .sigmoid:
            let s = 1 / (1 + exp(-x))
            return s * (1 - s)
        case .gelu:
            let c: Float = 0.7978845608
            let u = c * (x + 0.044715 * x * x * x)
            let t = Foundation.tanh(u)
            let du = c * (1 + 3 * 0.044715 * x * x)
            return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du
        }
    }

    public func softmaxCrossEntropy(
        _ logits: Tensor, _ labels: Tensor, rows: Int, cols: Int,
        losses: Tensor, grad: Tensor
    ) throws {
        let sl = try expect(logits, rows * cols, "softmaxCrossEntropy", "logits")
        let sy = try expect(labels, rows, "softmaxCrossEntropy", "labels")
        let sloss = try expect(losses, rows, "softmaxCrossEntropy", "losses")
        let sg = try expect(grad, rows * cols, "softmaxCrossEntropy", "grad")
        try ClassLabels.check(sy.values, cols: cols)
        for r in 0..<rows {
            let label = Int(sy.values[r])
            var mx = -Float.infinity
            for c in 0..<cols { mx = max(mx, sl.values[r * cols + c]) }
            var total: Float = 0
            for c in 0..<cols { total += exp(sl.values[r * cols + c] - mx) }
            let logTotal = log(total)
            sloss.values[r] = -(sl.values[r * cols + label] - mx - logTotal)
            for c in 0..<cols {
                let p = exp(sl.values[r * cols + c] - mx - logTotal)
                sg.values[r * cols + c] = (p - (c == label ? 1 : 0)) / Float(rows)
            }
        }
    }

    public func mse(_ pred: Tensor, _ target: Tensor, rows: Int, cols: Int, losses: Tensor, grad: Tensor) throws {
        let sp = try expect(pred, rows * cols, "mse", "pred"), st = try expect(target, rows * cols, "mse", "target")
        let sl = try expect(losses, rows, "mse", "losses"), sg = try expect(grad, rows * cols, "mse", "grad")
        for r in 0..<rows {
            var acc: Float = 0
            for c in 0..<cols {
                let d = sp.values[r * cols + c] - st.values[r * cols + c]
                acc += d * d
                sg.values[r * cols + c] = 2 * d / Float(rows * cols)
            }
            sl.values[r] = acc / Float(cols)
        }
    }

    public func columnSum(_ x: Tensor, rows: Int, cols: Int, _ out: Tensor) throws {
        let sx = try expect(x, rows * cols, "columnSum", "x"), so = try expect(out, cols, "columnSum", "out")
        var acc = [Float](repeating: 0, count: cols)
        for r in 0..<rows { for c in 0..<cols { acc[c] += sx.values[r * cols + c] } }
        so.values = acc
    }

    public func rowArgmax(_ x: Tensor, rows: Int, cols: Int, _ out: Tensor) throws {
        let sx = try expect(x, rows * cols, "rowArgmax", "x"), so = try expect(out, rows, "rowArgmax", "out")
        for r in 0..<rows {
            var best = 0
            for c in 1..<max(cols, 1) where sx.values[r * cols + c] > sx.values[r * cols + best] { best = c }
            so.values[r] = Float(best)
        }
    }

    public func sum(_ x: Tensor) throws -> Float { try storage(x, "sum").values.reduce(0, +) }

    public func sumOfSquares(_ x: Tensor) throws -> Float { try storage(x, "sumOfSquares").values.reduce(0) { $0 + $1 * $1 } }

    public func scale(_ x: Tensor, _ alpha: Float) throws {
        let sx = try storage(x, "scale")
        for i in sx.values.indices { sx.values[i] *= alpha }
    }

    public func axpy(_ alpha: Float, _ x: Tensor, _ y: Tensor) throws {
        let sx = try storage(x, "axpy"), sy = try expect(y, x.count, "axpy", "y")
        for i in 0..<x.count { sy.values[i] += alpha * sx.values[i] }
    }

    public func copy(_ x: Tensor, into y: Tensor) throws {
        let sx = try storage(x, "copy"), sy = try expect(y, x.count, "copy", "y")
        for i in 0..<x.count { sy.values[i] = sx.values[i] }
    }

    public func sgdMomentum(
        param: Tensor, grad: Tensor, velocity: Tensor, learningRate: Float, momentum: Float, weightDecay: Float,
        nesterov: Bool
    ) throws {
        let sp = try storage(param, "sgdMomentum")
        let sg = try expect(grad, param.count, "sgdMomentum", "grad"), sv = try expect(velocity, param.count, "sgdMomentum", "velocity")
        for i in 0..<param.count {
            let g = weightDecay != 0 ? sg.values[i] + weightDecay * sp.values[i] : sg.values[i]
            sv.values[i] = momentum * sv.values[i] + g
            sp.values[i] -= learningRate * (nesterov ? g + momentum * sv.values[i] : sv.values[i])
        }
    }

    public func rmsprop(
        param: Tensor, grad: Tensor, square: Tensor, buffer: Tensor, learningRate: Float, alpha: Float, epsilon: Float,
        weightDecay: Float, momentum: Float
    ) throws {
        let sp = try storage(param, "rmsprop"), sg = try expect(grad, param.count, "rmsprop", "grad")
        let ss = try expect(square, param.count, "rmsprop", "square"), sb = try expect(buffer, param.count, "rmsprop", "buffer")
        for i in 0..<param.count {
            let g = weightDecay != 0 ? sg.values[i] + weightDecay * sp.values[i] : sg.values[i]
            ss.values[i] = alpha * ss.values[i] + (1 - alpha) * g * g
            let u = g / (ss.values[i].squareRoot() + epsilon)
            if momentum > 0 {
                sb.values[i] = momentum * sb.values[i] + u
                sp.values[i] -= learningRate * sb.values[i]
            } else {
                sp.values[i] -= learningRate * u
            }
        }
    }

    public func adam(
        param: Tensor, grad: Tensor, m: Tensor, v: Tensor, step: Int, learningRate: Float,
        beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float
    ) throws {
        let sp = try storage(param, "adam")
        let sg = try expect(grad, param.count, "adam", "grad")
        let sm = try expect(m, param.count, "adam", "m"), sv = try expect(v, param.count, "adam", "v")
        let c1 = 1 - pow(beta1, Float(step)), c2 = 1 - pow(beta2, Float(step))
        for i in 0..<param.count {
            let g = sg.values[i]
            sm.values[i] = beta1 * sm.values[i] + (1 - beta1) * g
            sv.values[i] = beta2 * sv.values[i] + (1 - beta2) * g * g
            let mh = sm.values[i] / c1, vh = sv.values[i] / c2
            sp.values[i] -= learningRate * (mh / (vh.squareRoot() + epsilon) + weightDecay * sp.values[i])
        }
    }
}
