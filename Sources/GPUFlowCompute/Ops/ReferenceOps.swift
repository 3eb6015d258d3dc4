import Foundation

/// The oracle for every op: plain loops over host arrays, written for clarity. The CPU backend
/// runs these; SIMD runs them on its own host memory for the ops it declines; every other
/// backend's kernels are compared with them.
/// An array of floats with its shape: the CPU reference's operand.
public struct HostArray: Sendable, Equatable {
    public var values: [Float]
    public var shape: [Int]
    public init(_ values: [Float], _ shape: [Int]) {
        self.values = values
        self.shape = shape
    }
}

public enum ReferenceOps {
    public static func run(_ op: Op, _ inputs: [HostArray]) throws -> [[Float]] {
        for (i, a) in inputs.enumerated() where a.values.count != Shapes.count(a.shape) {
            throw BackendError(.shapeMismatch, "\(op.name): input \(i) holds \(a.values.count) values for shape \(a.shape)")
        }
        let shapes = try op.outputShapes(inputs.map(\.shape))
        let x = inputs[0]
        switch op {
        case .unary(let f):
            return [x.values.map { unary(f, $0) }]
        case .unaryGrad(let f):
            return [zip(x.values, inputs[1].values).map { derivative(f, $0) * $1 }]
        case .binary(let f):
            return [broadcastBinary(f, x, inputs[1], out: shapes[0])]
        case .reduce(let r, let axis):
            return [reduce(r, x, axis: try Shapes.axis(axis, rank: x.shape.count, op.name))]
        case .broadcast(let target):
            let st = Shapes.broadcastStrides(x.shape, to: target)
            return [StridedLoops.gather(x.values, shape: target, st: st)]
        case .sumTo(let target):
            var out = [Float](repeating: 0, count: Shapes.count(target))
            let st = Shapes.broadcastStrides(target, to: x.shape)
            StridedLoops.accumulate(x.values, shape: x.shape, st: st, into: &out)
            return [out]
        case .matmul(let ta, let tb):
            return [matmul(x, inputs[1], ta, tb, out: shapes[0])]
        case .reshape:
            return [x.values]
        case .permute(let perm):
            let inStrides = Shapes.strides(x.shape)
            let st = perm.map { inStrides[$0] }
            return [StridedLoops.gather(x.values, shape: shapes[0], st: st)]
        case .slice(let axis, let start, _):
            let a = try Shapes.axis(axis, rank: x.shape.count, op.name)
            let (outer, length, inner) = Shapes.around(x.shape, axis: a)
            let n = shapes[0][a]
            var out: [Float] = []
            out.reserveCapacity(outer * n * inner)
            for o in 0..<outer { out += x.values[(o * length + start) * inner..<(o * length + start + n) * inner] }
            return [out]
        case .unslice(let axis, let start, let size):
            let a = try Shapes.axis(axis, rank: x.shape.count, op.name)
            let (outer, n, inner) = Shapes.around(x.shape, axis: a)
            var out = [Float](repeating: 0, count: Shapes.count(shapes[0]))
            for o in 0..<outer {
                for j in 0..<(n * inner) { out[(o * size + start) * inner + j] = x.values[o * n * inner + j] }
            }
            return [out]
        case .concat(let axis):
            let a = try Shapes.axis(axis, rank: x.shape.count, op.name)
            let (outer, _, inner) = Shapes.around(x.shape, axis: a)
            var out: [Float] = []
            out.reserveCapacity(Shapes.count(shapes[0]))
            for o in 0..<outer {
                for t in inputs {
                    let w = t.shape[a] * inner
                    out += t.values[o * w..<(o + 1) * w]
                }
            }
            return [out]
        case .softmax(let axis), .logSoftmax(let axis):
            let a = try Shapes.axis(axis, rank: x.shape.count, op.name)
            var log = false
            if case .logSoftmax = op { log = true }
            return [softmax(x, axis: a, log: log)]
        case .softmaxGrad(let axis, let log):
            let a = try Shapes.axis(axis, rank: x.shape.count, op.name)
            return [softmaxGrad(y: x, dy: inputs[1], axis: a, log: log)]
        case .layerNorm(let eps):
            return layerNorm(x, gamma: inputs[1].values, beta: inputs[2].values, epsilon: eps)
        case .layerNormGrad:
            return layerNormGrad(x, gamma: inputs[1].values, mean: inputs[2].values, rstd: inputs[3].values, dy: inputs[4].values)
        case .dropout(let p, let seed, let offset):
            let mask = dropoutMask(count: x.values.count, p: p, seed: seed, offset: offset)
            return [zip(x.values, mask).map(*), mask]
        case .gather:
            let rows = x.shape[0], d = x.shape[1]
            var out: [Float] = []
            out.reserveCapacity(inputs[1].values.count * d)
            for (i, v) in inputs[1].values.enumerated() {
                let r = try index(v, rows: rows, position: i, op.name)
                out += x.values[r * d..<(r + 1) * d]
            }
            return [out]
        case .biasActivation(let f):
            let c = x.shape.last ?? 1
            let pre = x.values.enumerated().map { i, v in v + inputs[1].values[i % c] }
            return [pre.map { CPUBackend.apply(f, $0) }, pre]
        case .biasActivationGrad(let f):
            let c = x.shape.last ?? 1
            let dx = zip(x.values, inputs[1].values).map { f == .identity ? $1 : $1 * CPUBackend.derivative(f, $0) }
            var db = [Float](repeating: 0, count: c)
            for (i, v) in dx.enumerated() { db[i % c] += v }
            return [dx, db]
        case .scatterAdd(let rows):
            let d = x.shape[x.shape.count - 1]
            var out = [Float](repeating: 0, count: rows * d)
            for (i, v) in inputs[1].values.enumerated() {
                let r = try index(v, rows: rows, position: i, op.name)
                for j in 0..<d { out[r * d + j] += x.values[i * d + j] }
            }
            return [out]
        case .conv2d(let g):
            return [conv2d(g, x: x.values, weight: inputs[1].values, rows: x.shape[0])]
        case .conv2dGradInput(let g):
            return [conv2dGradInput(g, dy: x.values, weight: inputs[1].values, rows: x.shape[0])]
        case .conv2dGradWeight(let g):
            return [conv2dGradWeight(g, x: x.values, dy: inputs[1].values, rows: x.shape[0])]
        }
    }

