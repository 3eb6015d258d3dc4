import GPUFlowCompute
import GPUFlowTesting
import Testing

/// Hand-computed values every backend must reproduce. The CPU backend is the oracle for the
/// others, so it is also checked against finite differences.
@Suite struct BackendKernelTests {
    let cpu = CPUBackend()

    private func close(_ a: [Float], _ e: [Float], tol: Float = 1e-5) -> Bool {
        a.count == e.count && zip(a, e).allSatisfy { abs($0 - $1) <= tol * max(1, abs($1)) }
    }

    @Test(arguments: BackendUnderTest.allCases)
    func gemmByHand(_ kind: BackendUnderTest) throws {
        let b = try kind.make()
        // [1 2 3; 4 5 6] · [7 8; 9 10; 11 12] = [58 64; 139 154]
        let a = try b.tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        let x = try b.tensor([7, 8, 9, 10, 11, 12], shape: [3, 2])
        let c = try b.tensor([1, 1, 1, 1], shape: [2, 2])
        try b.gemm(a, x, c, m: 2, n: 2, k: 3, transA: false, transB: false, alpha: 1, beta: 0)
        #expect(try b.read(c) == [58, 64, 139, 154])
        // alpha and beta: 2·AB + 1·C
        try b.gemm(a, x, c, m: 2, n: 2, k: 3, transA: false, transB: false, alpha: 2, beta: 1)
        #expect(try b.read(c) == [174, 192, 417, 462])
    }

    @Test(arguments: BackendUnderTest.allCases)
    func gemmTransposedVariantsMatchExplicitTransposes(_ kind: BackendUnderTest) throws {
        let b = try kind.make()
        // Aᵀ stored as 3×2 of the same matrix A (2×3); Bᵀ stored as 2×3 of B (3×2).
        let at = try b.tensor([1, 4, 2, 5, 3, 6], shape: [3, 2])
        let bt = try b.tensor([7, 9, 11, 8, 10, 12], shape: [2, 3])
        let a = try b.tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        let x = try b.tensor([7, 8, 9, 10, 11, 12], shape: [3, 2])
        for (lhs, rhs, ta, tb) in [(at, x, true, false), (a, bt, false, true), (at, bt, true, true)] {
            let c = try b.zeros(shape: [2, 2])
            try b.gemm(lhs, rhs, c, m: 2, n: 2, k: 3, transA: ta, transB: tb, alpha: 1, beta: 0)
            #expect(try b.read(c) == [58, 64, 139, 154], "transA=\(ta) transB=\(tb)")
        }
    }

    @Test(arguments: BackendUnderTest.allCases)
    func biasAndActivations(_ kind: BackendUnderTest) throws {
        let b = try kind.make()
        let x = try b.tensor([-1, 0, 2, -3], shape: [2, 2])
        try b.addBias(x, try b.tensor([1, -1], shape: [2]), rows: 2, cols: 2)
        #expect(try b.read(x) == [0, -1, 3, -4])
        let y = try b.zeros(shape: [4])
        try b.activation(.relu, x, y)
        #expect(try b.read(y) == [0, 0, 3, 0])
        #expect(CPUBackend.apply(.sigmoid, 0) == 0.5)
        #expect(abs(CPUBackend.apply(.tanh, 1) - 0.7615942) < 1e-6)
        #expect(abs(CPUBackend.apply(.gelu, 1) - 0.8411920) < 1e-5)  // PyTorch gelu(1, approximate="tanh")
        #expect(CPUBackend.apply(.gelu, 0) == 0)
    }

    @Test(arguments: Activation.allCases)
    func activationDerivativesMatchFiniteDifferences(_ f: Activation) throws {
        let b = cpu
        let xs: [Float] = [-2.1, -0.7, -0.05, 0.3, 1.2, 2.5]
        let h: Float = 1e-3
        let numeric = xs.map { (CPUBackend.apply(f, $0 + h) - CPUBackend.apply(f, $0 - h)) / (2 * h) }
        let x = try b.tensor(xs, shape: [6])
        let dy = try b.filled(1, shape: [6])
        let dx = try b.zeros(shape: [6])
        try b.activationBackward(f, x, dy, dx)
        #expect(close(try b.read(dx), numeric, tol: 5e-3))
    }

