import GPUFlowCompute
import GPUFlowTesting
import Testing

/// ggml's test-backend-ops in spirit: every op of the graph core on every backend, compared
/// with the CPU reference at odd sizes; `supports` must tell the truth about which backend has
/// its own kernel (an op a backend declines still runs, through the reference on its memory).
@Suite struct OpParityTests {
    @Test(arguments: BackendUnderTest.allCases)
    func everyOpMatchesTheReference(_ which: BackendUnderTest) throws {
        let backend = try which.make()
        for c in OpSamples.all {
            let expected = try ReferenceOps.run(c.op, c.inputs)
            let inputs = try c.inputs.map { try backend.tensor($0.values, shape: $0.shape) }
            let out = try backend.run(c.op, inputs)
            let shapes = try c.op.outputShapes(c.inputs.map(\.shape))
            #expect(out.map(\.shape) == shapes, "\(which) \(c): shapes")
            let got = try backend.read(out)
            for (k, (g, e)) in zip(got, expected).enumerated() {
                // A NaN where the reference has a number (or the reverse) is the worst error, not skipped.
                let worst =
                    zip(g, e).map { a, b -> Float in
                        if a.isNaN && b.isNaN { return 0 }
                        let d = Swift.abs(a - b) / Swift.max(1, Swift.abs(b))
                        return d.isNaN ? .infinity : d
                    }.max() ?? 0
                #expect(g.count == e.count && worst <= 1e-5, "\(which) \(c) output \(k): worst relative error \(worst)")
            }
        }
    }

    /// Both convolution algorithms (direct kernels, and im2col + GEMM through the core's ops) on
    /// every backend against the reference's loops, for each geometry of the sample list.
    @Test(arguments: BackendUnderTest.allCases)
    func bothConvolutionAlgorithmsMatchTheReference(_ which: BackendUnderTest) throws {
        let backend = try which.make()
        let samples = OpSamples.all.filter { $0.op.convolution != nil }
        #expect(samples.count == 15, "five geometries, three ops each: \(samples.map(\.label))")
        for c in samples {
            let expected = try ReferenceOps.run(c.op, c.inputs)[0]
            for algorithm in Conv2DAlgorithm.allCases {
                let inputs = try c.inputs.map { try backend.tensor($0.values, shape: $0.shape) }
                let got = try backend.read(try backend.convolve(c.op, inputs, algorithm: algorithm)[0])
                let worst = zip(got, expected).map { Swift.abs($0 - $1) / Swift.max(1, Swift.abs($1)) }.max() ?? .infinity
                #expect(got.count == expected.count && worst <= 1e-5, "\(which) \(algorithm) \(c): worst relative error \(worst)")
            }
        }
    }

    /// What each backend runs with its own kernel; the README's table is this list.
    @Test func supportsSaysWhichBackendHasItsOwnKernel() throws {
        let cpu = CPUBackend(), simd = SIMDBackend()
        for c in OpSamples.all { #expect(cpu.supports(c.op), "the reference runs every op: \(c)") }
        #expect(simd.supports(Op.matmul(transA: false, transB: true)), "SIMD multiplies through OpenBLAS")
        #expect(simd.supports(Op.softmax(axis: -1)) && !simd.supports(Op.softmax(axis: 0)), "SIMD has its own softmax along the last axis")
        #expect(!simd.supports(Op.gather), "SIMD declines what it does not speed up")
        let g = try Conv2DGeometry(channels: 2, height: 4, width: 4, outputs: 3, kernel: (3, 3))
        #expect([Op.conv2d(g), .conv2dGradInput(g), .conv2dGradWeight(g)].allSatisfy(simd.supports), "SIMD convolves with its own loops")
    }

    /// Vulkan's strided kernels take six axes; a seventh runs through the reference, and
    /// `supports(_:shapes:)` says so beforehand.
    @Test(.enabled(if: (try? VulkanContext.shared()) != nil, "no Vulkan device"))
    func vulkanRunsRanksAboveSixOnTheHost() throws {
        let v = try VulkanBackend(context: VulkanContext.shared())
        let shape = [2, 1, 2, 1, 2, 1, 2]
        let op = Op.broadcast(to: [2, 3, 2, 1, 2, 1, 2])
        #expect(!v.supports(op, shapes: [shape]) && v.supports(Op.broadcast(to: [2, 3, 2]), shapes: [[2, 1, 2]]))
        let x = HostArray(OpSamples.values(16, seed: 1), shape)
        let out = try v.read(try v.run(op, [try v.tensor(x.values, shape: shape)])[0])
        #expect(out == (try ReferenceOps.run(op, [x])[0]))
    }

    @Test func shapeErrorsNameTheOpAndWhatDoesNotFit() throws {
        let cpu = CPUBackend()
        let a = try cpu.tensor([1, 2, 3, 4, 5, 6], shape: [2, 3]), b = try cpu.tensor([1, 2, 3, 4], shape: [2, 2])
        #expect(throws: BackendError.self) { try cpu.run(.matmul(transA: false, transB: false), [a, b]) }
        do {
            _ = try cpu.run(.matmul(transA: false, transB: false), [a, b])
        } catch let e as BackendError {
            #expect(e.code == .shapeMismatch && e.message.contains("matmul") && e.message.contains("3 vs 2"), "\(e.message)")
        }
        do {
            _ = try cpu.run(.binary(.add), [a, b])
        } catch let e as BackendError {
            #expect(e.message == "add: shapes [2, 3] and [2, 2] do not broadcast", "\(e.message)")
        }
        do {
            _ = try cpu.run(.gather, [a, try cpu.tensor([0, 5], shape: [2])])
        } catch let e as BackendError {
            #expect(e.message.contains("index 5.0 at position 1 is not a row of 0..<2"), "\(e.message)")
        }
    }

    /// Values PyTorch prints for the same inputs (torch 2.x, float32), so the reference is right
    /// and not only self-consistent.
    @Test func theReferenceAgreesWithKnownValues() throws {
        let x = HostArray([-1, 0, 0.5, 1, 2], [5])
        let close = { (a: [Float], b: [Float]) in zip(a, b).allSatisfy { Swift.abs($0 - $1) < 1e-5 } }
        #expect(close(try ReferenceOps.run(.unary(.gelu), [x])[0], [-0.158655, 0, 0.345731, 0.841345, 1.954500]))
        #expect(close(try ReferenceOps.run(.unary(.geluTanh), [x])[0], [-0.158808, 0, 0.345714, 0.841192, 1.954598]))
        #expect(close(try ReferenceOps.run(.unary(.silu), [x])[0], [-0.268941, 0, 0.311234, 0.731059, 1.761594]))
        let s = try ReferenceOps.run(.softmax(axis: -1), [HostArray([1, 2, 3], [1, 3])])[0]
        #expect(close(s, [0.090031, 0.244728, 0.665241]))
        let ln = try ReferenceOps.run(
            .layerNorm(epsilon: 1e-5),
            [
                HostArray([1, 2, 3, 4], [1, 4]),
                HostArray([1, 1, 1, 1], [4]), HostArray([0, 0, 0, 0], [4]),
            ])
        #expect(close(ln[0], [-1.341635, -0.447212, 0.447212, 1.341635]))
        let mask = ReferenceOps.dropoutMask(count: 10_000, p: 0.25, seed: 3, offset: 0)
        let kept = mask.filter { $0 > 0 }
        #expect(kept.allSatisfy { $0 == Float(1) / 0.75 } && Swift.abs(Double(kept.count) / 10_000 - 0.75) < 0.02)
    }
}
