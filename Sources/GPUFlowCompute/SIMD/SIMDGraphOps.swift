import Foundation

/// The graph ops a transformer spends its step in — activations and their gradients,
/// elementwise arithmetic with a trailing-axes broadcast (bias, mask, residual), softmax and
/// layer norm along the last axis — as loops over SIMD8 lanes on the host arrays, instead of the
/// reference's per-element closures and libm calls (a small transformer's step spent a fifth of
/// its time in scalar expf/tanhf). Results agree with the reference within the parity suite's
/// 1e-5 (OpParityTests); the shapes and axes not listed here run as the reference.
extension SIMDBackend {
    static func hasOwnLoop(_ op: Op) -> Bool {
        switch op {
        case .unary, .unaryGrad, .layerNorm, .layerNormGrad: return true
        case .binary(let f): return f != .equal
        case .softmax(let axis), .logSoftmax(let axis), .softmaxGrad(let axis, _): return axis == -1
        default: return false
        }
    }

    /// nil when this op at these shapes is the reference's (a broadcast other than one operand
    /// repeating over the other's leading axes, a softmax along an inner axis).
    func runOwnLoop(_ op: Op, _ inputs: [Tensor], shapes: [[Int]]) throws -> [Tensor]? {
        let v = try inputs.map { try read($0) }
        let out: [[Float]]
        switch op {
        case .unary(let f):
            out = [Self.unary(f, v[0])]
        case .unaryGrad(let f):
            guard v[0].count == v[1].count else { return nil }
            out = [Self.unaryGrad(f, v[0], v[1])]
        case .binary(let f):
            guard let c = Self.binary(f, v[0], inputs[0].shape, v[1], inputs[1].shape, out: shapes[0]) else { return nil }
            out = [c]
        case .softmax, .logSoftmax:
            guard let n = inputs[0].shape.last, n > 0 else { return nil }
            var log = false
            if case .logSoftmax = op { log = true }
            out = [Self.softmaxRows(v[0], n: n, log: log)]
        case .softmaxGrad(_, let log):
            guard let n = inputs[0].shape.last, n > 0, v[0].count == v[1].count else { return nil }
            out = [Self.softmaxGradRows(y: v[0], dy: v[1], n: n, log: log)]
        case .layerNorm(let eps):
            guard let c = inputs[0].shape.last, c > 0 else { return nil }
            out = Self.layerNormRows(v[0], gamma: v[1], beta: v[2], c: c, epsilon: eps)
        case .layerNormGrad:
            guard let c = inputs[0].shape.last, c > 0 else { return nil }
            out = Self.layerNormGradRows(v[0], gamma: v[1], mean: v[2], rstd: v[3], dy: v[4], c: c)
        default:
            return nil
        }
        return try zip(out, shapes).map { try tensor($0, shape: $1) }
    }

    // MARK: lanes

    /// y[i] = f(x[i]) eight at a time; the tail goes through f too, in a zero-padded vector, so
    /// every element sees the same arithmetic.
    @inline(__always) static func map8(_ x: [Float], _ f: (SIMD8<Float>) -> SIMD8<Float>) -> [Float] {
        [Float](unsafeUninitializedCapacity: x.count) { y, count in
            x.withUnsafeBufferPointer { px in
                guard let xp = px.baseAddress, let yp = y.baseAddress else { return }
                let n = px.count
                var i = 0
                while i + 8 <= n {
                    store8(f(load8(xp + i)), yp + i)
                    i += 8
                }
                if i < n {
                    var t = SIMD8<Float>()
                    for j in 0..<(n - i) { t[j] = xp[i + j] }
                    let r = f(t)
                    for j in 0..<(n - i) { yp[i + j] = r[j] }
                }
            }
            count = x.count
        }
    }