    @Test(arguments: BackendUnderTest.allCases)
    func softmaxCrossEntropyByHandAndByFiniteDifferences(_ kind: BackendUnderTest) throws {
        let b = try kind.make()
        // Uniform logits over 4 classes: loss = ln 4, grad = (0.25 − onehot) / rows.
        let logits = try b.tensor([0, 0, 0, 0, 1, 2, 3, 4], shape: [2, 4])
        let labels = try b.tensor([2, 3], shape: [2])
        let losses = try b.zeros(shape: [2])
        let grad = try b.zeros(shape: [2, 4])
        try b.softmaxCrossEntropy(logits, labels, rows: 2, cols: 4, losses: losses, grad: grad)
        let l = try b.read(losses)
        #expect(abs(l[0] - 1.3862944) < 1e-6)
        #expect(abs(l[1] - 0.4401897) < 1e-6)  // −log softmax([1,2,3,4])[3]
        let g = try b.read(grad)
        #expect(close(Array(g[0..<4]), [0.125, 0.125, -0.375, 0.125]))
        // d(mean loss)/d logit by central differences
        let base: [Float] = [0.3, -1.2, 0.8, 0.1, 2.0, -0.5, 0.7, 1.1]
        var numeric: [Float] = []
        for i in base.indices {
            var lossAt: [Float] = []
            for s: Float in [1, -1] {
                var v = base
                v[i] += s * 1e-2
                let ls = try b.zeros(shape: [2]), gs = try b.zeros(shape: [2, 4])
                try b.softmaxCrossEntropy(try b.tensor(v, shape: [2, 4]), labels, rows: 2, cols: 4, losses: ls, grad: gs)
                lossAt.append(try b.sum(ls) / 2)
            }
            numeric.append((lossAt[0] - lossAt[1]) / 2e-2)
        }
        try b.softmaxCrossEntropy(try b.tensor(base, shape: [2, 4]), labels, rows: 2, cols: 4, losses: losses, grad: grad)
        #expect(close(try b.read(grad), numeric, tol: 2e-3))
    }

    @Test(arguments: BackendUnderTest.allCases)
    func mseLossAndGradient(_ kind: BackendUnderTest) throws {
        let b = try kind.make()
        let losses = try b.zeros(shape: [2]), grad = try b.zeros(shape: [2, 2])
        try b.mse(
            try b.tensor([1, 2, 3, 4], shape: [2, 2]), try b.tensor([1, 0, 0, 4], shape: [2, 2]), rows: 2, cols: 2,
            losses: losses, grad: grad)
        #expect(try b.read(losses) == [2, 4.5])
        #expect(try b.read(grad) == [0, 1, 1.5, 0])
    }

    @Test(arguments: BackendUnderTest.allCases)
    func reductions(_ kind: BackendUnderTest) throws {
        let b = try kind.make()
        let x = try b.tensor([1, 5, 2, 7, 3, 3], shape: [3, 2])
        let cols = try b.zeros(shape: [2])
        try b.columnSum(x, rows: 3, cols: 2, cols)
        #expect(try b.read(cols) == [6, 15])
        let arg = try b.zeros(shape: [3])
        try b.rowArgmax(x, rows: 3, cols: 2, arg)
        #expect(try b.read(arg) == [1, 1, 0], "ties go to the first column")
        #expect(try b.sum(x) == 21)
        #expect(try b.sumOfSquares(x) == 97)
        try b.scale(x, 2)
        try b.axpy(-1, try b.tensor([1, 1, 1, 1, 1, 1], shape: [6]), x)
        #expect(try b.read(x) == [1, 9, 3, 13, 5, 5])
    }

    @Test(arguments: BackendUnderTest.allCases)
    func biasActivationKeepsThePreActivationAndRefusesAWrongOutput(_ kind: BackendUnderTest) throws {
        let b = try kind.make()
        // Eleven columns: one SIMD8 block and a tail on the SIMD backend.
        let values: [Float] = (0..<22).map { Float($0 % 7) - 3 }, bias: [Float] = (0..<11).map { Float($0) * 0.5 - 2 }
        let x = try b.tensor(values, shape: [2, 11]), y = try b.zeros(shape: [2, 11])
        try b.biasActivation(.relu, x, try b.tensor(bias, shape: [11]), y, rows: 2, cols: 11)
        let pre = values.enumerated().map { $1 + bias[$0 % 11] }
        #expect(try b.read(x) == pre, "x holds x + bias for the backward pass")
        #expect(try b.read(y) == pre.map { max(0, $0) })
        do {
            try b.biasActivation(.tanh, x, try b.tensor(bias, shape: [11]), try b.zeros(shape: [3]), rows: 2, cols: 11)
            Issue.record("biasActivation accepted a 3-element output for 2×11")
        } catch let e as BackendError {
            #expect(e.code == .shapeMismatch && e.message.contains("biasActivation: y has 3 elements, expected 22"), "\(e)")
        }
    }

