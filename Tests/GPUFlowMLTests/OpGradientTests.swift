import GPUFlowCompute
import GPUFlowML
import GPUFlowTesting
import Testing

/// Every op's backward rule against central finite differences of its CPU reference: the
/// tape's gradient of Σ(output ⊙ R), for a fixed random R, at every differentiable input.
@Suite struct OpGradientTests {
    static let cases = OpSamples.all.filter { !$0.differentiable.isEmpty }

    @Test(arguments: cases)
    func backwardRuleMatchesFiniteDifferences(_ c: OpSample) throws {
        try check(c, on: CPUBackend())
    }

    /// The same rules through SIMD's own kernels (OpenBLAS matmul) where it has them.
    @Test func rulesHoldOnSIMD() throws {
        for c in Self.cases where SIMDBackend().supports(c.op) { try check(c, on: SIMDBackend()) }
    }

    func check(_ c: OpSample, on backend: Backend) throws {
        let outShape = try c.op.outputShapes(c.inputs.map(\.shape))[0]
        let r = OpSamples.values(Shapes.count(outShape), seed: 7)
        let tape = Tape(backend: backend)
        let leaves = try c.inputs.enumerated().map { i, a in
            tape.leaf(try backend.tensor(a.values, shape: a.shape), gradient: c.differentiable.contains(i))
        }
        let out = try tape.apply(c.op, leaves)[0]
        let grads = try tape.gradients(of: out, seed: try backend.tensor(r, shape: outShape))
        func objective(_ inputs: [HostArray]) throws -> Double {
            zip(try ReferenceOps.run(c.op, inputs)[0], r).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }
        for i in c.differentiable {
            let g = try #require(grads[leaves[i]], "\(c): no gradient for input \(i)")
            let analytic = try backend.read(g)
            #expect(analytic.count == c.inputs[i].values.count, "\(c): gradient \(i) has \(analytic.count) values")
            let h: Float = 1e-3
            for j in stride(from: 0, to: c.inputs[i].values.count, by: max(1, c.inputs[i].values.count / 24)) {
                var plus = c.inputs, minus = c.inputs
                plus[i].values[j] += h
                minus[i].values[j] -= h
                let numeric = (try objective(plus) - objective(minus)) / Double(2 * h)
                let a = Double(analytic[j])
                #expect(
                    Swift.abs(a - numeric) <= 1e-2 + 2e-2 * Swift.abs(numeric),
                    "\(c) input \(i)[\(j)]: tape \(a), finite differences \(numeric)")
            }
        }
    }

    /// A value used twice gets both gradients, summed; leaves without `gradient` get none.
    @Test func gradientsOfASharedValueAccumulate() throws {
        let cpu = CPUBackend()
        let tape = Tape(backend: cpu)
        let x = tape.leaf(try cpu.tensor([1, 2, 3], shape: [3]), gradient: true)
        let k = tape.leaf(try cpu.tensor([2, 2, 2], shape: [3]))
        let y = try tape(.binary(.mul), x, x)  // x²
        let z = try tape(.binary(.add), y, try tape(.binary(.mul), x, k))  // x² + 2x
        let loss = try tape(.reduce(.sum, axis: 0), z)
        let g = try tape.gradients(of: loss)
        #expect(try cpu.read(try #require(g[x])) == [4, 6, 8], "d/dx (x² + 2x) = 2x + 2")
        #expect(g[k] == nil)
    }
}
