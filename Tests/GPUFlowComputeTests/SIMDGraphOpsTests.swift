import Foundation
import GPUFlowCompute
import Testing

/// The SIMD backend's own loops for activations, softmax and layer norm (SIMDGraphOps and
/// CVectorKernels) over whole ranges, not only the parity suite's small samples: the vector exp at
/// every magnitude expf has (normal, subnormal, overflow, NaN), the exp-based activations and
/// their gradients against double precision, and softmax rows with masked entries.
@Suite struct SIMDGraphOpsTests {
    let simd = SIMDBackend()

    /// The larger error, where a NaN error (a kernel's NaN for a finite truth) counts as worst:
    /// Swift.max would drop it.
    static func worse<F: FloatingPoint>(_ a: F, _ b: F) -> F { b.isNaN || a.isNaN ? .infinity : Swift.max(a, b) }

    func run(_ op: Op, _ inputs: [[Float]], shapes: [[Int]]) throws -> [[Float]] {
        let t = try zip(inputs, shapes).map { try simd.tensor($0, shape: $1) }
        return try simd.read(try simd.run(op, t))
    }

    func reference(_ op: Op, _ inputs: [[Float]], shapes: [[Int]]) throws -> [[Float]] {
        try ReferenceOps.run(op, zip(inputs, shapes).map { HostArray($0, $1) })
    }

    @Test func expMatchesExpfAtEveryMagnitude() throws {
        var xs = stride(from: Float(-110), through: 90, by: 0.0137).map { $0 }
        xs += [0, -0.0, 1e-30, -1e-30, 88.72, 88.7228, 88.73, -87.33, -103.9, -104.1, .infinity, -.infinity, .nan]
        // Around ln(Float.greatestFiniteMagnitude): the last finite results and the first infinite.
        var edge: Float = 88.7228
        for _ in 0..<12 {
            xs.append(edge)
            edge = edge.nextUp
        }
        let got = try run(.unary(.exp), [xs], shapes: [[xs.count]])[0]
        var worstNormal: Float = 0, worstSubnormal: Float = 0
        for (x, g) in zip(xs, got) {
            let e = Foundation.exp(x)
            if e.isNaN {
                #expect(g.isNaN, "exp(\(x)) = \(g), expected NaN")
            } else if e.isInfinite {
                #expect(g == e, "exp(\(x)) = \(g), expected \(e)")
            } else if e >= Float.leastNormalMagnitude {
                worstNormal = Self.worse(worstNormal, Swift.abs(g - e) / e)
            } else {
                worstSubnormal = Self.worse(worstSubnormal, Swift.abs(g - e))
            }
        }
        #expect(worstNormal <= 3e-7, "relative error \(worstNormal) over the normal range")
        #expect(worstSubnormal <= 8 * Float.leastNonzeroMagnitude, "absolute error \(worstSubnormal) where expf is subnormal")
    }

    /// The value and slope in double precision, by the forms that keep their digits in both
    /// tails (the float reference itself loses them where tanh is near ±1: its GELU at x = −5 is
    /// off by half), so each vector function is held to the truth, not to libm's rounding.
    static func truth(_ f: UnaryOp, _ x: Double) -> (value: Double, slope: Double) {
        func logistic(_ z: Double) -> (Double, Double) {
            let e = Foundation.exp(-Swift.abs(z))
            return z >= 0 ? (1 / (1 + e), e / (1 + e)) : (e / (1 + e), 1 / (1 + e))
        }
        switch f {
        case .sigmoid:
            let (s, sn) = logistic(x)
            return (s, s * sn)
        case .tanh:
            let e = Foundation.exp(-2 * Swift.abs(x))
            return (Foundation.tanh(x), 4 * e / ((1 + e) * (1 + e)))
        case .silu:
            let (s, sn) = logistic(x)
            return (x * s, s * (1 + x * sn))
        case .geluTanh:
            let c = (2 / Double.pi).squareRoot(), u = c * (x + 0.044715 * x * x * x)
            let (s, sn) = logistic(2 * u)
            return (x * s, s + 2 * x * s * sn * c * (1 + 3 * 0.044715 * x * x))
        default:
            return (Foundation.exp(x), Foundation.exp(x))
        }
    }