    /// The host backends write activations into the output's own array; the same tensor as
    /// input and output (in place), or dx sharing dy, must still see the inputs it started with.
    @Test(arguments: [BackendUnderTest.cpu, .simd])
    func activationsInPlaceKeepTheirInputs(_ kind: BackendUnderTest) throws {
        let b = try kind.make()
        let values: [Float] = (0..<19).map { Float($0) - 9 }
        let x = try b.tensor(values, shape: [19])
        try b.activation(.relu, x, x)
        #expect(try b.read(x) == values.map { max(0, $0) })
        let pre = try b.tensor(values, shape: [19]), g = try b.tensor(values.map { $0 * 2 }, shape: [19])
        try b.activationBackward(.relu, pre, g, g)
        #expect(try b.read(g) == values.map { $0 > 0 ? $0 * 2 : 0 })
        #expect(try b.read(pre) == values, "x is only read")
        let t = try b.tensor(values, shape: [19]), out = try b.zeros(shape: [19])
        try b.activation(.tanh, t, out)
        #expect(try b.read(t) == values)
        #expect(zip(try b.read(out), values).allSatisfy { abs($0 - CPUBackend.apply(.tanh, $1)) < 1e-6 })
    }

    @Test(arguments: BackendUnderTest.allCases)
    func sgdMomentumTwoSteps(_ kind: BackendUnderTest) throws {
        let b = try kind.make()
        let p = try b.tensor([1], shape: [1]), v = try b.zeros(shape: [1]), g = try b.tensor([0.5], shape: [1])
        try b.sgdMomentum(param: p, grad: g, velocity: v, learningRate: 0.1, momentum: 0.9)
        #expect(close(try b.read(p), [0.95]))  // v = 0.5, p = 1 − 0.05
        try b.sgdMomentum(param: p, grad: g, velocity: v, learningRate: 0.1, momentum: 0.9)
        #expect(close(try b.read(v), [0.95]))  // v = 0.9·0.5 + 0.5
        #expect(close(try b.read(p), [0.855]))
    }

    @Test(arguments: BackendUnderTest.allCases)
    func adamFirstStepMovesByTheLearningRate(_ kind: BackendUnderTest) throws {
        let b = try kind.make()
        // With bias correction, the first Adam step is lr · g/|g| (up to epsilon).
        let p = try b.tensor([1, -1], shape: [2]), m = try b.zeros(shape: [2]), v = try b.zeros(shape: [2])
        try b.adam(
            param: p, grad: try b.tensor([0.3, -2], shape: [2]), m: m, v: v, step: 1, learningRate: 0.01,
            beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0)
        #expect(close(try b.read(p), [0.99, -0.99]))
        #expect(close(try b.read(m), [0.03, -0.2]))
        #expect(close(try b.read(v), [0.00009, 0.004]))
        // AdamW's decoupled decay shrinks the weight by lr · wd · p as well.
        let q = try b.tensor([2], shape: [1])
        try b.adam(
            param: q, grad: try b.tensor([1], shape: [1]), m: try b.zeros(shape: [1]), v: try b.zeros(shape: [1]), step: 1,
            learningRate: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.5)
        #expect(close(try b.read(q), [2 - 0.1 - 0.1]))
    }

    @Test(arguments: BackendUnderTest.allCases)
    func badShapesAndForeignTensorsAreTypedErrors(_ kind: BackendUnderTest) throws {
        let b = try kind.make()
        let a = try b.tensor([1, 2], shape: [2])
        #expect(throws: BackendError.self) { try b.tensor([1, 2, 3], shape: [2, 2]) }
        do {
            try b.gemm(a, a, a, m: 2, n: 2, k: 2, transA: false, transB: false, alpha: 1, beta: 0)
            Issue.record("gemm accepted wrong sizes")
        } catch let e as BackendError {
            #expect(e.code == .shapeMismatch && e.message.contains("gemm: A has 2 elements, expected 4"))
        }
        let foreign = Tensor(shape: [2], storage: NSObjectLike(), backendName: "vulkan")
        do {
            try b.scale(foreign, 2)
            Issue.record("scale accepted a foreign tensor")
        } catch let e as BackendError {
            #expect(e.code == .foreignTensor)
        }
        // CPU and SIMD tensors share one host storage class; each backend must still refuse the other's.
        let hostPeer: any Backend = b.name == "cpu" ? SIMDBackend() : CPUBackend()
        do {
            try b.scale(try hostPeer.tensor([1, 2], shape: [2]), 2)
            Issue.record("scale accepted a \(hostPeer.name) tensor on \(b.name)")
        } catch let e as BackendError {
            #expect(e.code == .foreignTensor && e.message.contains("belongs to backend \(hostPeer.name)"))
        }
        let out = try b.zeros(shape: [1]), g = try b.zeros(shape: [1, 2])
        // On the staged path labels never reach the host; a bad label shows as a NaN loss instead.
        if kind == .vulkanStaged { return }
        // Out of range, negative, not a whole number, NaN: an error naming the row, never a trap.
        for label: Float in [5, -1, 1.5, .nan, .infinity] {
            #expect(throws: BackendError.self, "label \(label) on \(b.name)") {
                try b.softmaxCrossEntropy(
                    try b.tensor([0, 0], shape: [1, 2]), try b.tensor([label], shape: [1]), rows: 1, cols: 2,
                    losses: out, grad: g)
            }
        }
    }
}