    /// c[i] = f(a[i], b[i]) over two arrays of one length, as `map8`.
    @inline(__always) static func zip8(_ a: [Float], _ b: [Float], _ f: (SIMD8<Float>, SIMD8<Float>) -> SIMD8<Float>) -> [Float] {
        [Float](unsafeUninitializedCapacity: a.count) { c, count in
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    guard let ap = pa.baseAddress, let bp = pb.baseAddress, let cp = c.baseAddress else { return }
                    zip8(pa.count, ap, bp, cp, f)
                }
            }
            count = a.count
        }
    }

    @inline(__always) static func zip8(
        _ n: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
        _ f: (SIMD8<Float>, SIMD8<Float>) -> SIMD8<Float>
    ) {
        var i = 0
        while i + 8 <= n {
            store8(f(load8(a + i), load8(b + i)), c + i)
            i += 8
        }
        if i < n {
            var s = SIMD8<Float>(), t = SIMD8<Float>()
            for j in 0..<(n - i) {
                s[j] = a[i + j]
                t[j] = b[i + j]
            }
            let r = f(s, t)
            for j in 0..<(n - i) { c[i + j] = r[j] }
        }
    }

    /// Lane by lane through the reference, for the functions with no vector form here (erf, log).
    @inline(__always) static func lanes(_ v: SIMD8<Float>, _ f: (Float) -> Float) -> SIMD8<Float> {
        var r = v
        for j in 0..<8 { r[j] = f(v[j]) }
        return r
    }

    // MARK: activations

    static let geluC: Float = 0.7978845608

    static func unary(_ f: UnaryOp, _ x: [Float]) -> [Float] {
        switch f {
        case .neg: return map8(x) { -$0 }
        case .exp: return map8(x) { VectorMath.exp($0) }
        case .log: return map8(x) { lanes($0, Foundation.log) }
        case .sqrt: return map8(x) { $0.squareRoot() }
        case .abs: return map8(x) { $0.replacing(with: -$0, where: $0 .< 0) }
        case .square: return map8(x) { $0 * $0 }
        case .reciprocal: return map8(x) { 1 / $0 }
        case .relu: return map8(x) { $0.replacing(with: 0, where: .!($0 .> 0)) }
        case .leakyRelu(let s): return map8(x) { $0.replacing(with: s * $0, where: .!($0 .> 0)) }
        case .gelu: return map8(x) { lanes($0) { ReferenceOps.unary(.gelu, $0) } }
        // ½·x·(1 + tanh u) = x·σ(2u): no cancellation where tanh u is near −1.
        case .geluTanh:
            return map8(x) { v in
                let u: SIMD8<Float> = geluC * (v + 0.044715 * v * v * v)
                return v * VectorMath.sigmoid(2 * u)
            }
        case .silu: return map8(x) { $0 * VectorMath.sigmoid($0) }
        case .sigmoid: return map8(x) { VectorMath.sigmoid($0) }
        case .tanh: return map8(x) { VectorMath.tanh($0) }
        case .scale(let a): return map8(x) { a * $0 }
        case .add(let a): return map8(x) { $0 + a }
        }
    }

    /// dy · f′(x).
    static func unaryGrad(_ f: UnaryOp, _ x: [Float], _ dy: [Float]) -> [Float] {
        switch f {
        case .neg: return zip8(x, dy) { _, g in -g }
        case .exp: return zip8(x, dy) { v, g in VectorMath.exp(v) * g }
        case .square: return zip8(x, dy) { v, g in 2 * v * g }
        case .reciprocal: return zip8(x, dy) { v, g in -g / (v * v) }
        case .relu: return zip8(x, dy) { v, g in g.replacing(with: 0, where: .!(v .> 0)) }
        case .leakyRelu(let s): return zip8(x, dy) { v, g in g.replacing(with: s * g, where: .!(v .> 0)) }
        case .geluTanh:
            // With s = σ(2u): ½(1 + tanh u) = s and ½(1 − tanh²u) = 2·s·(1 − s).
            return zip8(x, dy) { v, g in
                let v2: SIMD8<Float> = v * v
                let u: SIMD8<Float> = geluC * (v + 0.044715 * v2 * v)
                let (s, sn) = VectorMath.logistic(2 * u)
                let du: SIMD8<Float> = geluC * (1 + 0.134145 * v2)
                let slope: SIMD8<Float> = 2 * v * s * sn * du
                return g * (s + slope)
            }
        case .silu:
            return zip8(x, dy) { v, g in
                let (s, sn) = VectorMath.logistic(v)
                return g * s * (1 + v * sn)
            }
        case .sigmoid:
            return zip8(x, dy) { v, g in
                let (s, sn) = VectorMath.logistic(v)
                return g * s * sn
            }
        case .tanh:
            return zip8(x, dy) { v, g in g * VectorMath.tanhAndSlope(v).slope }
        case .scale(let a): return zip8(x, dy) { _, g in a * g }
        case .add: return dy
        case .log, .sqrt, .abs, .gelu:
            return zip8(x, dy) { v, g in lanes(v) { ReferenceOps.derivative(f, $0) } * g }
        }
    }

    // MARK: elementwise arithmetic

    /// Both operands of the output's shape, or one of them repeating over the other's leading
    /// axes (a bias [C] over [N, C], a mask [T, T] over [B, H, T, T]); nil for other broadcasts.
    static func binary(_ f: BinaryOp, _ a: [Float], _ sa: [Int], _ b: [Float], _ sb: [Int], out: [Int]) -> [Float]? {
        let n = Shapes.count(out)
        func repeats(_ s: [Int]) -> Bool {
            let inner = Array(s.drop { $0 == 1 })
            return inner.count <= out.count && Array(out.suffix(inner.count)) == inner
        }
        let fullA = a.count == n && repeats(sa), fullB = b.count == n && repeats(sb)
        guard (fullA || repeats(sa)) && (fullB || repeats(sb)) && (fullA || fullB), n > 0 else { return nil }
        let op: (SIMD8<Float>, SIMD8<Float>) -> SIMD8<Float>
        switch f {
        case .add: op = { $0 + $1 }
        case .sub: op = { $0 - $1 }
        case .mul: op = { $0 * $1 }
        case .div: op = { $0 / $1 }
        case .maximum: op = { l, r in l.replacing(with: r, where: .!(l .>= r)) }
        case .minimum: op = { l, r in l.replacing(with: r, where: .!(l .<= r)) }
        case .equal: return nil
        }
        let period = min(a.count, b.count)
        return [Float](unsafeUninitializedCapacity: n) { c, count in
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    guard let ap = pa.baseAddress, let bp = pb.baseAddress, let cp = c.baseAddress else { return }
                    var o = 0
                    while o < n {
                        zip8(period, fullA ? ap + o : ap, fullB ? bp + o : bp, cp + o, op)
                        o += period
                    }
                }
            }
            count = n
        }
    }

    // MARK: softmax and layer norm along the last axis

    @inline(__always) static func sum8(_ p: UnsafePointer<Float>, _ n: Int, _ f: (SIMD8<Float>) -> SIMD8<Float>) -> Float {
        var acc = SIMD8<Float>(), i = 0
        while i + 8 <= n {
            acc += f(load8(p + i))
            i += 8
        }
        var s = acc.sum()
        if i < n {
            var t = SIMD8<Float>()
            for j in 0..<(n - i) { t[j] = p[i + j] }
            let r = f(t)
            for j in 0..<(n - i) { s += r[j] }
        }
        return s
    }

    static func softmaxRows(_ x: [Float], n: Int, log: Bool) -> [Float] {
        [Float](unsafeUninitializedCapacity: x.count) { y, count in
            x.withUnsafeBufferPointer { px in
                guard let x0 = px.baseAddress, let y0 = y.baseAddress else { return }
                for r in 0..<(px.count / n) {
                    let xr = x0 + r * n, yr = y0 + r * n
                    var m = xr[0]
                    for j in 1..<n { m = Swift.max(m, xr[j]) }
                    let mv = SIMD8<Float>(repeating: m)
                    if log {
                        let ls = Foundation.log(sum8(xr, n) { VectorMath.exp($0 - mv) }) + m
                        mapRow(xr, yr, n) { $0 - ls }
                    } else {
                        mapRow(xr, yr, n) { VectorMath.exp($0 - mv) }
                        let inv = 1 / sum8(UnsafePointer(yr), n) { $0 }
                        mapRow(UnsafePointer(yr), yr, n) { $0 * inv }
                    }
                }
            }
            count = x.count
        }
    }

    @inline(__always) static func mapRow(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, _ f: (SIMD8<Float>) -> SIMD8<Float>
    ) {
        var i = 0
        while i + 8 <= n {
            store8(f(load8(x + i)), y + i)
            i += 8
        }
        if i < n {
            var t = SIMD8<Float>()
            for j in 0..<(n - i) { t[j] = x[i + j] }
            let r = f(t)
            for j in 0..<(n - i) { y[i + j] = r[j] }
        }
    }

    /// softmax: dx = y (dy − Σ dy·y); log-softmax: dx = dy − exp(y) Σ dy.
    static func softmaxGradRows(y: [Float], dy: [Float], n: Int, log: Bool) -> [Float] {
        [Float](unsafeUninitializedCapacity: y.count) { dx, count in
            y.withUnsafeBufferPointer { py in
                dy.withUnsafeBufferPointer { pd in
                    guard let y0 = py.baseAddress, let d0 = pd.baseAddress, let o0 = dx.baseAddress else { return }
                    for r in 0..<(py.count / n) {
                        let yr = y0 + r * n, dr = d0 + r * n, or = o0 + r * n
                        if log {
                            let s = SIMD8<Float>(repeating: sum8(dr, n) { $0 })
                            zip8(n, yr, dr, or) { v, g in g - VectorMath.exp(v) * s }
                        } else {
                            zip8(n, yr, dr, or) { v, g in v * g }
                            let s = SIMD8<Float>(repeating: sum8(UnsafePointer(or), n) { $0 })
                            zip8(n, yr, dr, or) { v, g in v * (g - s) }
                        }
                    }
                }
            }
            count = y.count
        }
    }

    static func layerNormRows(_ x: [Float], gamma: [Float], beta: [Float], c: Int, epsilon: Float) -> [[Float]] {
        let rows = x.count / c
        var mean = [Float](repeating: 0, count: rows), rstd = mean
        let y = [Float](unsafeUninitializedCapacity: x.count) { y, count in
            x.withUnsafeBufferPointer { px in
                gamma.withUnsafeBufferPointer { pg in
                    beta.withUnsafeBufferPointer { pb in
                        guard let x0 = px.baseAddress, let y0 = y.baseAddress, let g = pg.baseAddress, let b = pb.baseAddress else {
                            return
                        }
                        for r in 0..<rows {
                            let xr = x0 + r * c, yr = y0 + r * c
                            let mu = sum8(xr, c) { $0 } / Float(c)
                            let mv = SIMD8<Float>(repeating: mu)
                            let v = sum8(xr, c) { ($0 - mv) * ($0 - mv) }
                            let rs = 1 / (v / Float(c) + epsilon).squareRoot()
                            var j = 0
                            while j + 8 <= c {
                                store8((load8(xr + j) - mv) * rs * load8(g + j) + load8(b + j), yr + j)
                                j += 8
                            }
                            while j < c {
                                yr[j] = (xr[j] - mu) * rs * g[j] + b[j]
                                j += 1
                            }
                            mean[r] = mu
                            rstd[r] = rs
                        }
                    }
                }
            }
            count = x.count
        }
        return [y, mean, rstd]
    }

    /// x̂ = (x − μ)·r; dx = r/C · (C·g − Σg − x̂·Σ(g·x̂)) with g = dy·γ; dγ = Σ dy·x̂, dβ = Σ dy.
    static func layerNormGradRows(_ x: [Float], gamma: [Float], mean: [Float], rstd: [Float], dy: [Float], c: Int) -> [[Float]] {
        let rows = x.count / c
        var dg = [Float](repeating: 0, count: c), db = dg
        var dx = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { px in
            dy.withUnsafeBufferPointer { pd in
                gamma.withUnsafeBufferPointer { pgm in
                    dx.withUnsafeMutableBufferPointer { po in
                        dg.withUnsafeMutableBufferPointer { pdg in
                            db.withUnsafeMutableBufferPointer { pdb in
                                guard let x0 = px.baseAddress, let d0 = pd.baseAddress, let gm = pgm.baseAddress, let o0 = po.baseAddress,
                                    let dgp = pdg.baseAddress, let dbp = pdb.baseAddress
                                else { return }
                                for r in 0..<rows {
                                    let xr = x0 + r * c, dr = d0 + r * c, or = o0 + r * c
                                    let mu = mean[r], rs = rstd[r]
                                    var sumG: Float = 0, sumGX: Float = 0
                                    var vg = SIMD8<Float>(), vgx = SIMD8<Float>()
                                    var j = 0
                                    while j + 8 <= c {
                                        let xh = (load8(xr + j) - mu) * rs, d = load8(dr + j), g = d * load8(gm + j)
                                        vg += g
                                        vgx += g * xh
                                        store8(load8(dgp + j) + d * xh, dgp + j)
                                        store8(load8(dbp + j) + d, dbp + j)
                                        j += 8
                                    }
                                    sumG = vg.sum()
                                    sumGX = vgx.sum()
                                    while j < c {
                                        let xh = (xr[j] - mu) * rs, d = dr[j], g = d * gm[j]
                                        sumG += g
                                        sumGX += g * xh
                                        dgp[j] += d * xh
                                        dbp[j] += d
                                        j += 1
                                    }
                                    let scale = rs / Float(c), cf = Float(c)
                                    j = 0
                                    while j + 8 <= c {
                                        let xh = (load8(xr + j) - mu) * rs
                                        store8(scale * (cf * load8(dr + j) * load8(gm + j) - sumG - xh * sumGX), or + j)
                                        j += 8
                                    }
                                    while j < c {
                                        let xh = (xr[j] - mu) * rs
                                        or[j] = scale * (cf * dr[j] * gm[j] - sumG - xh * sumGX)
                                        j += 1
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return [dx, dg, db]
    }
}
