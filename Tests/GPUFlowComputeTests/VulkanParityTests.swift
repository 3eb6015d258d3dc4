import GPUFlowCompute
import GPUFlowTesting
import Testing

/// Every Vulkan kernel against the CPU reference on random inputs, at odd and even sizes and
/// sizes that are not multiples of the GEMM tile. Error is normalised: max |v − c| / max(1, max |c|).
/// Tolerance 1e-4 for every kernel (documented in the README).
@Suite struct VulkanParityTests {
    let cpu = CPUBackend()
    let tolerance: Float = 1e-4

    private func vulkan() throws -> VulkanBackend { try VulkanBackend(context: VulkanContext.shared()) }

    private func random(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var r = Philox(seed: seed)
        return (0..<n).map { _ in (r.uniform() * 2 - 1) * scale }
    }

    private func error(_ v: [Float], _ c: [Float]) -> Float {
        guard v.count == c.count else { return .infinity }
        let top = max(1, c.map(abs).max() ?? 0)
        return zip(v, c).map { abs($0 - $1) }.max().map { $0 / top } ?? 0
    }

    /// Runs `body` on the CPU and on Vulkan, mapped and staged, with the same inputs and compares
    /// the tensors it returns.
    private func compare(_ what: String, _ inputs: [[Float]], _ body: (Backend, [Tensor]) throws -> [Tensor]) throws {
        let onCPU = try body(cpu, inputs.map { try cpu.tensor($0, shape: [$0.count]) })
        for v in [try vulkan(), try VulkanBackend(context: VulkanContext.shared(staging: true))] {
            let onGPU = try body(v, inputs.map { try v.tensor($0, shape: [$0.count]) })
            let read = try v.read(onGPU)
            for (i, c) in onCPU.enumerated() {
                let e = error(read[i], try cpu.read(c))
                #expect(e <= tolerance, "\(what) output \(i) (\(v.context.memoryPath)): normalised error \(e)")
            }
        }
    }

