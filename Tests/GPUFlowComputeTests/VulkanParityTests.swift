import GPUFlowCompute
import GPUFlowTesting
import Testing

/// Every Vulkan kernel against the CPU reference (KernelParity: random inputs at odd and even
/// sizes and sizes that are not multiples of the GEMM tile; error max |v − c| / max(1, max |c|)
/// ≤ 1e-4 for every kernel), plus what parity alone cannot show.
@Suite struct VulkanParityTests {
    private func vulkan() throws -> VulkanBackend { try VulkanBackend(context: VulkanContext.shared()) }

    private func random(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var r = Philox(seed: seed)
        return (0..<n).map { _ in (r.uniform() * 2 - 1) * scale }
    }

    /// Every kernel against the CPU on the mapped and on the staged memory path.
    @Test(arguments: [false, true])
    func everyKernelMatchesTheCPUReference(_ staging: Bool) throws {
        let results = try KernelParity.run(VulkanBackend(context: VulkanContext.shared(staging: staging)))
        #expect(results.count > 100)
        for r in results { #expect(r.passed, "\(r)") }
    }

    @Test func theSIMDBackendMatchesTheCPUReference() throws {
        let results = try KernelParity.run(SIMDBackend())
        for r in results { #expect(r.passed, "\(r)") }
    }

    /// scripts/lib/setup.sh installs OpenBLAS's OpenMP build and the run path prefers it; the
    /// pthreads build runs half of all mid-sized products at one-thread speed on 2 cores.
    @Test func theSIMDBackendLoadsOpenBLASsOpenMPBuild() {
        #expect(SIMDBackend().deviceDescription.contains("OpenBLAS (OpenMP)"), "\(SIMDBackend().deviceDescription)")
    }

    /// The GEMM workgroup the optimizer may choose (4×4, 8×8) gives the same results.
    @Test(arguments: [UInt32(4), 8])
    func otherGemmTilesMatchTheCPUReference(_ tile: UInt32) throws {
        let v = try vulkan()
        v.gemmTile = tile
        #expect(v.gemmTile == tile)
        for r in try KernelParity.run(v) where r.check.hasPrefix("gemm") { #expect(r.passed, "tile \(tile): \(r)") }
        v.gemmTile = 3  // not a supported side: refused, the previous one kept
        #expect(v.gemmTile == tile)
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
        let gemm = try #require(v.kernelTimings.first { $0.kernel == "gemm_tiled" }, "an 8×8 product takes the tiled kernel")
        #expect(gemm.dispatches == 1 && gemm.totalNS > 0 && gemm.maxNS == gemm.totalNS)
        #expect(Set(v.kernelTimings.map(\.kernel)) == ["gemm_tiled", "activation", "sgd_momentum"])
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
            try v.gemm(
                try v.zeros(shape: [70_000]), try v.zeros(shape: [70_000]), try v.zeros(shape: [1]), m: 1, n: 1, k: 70_000,
                transA: false, transB: false, alpha: 1, beta: 0)
            Issue.record("a K past the loop limit was accepted")
        } catch let e as BackendError {
            #expect(e.code == .unsupported)
        }
        #expect(try v.read(small) == [1, 2], "the backend keeps working after errors")
    }
}
