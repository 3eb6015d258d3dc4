import GPUFlowCompute
import Testing

@Suite struct PhiloxTests {
    @Test func knownAnswerVectors() {
        // Random123's kat_vectors for philox4x32-10: counter 0, key 0.
        let z = Philox.block(key: (0, 0), counter: 0)
        #expect([z.0, z.1, z.2, z.3] == [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8])
    }

    @Test func sameSeedSameStreamDifferentSeedDifferentStream() {
        var a = Philox(seed: 42), b = Philox(seed: 42), c = Philox(seed: 43)
        let sa = (0..<100).map { _ in a.nextUInt32() }
        #expect(sa == (0..<100).map { _ in b.nextUInt32() })
        #expect(sa != (0..<100).map { _ in c.nextUInt32() })
    }

    @Test func distributions() {
        var r = Philox(seed: 7)
        let u = (0..<20_000).map { _ in r.uniform() }
        #expect(u.allSatisfy { $0 >= 0 && $0 < 1 })
        #expect(abs(u.reduce(0, +) / Float(u.count) - 0.5) < 0.01)
        let n = (0..<20_000).map { _ in r.normal() }
        let mean = n.reduce(0, +) / Float(n.count)
        let variance = n.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(n.count)
        #expect(abs(mean) < 0.03 && abs(variance - 1) < 0.05)
        var counts = [Int](repeating: 0, count: 6)
        for _ in 0..<60_000 { counts[r.below(6)] += 1 }
        #expect(counts.allSatisfy { abs($0 - 10_000) < 400 })
    }

    @Test func permutationIsAPermutation() {
        var r = Philox(seed: 1)
        let p = r.permutation(1000)
        #expect(p.sorted() == Array(0..<1000))
        #expect(p != Array(0..<1000))
    }
}
