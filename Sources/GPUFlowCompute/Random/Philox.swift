/// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): a
/// counter-based generator, so the n-th number is a pure function of (seed, n). That is what
/// lets a GPU kernel and the CPU produce the same stream, and a run be replayed exactly.
public struct Philox: Sendable {
    public let key: (UInt32, UInt32)
    /// The next 128-bit block to generate.
    public private(set) var counter: UInt64 = 0
    private var buffer: (UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0)
    private var used = 4

    public init(seed: UInt64) {
        key = (UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32))
    }

    /// Resumes a stream where `position` left it (for checkpoints): the next number drawn is the
    /// one the saved generator would have drawn next.
    public init(seed: UInt64, position: (counter: UInt64, used: Int)) {
        self.init(seed: seed)
        counter = position.counter
        used = min(max(position.used, 0), 4)
        if used < 4, counter > 0 { buffer = Philox.block(key: key, counter: counter &- 1) }
    }

    /// Where the stream stands: the next block's counter and how many words of the current
    /// block were used.
    public var position: (counter: UInt64, used: Int) { (counter, used) }

    /// The four words of block `counter` (a 64-bit counter in the low words, stream 0 in the high).
    public static func block(key: (UInt32, UInt32), counter: UInt64) -> (UInt32, UInt32, UInt32, UInt32) {
        var c = (UInt32(truncatingIfNeeded: counter), UInt32(truncatingIfNeeded: counter >> 32), UInt32(0), UInt32(0))
        var k = key
        for round in 0..<10 {
            if round > 0 {
                k.0 &+= 0x9E37_79B9
                k.1 &+= 0xBB67_AE85
            }
            let p0 = UInt64(0xD251_1F53) * UInt64(c.0)
            let p1 = UInt64(0xCD9E_8D57) * UInt64(c.2)
            c = (
                UInt32(truncatingIfNeeded: p1 >> 32) ^ c.1 ^ k.0, UInt32(truncatingIfNeeded: p1),
                UInt32(truncatingIfNeeded: p0 >> 32) ^ c.3 ^ k.1, UInt32(truncatingIfNeeded: p0)
            )
        }
        return c
    }

    public mutating func nextUInt32() -> UInt32 {
        if used == 4 {
            buffer = Philox.block(key: key, counter: counter)
            counter &+= 1
            used = 0
        }
        defer { used += 1 }
        switch used {
        case 0: return buffer.0
        case 1: return buffer.1
        case 2: return buffer.2
        default: return buffer.3
        }
    }

    /// Uniform in [0, 1) with 24 bits, the resolution of a Float.
    public mutating func uniform() -> Float { Float(nextUInt32() >> 8) * (1.0 / 16_777_216.0) }

    /// `count` uniforms: word i mod 4 of block `offset` + i / 4, as the `philox_uniform` kernel
    /// writes them (dropout masks on every backend agree element for element).
    public static func uniforms(count: Int, seed: UInt64, offset: UInt64) -> [Float] {
        var g = Philox(seed: seed, position: (offset, 4))
        return (0..<count).map { _ in g.uniform() }
    }

    /// Standard normal by Box–Muller.
    public mutating func normal() -> Float {
        let u1 = max(uniform(), 1e-7), u2 = uniform()
        return (-2 * logf(u1)).squareRoot() * cosf(2 * .pi * u2)
    }

    /// Uniform integer in 0..<n without modulo bias (Lemire's method).
    public mutating func below(_ n: Int) -> Int {
        precondition(n > 0 && n <= Int(UInt32.max))
        let bound = UInt32(n)
        var m = UInt64(nextUInt32()) * UInt64(bound)
        if UInt32(truncatingIfNeeded: m) < bound {
            let threshold = (0 &- bound) % bound
            while UInt32(truncatingIfNeeded: m) < threshold { m = UInt64(nextUInt32()) * UInt64(bound) }
        }
        return Int(m >> 32)
    }

    /// Fisher–Yates shuffle of 0..<n.
    public mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        if n < 2 { return p }
        for i in stride(from: n - 1, to: 0, by: -1) { p.swapAt(i, below(i + 1)) }
        return p
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