    /// The keep-or-drop scale of each element: 1 / (1 − p) where Philox's uniform is at least
    /// p, else 0. The same uniforms as `Philox` and the Vulkan kernel.
    public static func dropoutMask(count: Int, p: Float, seed: UInt64, offset: UInt64) -> [Float] {
        let u = Philox.uniforms(count: count, seed: seed, offset: offset)
        let keep = 1 / (1 - p)
        return u.map { $0 >= p ? keep : 0 }
    }

    static func index(_ v: Float, rows: Int, position: Int, _ op: String) throws -> Int {
        guard v >= 0, v < Float(rows), v == v.rounded() else {
            throw BackendError(.shapeMismatch, "\(op): index \(v) at position \(position) is not a row of 0..<\(rows)")
        }
        return Int(v)
    }

    public static func unary(_ f: UnaryOp, _ x: Float) -> Float {
        switch f {
        case .neg: return -x
        case .exp: return Foundation.exp(x)
        case .log: return Foundation.log(x)
        case .sqrt: return x.squareRoot()
        case .abs: return Swift.abs(x)
        case .square: return x * x
        case .reciprocal: return 1 / x
        case .relu: return x > 0 ? x : 0
        case .leakyRelu(let s): return x > 0 ? x : s * x
        case .gelu: return 0.5 * x * (1 + Float(Foundation.erf(Double(x) / 2.0.squareRoot())))
        case .geluTanh:
            let c: Float = 0.7978845608
            return 0.5 * x * (1 + Foundation.tanh(c * (x + 0.044715 * x * x * x)))
        case .silu: return x / (1 + Foundation.exp(-x))
        case .sigmoid: return 1 / (1 + Foundation.exp(-x))
        case .tanh: return Foundation.tanh(x)
        case .scale(let a): return a * x
        case .add(let a): return x + a
        }
    }