    @Test(arguments: [(1, 1, 1), (3, 5, 7), (16, 16, 16), (17, 33, 9), (64, 10, 128), (100, 37, 65)])
    func gemmAllTransposes(_ dims: (Int, Int, Int)) throws {
        let (m, n, k) = dims
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            try compare("gemm \(m)x\(n)x\(k) tA=\(ta) tB=\(tb)", [random(m * k, seed: 1), random(k * n, seed: 2), random(m * n, seed: 3)]) { b, t in
                try b.gemm(t[0], t[1], t[2], m: m, n: n, k: k, transA: ta, transB: tb, alpha: 0.5, beta: 0.25)
                return [t[2]]
            }
        }
    }

    @Test(arguments: [1, 7, 256, 1000, 4099])
    func elementwiseKernels(_ n: Int) throws {
        let x = random(n, seed: 4, scale: 3), y = random(n, seed: 5), z = random(n, seed: 6)
        for f in Activation.allCases {
            try compare("activation \(f) n=\(n)", [x, y]) { b, t in
                try b.activation(f, t[0], t[1])
                return [t[1]]
            }
            try compare("activationBackward \(f) n=\(n)", [x, y, z]) { b, t in
                try b.activationBackward(f, t[0], t[1], t[2])
                return [t[2]]
            }
        }
        try compare("scale/axpy n=\(n)", [x, y]) { b, t in
            try b.scale(t[0], -1.5)
            try b.axpy(0.3, t[0], t[1])
            return [t[0], t[1]]
        }
        try compare("sgdMomentum n=\(n)", [x, y, z]) { b, t in
            for _ in 0..<3 { try b.sgdMomentum(param: t[0], grad: t[1], velocity: t[2], learningRate: 0.1, momentum: 0.9) }
            return [t[0], t[2]]
        }
        try compare("adam n=\(n)", [x, y, [Float](repeating: 0, count: n), [Float](repeating: 0, count: n)]) { b, t in
            for step in 1...3 {
                try b.adam(param: t[0], grad: t[1], m: t[2], v: t[3], step: step, learningRate: 0.01, beta1: 0.9, beta2: 0.999,
                           epsilon: 1e-8, weightDecay: 0.01)
            }
            return [t[0], t[2], t[3]]
        }
    }

    @Test(arguments: [(1, 1), (5, 3), (33, 10), (64, 17), (257, 2)])
    func rowAndColumnKernels(_ shape: (Int, Int)) throws {
        let (rows, cols) = shape
        let x = random(rows * cols, seed: 7, scale: 4)
        var labels: [Float] = []
        var r = Philox(seed: 8)
        for _ in 0..<rows { labels.append(Float(r.below(cols))) }
        try compare("bias \(rows)x\(cols)", [x, random(cols, seed: 9)]) { b, t in
            try b.addBias(t[0], t[1], rows: rows, cols: cols)
            return [t[0]]
        }
        try compare("softmaxCrossEntropy \(rows)x\(cols)", [x, labels, [Float](repeating: 0, count: rows), x]) { b, t in
            try b.softmaxCrossEntropy(t[0], t[1], rows: rows, cols: cols, losses: t[2], grad: t[3])
            return [t[2], t[3]]
        }
        try compare("mse \(rows)x\(cols)", [x, random(rows * cols, seed: 10), [Float](repeating: 0, count: rows), x]) { b, t in
            try b.mse(t[0], t[1], rows: rows, cols: cols, losses: t[2], grad: t[3])
            return [t[2], t[3]]
        }
        try compare("columnSum \(rows)x\(cols)", [x, [Float](repeating: 0, count: cols)]) { b, t in
            try b.columnSum(t[0], rows: rows, cols: cols, t[1])
            return [t[1]]
        }
        try compare("rowArgmax \(rows)x\(cols)", [x, [Float](repeating: 0, count: rows)]) { b, t in
            try b.rowArgmax(t[0], rows: rows, cols: cols, t[1])
            return [t[1]]
        }
    }

    @Test(arguments: [1, 2, 255, 2048, 2049, 100_000, 1_000_003])
    func reductionsAreRightAndRepeatable(_ n: Int) throws {
        let x = random(n, seed: 11)
        let v = try vulkan()
        let t = try v.tensor(x, shape: [n])
        let exact = x.reduce(0.0) { $0 + Double($1) }, squares = x.reduce(0.0) { $0 + Double($1) * Double($1) }
        let s = try v.sum(t), q = try v.sumOfSquares(t)
        #expect(abs(Double(s) - exact) <= 1e-4 * max(1, Double(n).squareRoot()), "sum n=\(n): \(s) vs \(exact)")
        #expect(abs(Double(q) - squares) / max(1, squares) <= 1e-4, "sumOfSquares n=\(n): \(q) vs \(squares)")
        #expect(try v.sum(t).bitPattern == s.bitPattern, "a fixed reduction order gives the same bits every time")
    }

    @Test func philoxOnTheDeviceMatchesTheHost() throws {
        let v = try vulkan()
        let t = try v.zeros(shape: [1001])
        try v.fillUniform(t, seed: 0xDEAD_BEEF_1234, offset: 5)
        var host = Philox(seed: 0xDEAD_BEEF_1234)
        for _ in 0..<(5 * 4) { _ = host.nextUInt32() }
        let expected = (0..<1001).map { _ in host.uniform() }
        #expect(try v.read(t) == expected)
    }

    @Test func aTrainingStepIsOneSubmission() throws {
        let v = try vulkan()
        let a = try v.tensor(random(64, seed: 1), shape: [8, 8]), w = try v.tensor(random(64, seed: 2), shape: [8, 8])
        let out = try v.zeros(shape: [8, 8]), vel = try v.zeros(shape: [8, 8])
        let before = v.submissions
        try v.gemm(a, w, out, m: 8, n: 8, k: 8, transA: false, transB: false, alpha: 1, beta: 0)
        try v.activation(.relu, out, out)
        try v.sgdMomentum(param: w, grad: out, velocity: vel, learningRate: 0.1, momentum: 0.9)
        #expect(v.submissions == before, "kernels are recorded, not submitted one by one")
        _ = try v.read(w)
        #expect(v.submissions == before + 1)
        let gemm = try #require(v.kernelTimings.first { $0.kernel == "gemm" })
        #expect(gemm.dispatches == 1 && gemm.totalNS > 0 && gemm.maxNS == gemm.totalNS)
        #expect(Set(v.kernelTimings.map(\.kernel)) == ["gemm", "activation", "sgd_momentum"])
        let t = try #require(v.transferStats)
        #expect(t.uploads == 2 && t.uploadBytes == 2 * 64 * 4 && t.downloads == 1 && t.downloadBytes == 64 * 4)
    }

    @Test func badInputsAreTypedErrors() throws {
        let v = try vulkan()
        let small = try v.tensor([1, 2], shape: [2])
        do {
            try v.gemm(small, small, small, m: 2, n: 2, k: 2, transA: false, transB: false, alpha: 1, beta: 0)
            Issue.record("mismatched gemm accepted")
        } catch let e as BackendError {
            #expect(e.code == .shapeMismatch)
        }
        let huge = v.context.maxStorageBufferRange / 4 + 1
        do {
            _ = try v.zeros(shape: [huge])
            Issue.record("a buffer past the max storage buffer range was accepted")
        } catch let e as BackendError {
            #expect(e.code == .outOfMemory && e.message.contains("max storage buffer range"))
        }
        do {
            try v.gemm(try v.zeros(shape: [70_000]), try v.zeros(shape: [70_000]), try v.zeros(shape: [1]), m: 1, n: 1, k: 70_000,
                       transA: false, transB: false, alpha: 1, beta: 0)
            Issue.record("a K past the loop limit was accepted")
        } catch let e as BackendError {
            #expect(e.code == .unsupported)
        }
        #expect(try v.read(small) == [1, 2], "the backend keeps working after errors")
    }
}
