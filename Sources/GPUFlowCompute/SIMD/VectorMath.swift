/// exp over eight lanes at once, for the SIMD backend's softmax and exp-based activations:
/// libm's scalar expf and tanhf were a fifth of a small transformer's training step. Cephes'
/// single-precision method (range reduction by ln 2 in two parts, a degree-5 polynomial, the
/// exponent put in by bit pattern, in two halves so that subnormal results and those just below
/// overflow come out too): within a few ulp of expf, and as expf +∞ above 88.7228, 0 below −104
/// and NaN for NaN.
enum VectorMath {
    @inline(__always) static func exp(_ x: SIMD8<Float>) -> SIMD8<Float> {
        let log2e: Float = 1.44269504088896341
        var r = x.replacing(with: -104, where: .!(x .>= -104))
        r.replace(with: 88.7228, where: r .> 88.7228)
        // Adding 1.5·2²³ rounds r·log2(e) to the nearest integer and leaves it in the low bits
        // of the sum's pattern: the integer without a per-lane conversion (a generic call that
        // was most of the function's time).
        let shifted = r * log2e + 12_582_912
        let n = shifted - 12_582_912
        let e = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000
        r = r - n * 0.693359375
        r = r + n * 2.12194440e-4
        let z = r * r
        var p = SIMD8<Float>(repeating: 1.9875691500e-4)
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        p = p * z + r + 1
        let high = e &>> 1, low = e &- high
        let twoHigh = unsafeBitCast((high &+ 127) &<< 23, to: SIMD8<Float>.self)
        let twoLow = unsafeBitCast((low &+ 127) &<< 23, to: SIMD8<Float>.self)
        var y = p * twoHigh * twoLow
        y.replace(with: Float.infinity, where: x .> 88.7228)
        y.replace(with: 0, where: x .< -104)
        y.replace(with: x, where: x .!= x)
        return y
    }

    /// σ(x) and σ(−x) = 1 − σ(x) from one e = exp(−|x|), each without the cancellation of
    /// 1 − σ where σ is near 1: the gradients of sigmoid, tanh, silu and GELU need both.
    @inline(__always) static func logistic(_ x: SIMD8<Float>) -> (positive: SIMD8<Float>, negative: SIMD8<Float>) {
        let e = exp(-x.replacing(with: -x, where: x .< 0))
        let big = 1 / (1 + e), small = e / (1 + e)
        let nonNegative = x .>= 0
        return (big.replacing(with: small, where: .!nonNegative), small.replacing(with: big, where: .!nonNegative))
    }

    @inline(__always) static func sigmoid(_ x: SIMD8<Float>) -> SIMD8<Float> { logistic(x).positive }

    /// tanh x = sign(x)·(1 − e)/(1 + e) with e = exp(−2|x|), and its slope 1 − tanh²x =
    /// 4e/(1 + e)²: neither loses digits near ±1. Below |x| < 0.25, where 1 − e would, the odd
    /// Taylor series to x⁹ (error under 1e-8 there).
    @inline(__always) static func tanhAndSlope(_ x: SIMD8<Float>) -> (value: SIMD8<Float>, slope: SIMD8<Float>) {
        let ax = x.replacing(with: -x, where: x .< 0)
        let e = exp(-2 * ax)
        let far = (1 - e) / (1 + e)
        let x2 = x * x
        var s = SIMD8<Float>(repeating: 62 / 2835)
        s = s * x2 - 17 / 315
        s = s * x2 + 2 / 15
        s = s * x2 - 1 / 3
        let near = x + x * x2 * s
        var t = far.replacing(with: -far, where: x .< 0)
        t.replace(with: near, where: ax .< 0.25)
        t.replace(with: x, where: x .!= x)
        return (t, 4 * e / ((1 + e) * (1 + e)))
    }

    @inline(__always) static func tanh(_ x: SIMD8<Float>) -> SIMD8<Float> { tanhAndSlope(x).value }
}