    public static func derivative(_ f: UnaryOp, _ x: Float) -> Float {
        switch f {
        case .neg: return -1
        case .exp: return Foundation.exp(x)
        case .log: return 1 / x
        case .sqrt: return 0.5 / x.squareRoot()
        case .abs: return x > 0 ? 1 : (x < 0 ? -1 : 0)
        case .square: return 2 * x
        case .reciprocal: return -1 / (x * x)
        case .relu: return x > 0 ? 1 : 0
        case .leakyRelu(let s): return x > 0 ? 1 : s
        case .gelu:
            let cdf = 0.5 * (1 + Float(Foundation.erf(Double(x) / 2.0.squareRoot())))
            let pdf = Foundation.exp(-0.5 * x * x) / Float(2 * Double.pi).squareRoot()
            return cdf + x * pdf
        case .geluTanh:
            let c: Float = 0.7978845608
            let t = Foundation.tanh(c * (x + 0.044715 * x * x * x))
            return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x)
        case .silu:
            let s = 1 / (1 + Foundation.exp(-x))
            return s * (1 + x * (1 - s))
        case .sigmoid:
            let s = 1 / (1 + Foundation.exp(-x))
            return s * (1 - s)
        case .tanh:
            let t = Foundation.tanh(x)
            return 1 - t * t
        case .scale(let a): return a
        case .add: return 1
        }
    }

    public static func binary(_ f: BinaryOp, _ a: Float, _ b: Float) -> Float {
        switch f {
        case .add: return a + b
        case .sub: return a - b
        case .mul: return a * b
        case .div: return a / b
        case .maximum: return Swift.max(a, b)
        case .minimum: return Swift.min(a, b)
        case .equal: return a == b ? 1 : 0
        }
    }

    static func broadcastBinary(_ f: BinaryOp, _ a: HostArray, _ b: HostArray, out: [Int]) -> [Float] {
        let sa = Shapes.broadcastStrides(a.shape, to: out), sb = Shapes.broadcastStrides(b.shape, to: out)
        if a.shape == out && b.shape == out { return zip(a.values, b.values).map { binary(f, $0, $1) } }
        switch f {  // the operation chosen once, outside the loop
        case .add: return StridedLoops.binary(a.values, sa, b.values, sb, shape: out, +)
        case .sub: return StridedLoops.binary(a.values, sa, b.values, sb, shape: out, -)
        case .mul: return StridedLoops.binary(a.values, sa, b.values, sb, shape: out, *)
        case .div: return StridedLoops.binary(a.values, sa, b.values, sb, shape: out, /)
        default: return StridedLoops.binary(a.values, sa, b.values, sb, shape: out) { binary(f, $0, $1) }
        }
    }

    static func reduce(_ r: ReduceOp, _ x: HostArray, axis: Int) -> [Float] {
        let (outer, n, inner) = Shapes.around(x.shape, axis: axis)
        var out = [Float](repeating: 0, count: outer * inner)
        for o in 0..<outer {
            for i in 0..<inner {
                let at = { (j: Int) in x.values[(o * n + j) * inner + i] }
                switch r {
                case .sum, .mean:
                    var s: Float = 0
                    for j in 0..<n { s += at(j) }
                    out[o * inner + i] = r == .mean ? s / Float(n) : s
                case .max:
                    var m = at(0)
                    for j in 1..<n { m = Swift.max(m, at(j)) }
                    out[o * inner + i] = m
                case .argmax:
                    var best = 0
                    for j in 1..<n where at(j) > at(best) { best = j }
                    out[o * inner + i] = Float(best)
                }
            }
        }
        return out
    }

    static func matmul(_ a: HostArray, _ b: HostArray, _ ta: Bool, _ tb: Bool, out: [Int]) -> [Float] {
        let m = out[out.count - 2], n = out[out.count - 1]
        let k = ta ? a.shape[a.shape.count - 2] : a.shape[a.shape.count - 1]
        let batch = Shapes.count(Array(out.dropLast(2)))
        let sharedB = b.shape.count == 2
        var c = [Float](repeating: 0, count: batch * m * n)
        for bi in 0..<batch {
            let oa = bi * m * k, ob = sharedB ? 0 : bi * k * n
            for i in 0..<m {
                for j in 0..<n {
                    var acc: Float = 0
                    for p in 0..<k {
                        let x = ta ? a.values[oa + p * m + i] : a.values[oa + i * k + p]
                        let y = tb ? b.values[ob + j * k + p] : b.values[ob + p * n + j]
                        acc += x * y
                    }
                    c[bi * m * n + i * n + j] = acc
                }
            }
        }
        return c
    }

    static func softmax(_ x: HostArray, axis: Int, log: Bool) -> [Float] {
        let (outer, n, inner) = Shapes.around(x.shape, axis: axis)
        var out = x.values
        for o in 0..<outer {
            for i in 0..<inner {
                let at = { (j: Int) in (o * n + j) * inner + i }
                var m = x.values[at(0)]
                for j in 1..<n { m = Swift.max(m, x.values[at(j)]) }
                var s: Float = 0
                for j in 0..<n { s += Foundation.exp(x.values[at(j)] - m) }
                for j in 0..<n {
                    let z = x.values[at(j)] - m
                    out[at(j)] = log ? z - Foundation.log(s) : Foundation.exp(z) / s
                }
            }
        }
        return out
    }

    /// softmax: dx = y (dy − Σ dy·y); log-softmax: dx = dy − exp(y) Σ dy.
    static func softmaxGrad(y: HostArray, dy: HostArray, axis: Int, log: Bool) -> [Float] {
        let (outer, n, inner) = Shapes.around(y.shape, axis: axis)
        var dx = [Float](repeating: 0, count: y.values.count)
        for o in 0..<outer {
            for i in 0..<inner {
                let at = { (j: Int) in (o * n + j) * inner + i }
                var s: Float = 0
                for j in 0..<n { s += log ? dy.values[at(j)] : dy.values[at(j)] * y.values[at(j)] }
                for j in 0..<n {
                    let k = at(j)
                    dx[k] = log ? dy.values[k] - Foundation.exp(y.values[k]) * s : y.values[k] * (dy.values[k] - s)
                }
            }
        }
        return dx
    }

    static func layerNorm(_ x: HostArray, gamma: [Float], beta: [Float], epsilon: Float) -> [[Float]] {
        let c = x.shape[x.shape.count - 1], rows = x.values.count / c
        var y = x.values, mean = [Float](repeating: 0, count: rows), rstd = mean
        for r in 0..<rows {
            var s: Float = 0
            for j in 0..<c { s += x.values[r * c + j] }
            let mu = s / Float(c)
            var v: Float = 0
            for j in 0..<c {
                let d = x.values[r * c + j] - mu
                v += d * d
            }
            let rs = 1 / (v / Float(c) + epsilon).squareRoot()
            for j in 0..<c { y[r * c + j] = (x.values[r * c + j] - mu) * rs * gamma[j] + beta[j] }
            mean[r] = mu
            rstd[r] = rs
        }
        return [y, mean, rstd]
    }

    /// x̂ = (x − μ)·r; dx = r/C · (C·g − Σg − x̂·Σ(g·x̂)) with g = dy·γ.
    static func layerNormGrad(_ x: HostArray, gamma: [Float], mean: [Float], rstd: [Float], dy: [Float]) -> [[Float]] {
        let c = x.shape[x.shape.count - 1], rows = x.values.count / c
        var dx = [Float](repeating: 0, count: x.values.count), dg = [Float](repeating: 0, count: c), db = dg
        for r in 0..<rows {
            var sumG: Float = 0, sumGX: Float = 0
            for j in 0..<c {
                let k = r * c + j
                let xh = (x.values[k] - mean[r]) * rstd[r]
                let g = dy[k] * gamma[j]
                sumG += g
                sumGX += g * xh
                dg[j] += dy[k] * xh
                db[j] += dy[k]
            }
            for j in 0..<c {
                let k = r * c + j
                let xh = (x.values[k] - mean[r]) * rstd[r]
                dx[k] = rstd[r] / Float(c) * (Float(c) * dy[k] * gamma[j] - sumG - xh * sumGX)
            }
        }
        return [dx, dg, db]
    }
}