private final class NSObjectLike {}

/// SGD's weight decay and Nesterov momentum against PyTorch's update rule, step by step.
@Suite struct SGDOptionsTests {
    @Test(arguments: BackendUnderTest.allCases)
    func weightDecayAndNesterovFollowPyTorch(_ which: BackendUnderTest) throws {
        let b = try which.make()
        let p = try b.tensor([1, -2, 0.5], shape: [3]), g = try b.tensor([0.1, 0.2, -0.3], shape: [3]), v = try b.zeros(shape: [3])
        // torch.optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True), two steps with the same gradient.
        var ep: [Double] = [1, -2, 0.5], ev: [Double] = [0, 0, 0]
        let gs: [Double] = [0.1, 0.2, -0.3]
        for _ in 0..<2 {
            try b.sgdMomentum(param: p, grad: g, velocity: v, learningRate: 0.1, momentum: 0.9, weightDecay: 0.01, nesterov: true)
            for i in 0..<3 {
                let gi = gs[i] + 0.01 * ep[i]
                ev[i] = 0.9 * ev[i] + gi
                ep[i] -= 0.1 * (gi + 0.9 * ev[i])
            }
        }
        let got = try b.read(p)
        #expect(zip(got, ep).allSatisfy { Swift.abs(Double($0) - $1) < 1e-6 }, "\(which): \(got) vs \(ep)")
    }
    /// torch.optim.RMSprop's rule (not centered), in double precision, three steps with momentum
    /// and weight decay and three without; the momentum buffer is left alone when μ is 0.
    @Test(arguments: BackendUnderTest.allCases)
    func rmspropFollowsPyTorch(_ which: BackendUnderTest) throws {
        let b = try which.make()
        for (momentum, decay) in [(0.9, 0.01), (0.0, 0.0)] {
            let p = try b.tensor([1, -2, 0.5], shape: [3]), g = try b.tensor([0.1, 0.2, -0.3], shape: [3])
            let s = try b.zeros(shape: [3]), buf = try b.filled(7, shape: [3])
            var ep: [Double] = [1, -2, 0.5], es: [Double] = [0, 0, 0], eb: [Double] = momentum > 0 ? [0, 0, 0] : [7, 7, 7]
            if momentum > 0 { try b.write(buf, [0, 0, 0]) }
            let gs: [Double] = [0.1, 0.2, -0.3]
            for _ in 0..<3 {
                try b.rmsprop(
                    param: p, grad: g, square: s, buffer: buf, learningRate: 0.01, alpha: 0.99, epsilon: 1e-8,
                    weightDecay: Float(decay), momentum: Float(momentum))
                for i in 0..<3 {
                    let gi = gs[i] + decay * ep[i]
                    es[i] = 0.99 * es[i] + 0.01 * gi * gi
                    let u = gi / (es[i].squareRoot() + 1e-8)
                    if momentum > 0 {
                        eb[i] = momentum * eb[i] + u
                        ep[i] -= 0.01 * eb[i]
                    } else {
                        ep[i] -= 0.01 * u
                    }
                }
            }
            for (got, want, what) in [(try b.read(p), ep, "param"), (try b.read(s), es, "square"), (try b.read(buf), eb, "buffer")] {
                #expect(
                    zip(got, want).allSatisfy { Swift.abs(Double($0) - $1) < 1e-5 }, "\(which) μ=\(momentum) \(what): \(got) vs \(want)")
            }
        }
    }
}