    @Test(arguments: [UnaryOp.sigmoid, .tanh, .silu, .geluTanh, .exp])
    func activationsAndGradientsHoldTheirDigitsAcrossTheirRange(_ f: UnaryOp) throws {
        var xs = stride(from: Float(-30), through: 30, by: 0.00731).map { $0 }
        xs += [0, 1e-7, -1e-7, 0.2499, 0.2501, -0.25, 1e-3, -1e-20]
        if f == .exp { xs = xs.map { $0 * 2.9 } }
        let dy = [Float](repeating: 1, count: xs.count)
        let y = try run(.unary(f), [xs], shapes: [[xs.count]])[0]
        let dx = try run(.unaryGrad(f), [xs, dy], shapes: [[xs.count], [xs.count]])[0]
        // Relative error, 2e-6. sigmoid, tanh and exp are held to it down to float's smallest
        // normal. silu and GELU: their values far out in the negative tail are exp of a large
        // argument, which multiplies the argument's rounding, so only above 1e-3; their slopes
        // cross zero (at −1.28 and −0.75), where any float evaluation of s·(1 + x·σ(−x)) cancels
        // terms of size 1, so the slopes also get 3e-7 absolute (a few ulp of 1).
        let cancels = f == .silu || f == .geluTanh
        let floor = cancels ? 1e-3 : Double(Float.leastNormalMagnitude), slack = cancels ? 3e-7 : 0
        var worstValue = 0.0, worstSlope = 0.0
        for (i, x) in xs.enumerated() {
            let t = Self.truth(f, Double(x))
            worstValue = Self.worse(worstValue, Swift.abs(Double(y[i]) - t.value) / max(floor, Swift.abs(t.value)))
            let slopeError = Swift.abs(Double(dx[i]) - t.slope) - slack
            worstSlope = Self.worse(worstSlope, slopeError / max(Double(Float.leastNormalMagnitude), Swift.abs(t.slope)))
        }
        #expect(worstValue <= 2e-6, "\(f.name): worst relative error \(worstValue)")
        #expect(worstSlope <= 2e-6, "\(f.name) gradient: worst relative error \(worstSlope) beyond \(slack)")
    }

    @Test func softmaxRowsWithMaskedEntriesAndWideValues() throws {
        let n = 67, rows = 5
        var x = OpSamples.values(n * rows, seed: 11, lo: -50, hi: 50)
        for r in 0..<rows { for j in (r * 13 + 1)..<n { x[r * n + j] = -.infinity } }  // a causal-style mask
        for op in [Op.softmax(axis: -1), .logSoftmax(axis: -1)] {
            let got = try run(op, [x], shapes: [[rows, n]])[0], ref = try reference(op, [x], shapes: [[rows, n]])[0]
            for (g, e) in zip(got, ref) {
                if e.isInfinite {
                    #expect(g == e, "\(op.name): \(g) where the reference has \(e)")
                } else {
                    #expect(Swift.abs(g - e) <= 1e-5 * Swift.max(1, Swift.abs(e)), "\(op.name): \(g) against \(e)")
                }
            }
        }
        let y = try run(.softmax(axis: -1), [x], shapes: [[rows, n]])[0]
        for r in 0..<rows { #expect(Swift.abs(y[(r * n)..<((r + 1) * n)].reduce(0, +) - 1) < 1e-5, "row \(r) sums to 1") }
    }

    /// Where the reference's choice is a convention rather than arithmetic — NaN and signed
    /// zeros in maximum/minimum and abs, a zero slope times an infinite or NaN gradient, log-
    /// softmax of large logits — the SIMD loops give the reference's bits.
    @Test func edgeValuesFollowTheReference() throws {
        func same(_ op: Op, _ inputs: [[Float]], _ shapes: [[Int]], tolerance: Float = 0) throws {
            let got = try run(op, inputs, shapes: shapes)[0], ref = try reference(op, inputs, shapes: shapes)[0]
            for (i, (g, e)) in zip(got, ref).enumerated() {
                let ok =
                    (g.isNaN && e.isNaN)
                    || (tolerance == 0 ? g.bitPattern == e.bitPattern : Swift.abs(g - e) <= tolerance * Swift.max(1, Swift.abs(e)))
                #expect(ok, "\(op.name) element \(i): \(g) where the reference gives \(e)")
            }
        }
        let a: [Float] = [.nan, 1, -0.0, 0, 2, .infinity, -3, .nan, 5]
        let b: [Float] = [1, .nan, 0, -0.0, 2, 1, -.infinity, .nan, 4]
        for f in [BinaryOp.maximum, .minimum, .add, .sub, .mul, .div] { try same(.binary(f), [a, b], [[9], [9]]) }
        try same(.unary(.abs), [[-0.0, 0, -.infinity, .nan, -2, 3, -1e-40, 7, -8]], [[9]])
        let x: [Float] = [-1, -1, 0, -2, 3, -0.0, 1, -5, 2],
            dy: [Float] = [.infinity, .nan, .infinity, 1, .nan, .infinity, 2, -.infinity, 3]
        try same(.unaryGrad(.relu), [x, dy], [[9], [9]])
        try same(.unaryGrad(.leakyRelu(slope: 0.1)), [x, dy], [[9], [9]])
        let big: [Float] = [1000, 1000, 1e5, 1e5 + 8, -1e5, 3e4]
        try same(.logSoftmax(axis: -1), [big], [[3, 2]], tolerance: 1e-6)
    }

    /// What the SIMD backend now runs itself, and what it still hands to the reference.
    @Test func supportsNamesTheOpsWithTheirOwnLoops() {
        #expect(simd.supports(.softmax(axis: -1)) && simd.supports(.layerNorm(epsilon: 1e-5)) && simd.supports(.unary(.geluTanh)))
        #expect(!simd.supports(.softmax(axis: 0)), "an inner axis is the reference's")
        #expect(!simd.supports(.permute([1, 0])) && !simd.supports(.gather))
    }
}
