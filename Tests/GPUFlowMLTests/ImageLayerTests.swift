import Foundation
import GPUFlowCompute
import GPUFlowCore
import GPUFlowTesting
import Testing

@testable import GPUFlowML

/// Convolution and pooling as the core's ops: against direct loops (the definition PyTorch's
/// Conv2d and pools follow), their gradients against finite differences, on every backend.
@Suite struct ImageLayerTests {
    /// Direct cross-correlation: out[b, o, y, x] = bias[o] + Σ in[b, c, y·s − p + ky·d, x·s − p + kx·d] · W[(c, ky, kx), o].
    static func directConv(
        _ x: [Float], rows: Int, c: Int, h: Int, w: Int, weight: [Float], bias: [Float], outputs: Int, k: (Int, Int), s: (Int, Int),
        p: (Int, Int), d: (Int, Int)
    ) -> [Float] {
        let oh = (h + 2 * p.0 - d.0 * (k.0 - 1) - 1) / s.0 + 1, ow = (w + 2 * p.1 - d.1 * (k.1 - 1) - 1) / s.1 + 1
        var out = [Float](repeating: 0, count: rows * outputs * oh * ow)
        for b in 0..<rows {
            for o in 0..<outputs {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var acc = Double(bias[o])
                        for ci in 0..<c {
                            for ky in 0..<k.0 {
                                for kx in 0..<k.1 {
                                    let y = oy * s.0 - p.0 + ky * d.0, xx = ox * s.1 - p.1 + kx * d.1
                                    guard y >= 0, y < h, xx >= 0, xx < w else { continue }
                                    let wi = ((ci * k.0 + ky) * k.1 + kx) * outputs + o
                                    acc += Double(x[((b * c + ci) * h + y) * w + xx]) * Double(weight[wi])
                                }
                            }
                        }
                        out[((b * outputs + o) * oh + oy) * ow + ox] = Float(acc)
                    }
                }
            }
        }
        return out
    }

    static func convGraph(c: Int, h: Int, w: Int, outputs: Int, k: (Int, Int), s: (Int, Int), p: (Int, Int), d: (Int, Int)) throws
        -> GraphModel
    {
        var b = GraphBuilder(inputShape: [c, h, w], seed: 4)
        try b.conv2d(outputs: outputs, kernel: k, stride: s, padding: p, dilation: d)
        var m = b.finished()
        // A bias that is not zero, so it is checked too.
        if let i = m.parameters.firstIndex(where: { $0.name == "conv2d1.bias" }) {
            m.parameters[i].values = (0..<outputs).map { Float($0) * 0.1 - 0.2 }
        }
        return m
    }

    @Test(arguments: BackendUnderTest.allCases)
    func convolutionIsTheDirectDefinition(_ which: BackendUnderTest) throws {
        for (k, s, p, d) in [((3, 3), (1, 1), (1, 1), (1, 1)), ((3, 2), (2, 1), (0, 1), (1, 2)), ((2, 2), (2, 2), (1, 0), (2, 1))] {
            let (c, h, w, o, rows) = (2, 7, 6, 3, 3)
            let m = try Self.convGraph(c: c, h: h, w: w, outputs: o, k: k, s: s, p: p, d: d)
            let x = OpSamples.values(rows * c * h * w, seed: 9)
            let backend = try which.make()
            let got = try backend.read(try GraphRunner(m, on: backend).predict(try backend.tensor(x, shape: [rows, c, h, w])))
            let weight = try #require(m.parameters.first { $0.name == "conv2d1.weight" }).values
            let bias = try #require(m.parameters.first { $0.name == "conv2d1.bias" }).values
            let want = Self.directConv(x, rows: rows, c: c, h: h, w: w, weight: weight, bias: bias, outputs: o, k: k, s: s, p: p, d: d)
            #expect(got.count == want.count, "\(which) k\(k) s\(s) p\(p) d\(d): \(got.count) values, want \(want.count)")
            let err = zip(got, want).map { Swift.abs($0 - $1) }.max() ?? .infinity
            #expect(err < 1e-5, "\(which) k\(k) s\(s) p\(p) d\(d): max error \(err)")
        }
    }

    /// Grouped and depthwise convolution against loops over each group's channels, on every
    /// backend: weight [g, channels/g·kh·kw, outputs/g], output o in group o / (outputs/g).
    @Test(arguments: BackendUnderTest.allCases)
    func groupedConvolutionIsTheDirectDefinition(_ which: BackendUnderTest) throws {
        let backend = try which.make()
        for (c, o, g) in [(4, 6, 2), (3, 3, 3), (4, 8, 4)] {
            let (h, w, rows, k) = (5, 4, 2, (3, 3))
            var b = GraphBuilder(inputShape: [c, h, w], seed: 2)
            try b.conv2d(outputs: o, kernel: k, padding: (1, 1), groups: g)
            var m = b.finished()
            let bi = try #require(m.parameters.firstIndex { $0.name == "conv2d1.bias" })
            m.parameters[bi].values = (0..<o).map { Float($0) * 0.05 }
            let weight = try #require(m.parameters.first { $0.name == "conv2d1.weight" })
            #expect(weight.shape == [g, c / g * 9, o / g])
            let x = OpSamples.values(rows * c * h * w, seed: 12)
            let got = try backend.read(try GraphRunner(m, on: backend).predict(try backend.tensor(x, shape: [rows, c, h, w])))
            let (cg, og) = (c / g, o / g)
            var want = [Float](repeating: 0, count: rows * o * h * w)
            for r in 0..<rows {
                for oc in 0..<o {
                    let grp = oc / og
                    for y in 0..<h {
                        for xx in 0..<w {
                            var acc = Double(m.parameters[bi].values[oc])
                            for cl in 0..<cg {
                                for ky in 0..<3 {
                                    for kx in 0..<3 {
                                        let iy = y - 1 + ky, ix = xx - 1 + kx
                                        guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                                        let wi = (grp * cg * 9 + (cl * 3 + ky) * 3 + kx) * og + oc % og
                                        acc += Double(x[((r * c + grp * cg + cl) * h + iy) * w + ix]) * Double(weight.values[wi])
                                    }
                                }
                            }
                            want[((r * o + oc) * h + y) * w + xx] = Float(acc)
                        }
                    }
                }
            }
            let err = zip(got, want).map { Swift.abs($0 - $1) }.max() ?? .infinity
            #expect(got.count == want.count && err < 1e-5, "\(which) c\(c) o\(o) g\(g): max error \(err)")
            // Its gradient against finite differences (CPU once).
            if which == .cpu {
                let cpu = CPUBackend()
                let rr = OpSamples.values(want.count, seed: 13)
                func objective(_ model: GraphModel) throws -> Double {
                    let y = try cpu.read(try GraphRunner(model, on: cpu).predict(try cpu.tensor(x, shape: [rows, c, h, w])))
                    return zip(y, rr).reduce(0) { $0 + Double($1.0) * Double($1.1) }
                }
                let tape = Tape(backend: cpu)
                let pass = try GraphRunner(m, on: cpu).forward(try cpu.tensor(x, shape: [rows, c, h, w]), on: tape, training: true)
                let wi = try #require(m.parameters.firstIndex { $0.name == "conv2d1.weight" })
                let gw = try cpu.read(
                    try #require(
                        try tape.gradients(of: pass.output, seed: try cpu.tensor(rr, shape: [rows, o, h, w]))[pass.parameters[wi]]))
                for j in [0, gw.count / 2, gw.count - 1] {
                    var plus = m, minus = m
                    plus.parameters[wi].values[j] += 1e-2
                    minus.parameters[wi].values[j] -= 1e-2
                    let fd = (try objective(plus) - objective(minus)) / 2e-2
                    #expect(
                        Swift.abs(fd - Double(gw[j])) < 2e-3 * max(1, Swift.abs(fd)), "g\(g) weight \(j): tape \(gw[j]), differences \(fd)")
                }
            }
        }
        var bad = GraphBuilder(inputShape: [4, 5, 5], seed: 1)
        #expect { try bad.conv2d(outputs: 6, kernel: (3, 3), groups: 3) } throws: { e in
            "\(e)".contains("layer conv2d1: 4 channels and 6 outputs do not both split into 3 groups")
        }
    }

    /// d(Σ out · r)/d weight from the tape against central differences (CPU).
    @Test func convolutionGradientsMatchFiniteDifferences() throws {
        let (c, h, w, o, rows) = (2, 5, 5, 2, 2)
        let m = try Self.convGraph(c: c, h: h, w: w, outputs: o, k: (3, 3), s: (2, 1), p: (1, 1), d: (1, 1))
        let cpu = CPUBackend()
        let x = OpSamples.values(rows * c * h * w, seed: 3)
        let outCount = try m.outputShape(rows: rows).reduce(1, *)
        let r = OpSamples.values(outCount, seed: 5)
        func objective(_ model: GraphModel, _ input: [Float]) throws -> Double {
            let y = try cpu.read(try GraphRunner(model, on: cpu).predict(try cpu.tensor(input, shape: [rows, c, h, w])))
            return zip(y, r).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }
        let runner = try GraphRunner(m, on: cpu)
        let tape = Tape(backend: cpu)
        let xt = try cpu.tensor(x, shape: [rows, c, h, w])
        let pass = try runner.forward(xt, on: tape, training: true)
        let grads = try tape.gradients(of: pass.output, seed: try cpu.tensor(r, shape: try m.outputShape(rows: rows)))
        let wi = try #require(m.parameters.firstIndex { $0.name == "conv2d1.weight" })
        let gw = try cpu.read(try #require(grads[pass.parameters[wi]]))
        let eps: Float = 1e-2
        for j in [0, 5, 11, 17, gw.count - 1] {
            var plus = m, minus = m
            plus.parameters[wi].values[j] += eps
            minus.parameters[wi].values[j] -= eps
            let fd = (try objective(plus, x) - objective(minus, x)) / Double(2 * eps)
            #expect(Swift.abs(fd - Double(gw[j])) < 2e-3 * max(1, Swift.abs(fd)), "weight \(j): tape \(gw[j]), differences \(fd)")
        }
        let bi = try #require(m.parameters.firstIndex { $0.name == "conv2d1.bias" })
        let gb = try cpu.read(try #require(grads[pass.parameters[bi]]))
        // The bias's gradient is the seed summed over rows and positions, per output.
        let positions = r.count / (rows * gb.count)
        for o in 0..<gb.count {
            let want = (0..<rows).reduce(Float(0)) { acc, n in
                acc + r[(n * gb.count + o) * positions..<(n * gb.count + o + 1) * positions].reduce(0, +)
            }
            #expect(Swift.abs(gb[o] - want) < 1e-4, "bias \(o): tape \(gb[o]), sum \(want)")
        }
    }

    @Test(arguments: BackendUnderTest.allCases)
    func poolingIsTheWindowsMaxOrMean(_ which: BackendUnderTest) throws {
        let (c, h, w, rows) = (2, 5, 6, 2)  // 5 rows: the last is dropped by a 2×2 pool, as PyTorch does
        let x = OpSamples.values(rows * c * h * w, seed: 4)
        for reduce in [ReduceOp.max, .mean] {
            var b = GraphBuilder(inputShape: [c, h, w], seed: 1)
            try b.pool2d(reduce, kernel: (2, 3))
            let backend = try which.make()
            let got = try backend.read(try GraphRunner(b.finished(), on: backend).predict(try backend.tensor(x, shape: [rows, c, h, w])))
            var want: [Float] = []
            for bi in 0..<rows {
                for ci in 0..<c {
                    for oy in 0..<2 {
                        for ox in 0..<2 {
                            var window: [Float] = []
                            for ky in 0..<2 { for kx in 0..<3 { window.append(x[((bi * c + ci) * h + oy * 2 + ky) * w + ox * 3 + kx]) } }
                            want.append(reduce == .max ? window.max()! : window.reduce(0, +) / 6)
                        }
                    }
                }
            }
            let err = zip(got, want).map { Swift.abs($0 - $1) }.max() ?? .infinity
            #expect(got.count == want.count && err < 1e-5, "\(which) \(reduce): error \(err)")
        }
        var g = GraphBuilder(inputShape: [c, h, w], seed: 1)
        try g.globalAvgPool()
        let backend = try which.make()
        let got = try backend.read(try GraphRunner(g.finished(), on: backend).predict(try backend.tensor(x, shape: [rows, c, h, w])))
        let want = (0..<(rows * c)).map { i in x[(i * h * w)..<((i + 1) * h * w)].reduce(0, +) / Float(h * w) }
        #expect(zip(got, want).allSatisfy { Swift.abs($0 - $1) < 1e-5 }, "\(which) global average: \(got) vs \(want)")
    }

    /// A small CNN learns which quadrant of a 6×6 image holds a bright square, on CPU and Vulkan.
    @Test(arguments: [BackendUnderTest.cpu, .vulkan])
    func aSmallCNNLearnsQuadrants(_ which: BackendUnderTest) throws {
        var rng = Philox(seed: 2)
        var x: [Float] = [], y: [Float] = []
        for i in 0..<160 {
            let q = i % 4
            var img = (0..<36).map { _ in rng.normal() * 0.1 }
            let (oy, ox) = (q / 2 * 3, q % 2 * 3)
            for dy in 0..<2 { for dx in 0..<2 { img[(oy + dy) * 6 + ox + dx] += 1 } }
            x += img
            y.append(Float(q))
        }
        let data = try Dataset(features: x, rows: 160, cols: 36, labels: y, source: "quadrants").reshaped([1, 6, 6])
        var b = GraphBuilder(inputShape: [1, 6, 6], seed: 1)
        try b.conv2d(outputs: 4, kernel: (3, 3), padding: (1, 1), init: .relu)
        try b.activation(.relu)
        try b.pool2d(.max, kernel: (3, 3))
        try b.flatten()
        try b.linear(outputs: 4)
        let r = try GraphTrainer.train(
            b.finished(), data: data, epochs: 15, batchSize: 16, algorithm: .adam(Adam(learningRate: 0.02)), backend: try which.make(),
            seed: 1)
        #expect((r.accuracy ?? 0) > 0.95, "\(which): accuracy \(r.accuracy ?? 0), losses \(r.losses)")
    }

    /// A model file's convolution passes the checks a layer being built does: groups of 0, a
    /// negative stride or a 2^40 dilation are refused when the file is read, not divided by or
    /// overflowed on later.
    @Test func aModelFilesConvolutionGeometryIsChecked() throws {
        var b = GraphBuilder(inputShape: [2, 6, 6], seed: 1)
        try b.conv2d(outputs: 4, kernel: (3, 3), padding: (1, 1))
        let good = try b.finished()
        let file = try GraphModelFile.encode(good)
        #expect(try GraphModelFile.decode(file, file: "good.safetensors").nodes == good.nodes)
        let json = String(decoding: try StableJSON.encode(good), as: UTF8.self)
        #expect(json.contains("\"groups\":1") && json.contains("\"stride\":[1,1]"), "the geometry is in the graph: \(json.prefix(300))")
        for (bad, why) in [
            ("\"groups\":0", "split into 0 groups"), ("\"stride\":[-1,1]", "at least 1"), ("\"dilation\":[1099511627776,1]", "past 2^20"),
        ] {
            let edited = json.replacingOccurrences(
                of: bad.hasPrefix("\"groups") ? "\"groups\":1" : bad.hasPrefix("\"stride") ? "\"stride\":[1,1]" : "\"dilation\":[1,1]",
                with: bad)
            #expect(edited != json)
            #expect { try JSONDecoder().decode(GraphModel.self, from: Data(edited.utf8)) } throws: { e in "\(e)".contains(why) }
        }
    }

    @Test func badImageLayersAreRefusedWithTheLayerNamed() throws {
        var b = GraphBuilder(inputShape: [1, 4, 4], seed: 1)
        #expect { try b.conv2d(outputs: 2, kernel: (5, 5)) } throws: { e in
            "\(e)".contains("layer conv2d1: a 5×5 kernel (dilation 1×1) is larger than its padded input 4×4")
        }
        var flat = GraphBuilder(inputShape: [16], seed: 1)
        #expect { try flat.conv2d(outputs: 2, kernel: (3, 3)) } throws: { e in
            "\(e)".contains("takes samples of shape [channels, height, width], got [16]")
        }
        var wide = GraphBuilder(inputShape: [7000, 3, 3], seed: 1)
        #expect { try wide.conv2d(outputs: 2, kernel: (3, 3)) } throws: { e in
            "\(e)".contains("layer conv2d1: a window of 63000 values") && "\(e)".contains("this version takes at most 60,000")
        }
        // A padding that asks for 1.7e10 outputs per sample is refused when built, not allocated.
        var padded = GraphBuilder(inputShape: [1, 8, 8], seed: 1)
        #expect { try padded.conv2d(outputs: 1, kernel: (1, 1), padding: (65_536, 65_536)) } throws: { e in
            "\(e)".contains("layer conv2d1: one sample's image (64 values) or output (17181966400) passes 2^24 values")
        }
        var fanOut = GraphBuilder(inputShape: [1, 8, 8], seed: 1)
        #expect { try fanOut.conv2d(outputs: 7000, kernel: (3, 3)) } throws: { e in "\(e)".contains("63000 (kh·kw·outputs/groups)") }
        var pool = GraphBuilder(inputShape: [1, 2, 2], seed: 1)
        #expect { try pool.pool2d(.max, kernel: (3, 3)) } throws: { e in "\(e)".contains("a 3×3 window is larger than its input 2×2") }
    }

    /// Each augmented image is the original shifted by some (dy, dx) within the padding (zeros
    /// coming in at the edges), mirrored or not; the same (seed, step) draws the same images.
    @Test func augmentationCropsAndFlipsAsSeeded() throws {
        let (c, h, w, rows) = (2, 4, 5, 6)
        let x = (0..<(rows * c * h * w)).map { Float($0 + 1) }
        let a = ImageAugmentation(cropPadding: 1, horizontalFlip: true)
        var once = x, again = x, other = x
        a.apply(&once, shape: [c, h, w], seed: 3, step: 7)
        a.apply(&again, shape: [c, h, w], seed: 3, step: 7)
        a.apply(&other, shape: [c, h, w], seed: 3, step: 8)
        #expect(once == again)
        #expect(once != other, "another step draws other crops")
        #expect(once != x)
        let size = c * h * w
        for r in 0..<rows {
            let src = Array(x[(r * size)..<((r + 1) * size)]), got = Array(once[(r * size)..<((r + 1) * size)])
            var found = false
            for dy in -1...1 {
                for dx in -1...1 {
                    for flip in [false, true] {
                        var want = [Float](repeating: 0, count: size)
                        for ci in 0..<c {
                            for y in 0..<h {
                                for xx in 0..<w {
                                    let sy = y + dy, sx = (flip ? w - 1 - xx : xx) + dx
                                    if sy >= 0, sy < h, sx >= 0, sx < w { want[(ci * h + y) * w + xx] = src[(ci * h + sy) * w + sx] }
                                }
                            }
                        }
                        if want == got { found = true }
                    }
                }
            }
            #expect(found, "row \(r) is not a shifted (and perhaps mirrored) copy")
        }
    }

    /// Training with augmentation replays (the same seed, the same model) and trains otherwise
    /// than without it.
    @Test func augmentedTrainingIsReproducible() throws {
        let data = try Dataset(
            features: OpSamples.values(40 * 16, seed: 1), rows: 40, cols: 16, labels: (0..<40).map { Float($0 % 2) }, source: "r"
        ).reshaped([1, 4, 4])
        var b = GraphBuilder(inputShape: [1, 4, 4], seed: 1)
        try b.flatten()
        try b.linear(outputs: 2)
        var task = TrainingTask(algorithm: .adam(Adam(learningRate: 0.01)), epochs: 3, batchSize: 8)
        let plain = try GraphTrainer.train(b.finished(), data: data, task: task, backend: CPUBackend(), seed: 2)
        task.augmentation = ImageAugmentation(cropPadding: 1, horizontalFlip: true)
        let one = try GraphTrainer.train(b.finished(), data: data, task: task, backend: CPUBackend(), seed: 2)
        let two = try GraphTrainer.train(b.finished(), data: data, task: task, backend: CPUBackend(), seed: 2)
        #expect(one.model.contentHash == two.model.contentHash)
        #expect(one.model.contentHash != plain.model.contentHash)
    }
    /// Batch norm as PyTorch defines it, train and eval, on every backend: in training the
    /// batch's per-channel mean and biased variance, and after the step running averages with
    /// momentum 0.1 (the variance unbiased); at inference those averages.
    @Test(arguments: BackendUnderTest.allCases)
    func batchNormIsPyTorchsInBothModes(_ which: BackendUnderTest) throws {
        let (rows, c, h, w) = (3, 2, 3, 2)
        var b = GraphBuilder(inputShape: [c, h, w], seed: 1)
        try b.batchNorm()
        try b.flatten()  // the same values, as [rows, C·H·W], the shape the training loop takes
        var m = b.finished()
        let gi = try #require(m.parameters.firstIndex { $0.name == "batch_norm1.weight" })
        let bi = try #require(m.parameters.firstIndex { $0.name == "batch_norm1.bias" })
        m.parameters[gi].values = [1.5, 0.5]
        m.parameters[bi].values = [0.1, -0.2]
        let x = OpSamples.values(rows * c * h * w, seed: 7)
        let n = rows * h * w
        var mean = [Double](repeating: 0, count: c), variance = [Double](repeating: 0, count: c)
        for ch in 0..<c {
            let v = (0..<rows).flatMap { r in (0..<(h * w)).map { Double(x[(r * c + ch) * h * w + $0]) } }
            mean[ch] = v.reduce(0, +) / Double(n)
            variance[ch] = v.reduce(0) { $0 + ($1 - mean[ch]) * ($1 - mean[ch]) } / Double(n)
        }
        func direct(_ mu: [Double], _ sigma2: [Double]) -> [Float] {
            (0..<x.count).map { i in
                let ch = (i / (h * w)) % c
                return Float(
                    (Double(x[i]) - mu[ch]) / (sigma2[ch] + 1e-5).squareRoot() * Double(m.parameters[gi].values[ch])
                        + Double(m.parameters[bi].values[ch]))
            }
        }
        let backend = try which.make()
        let net = try GraphTraining(m, on: backend, frozen: [], seed: 1)
        let xt = try backend.tensor(x, shape: [rows, c, h, w])
        let pass = try net.trainingPass(xt, rows: rows, step: 1)
        let trainOut = try backend.read(pass.output)
        _ = try pass.gradients(try backend.filled(1, shape: [rows, c * h * w]))
        let err = zip(trainOut, direct(mean, variance)).map { Swift.abs($0 - $1) }.max() ?? .infinity
        #expect(err < 1e-4, "\(which): training output off by \(err)")
        let trained = try net.export()
        let rm = try #require(trained.parameters.first { $0.name == "batch_norm1.running_mean" }).values
        let rv = try #require(trained.parameters.first { $0.name == "batch_norm1.running_var" }).values
        for ch in 0..<c {
            #expect(Swift.abs(Double(rm[ch]) - 0.1 * mean[ch]) < 1e-5, "\(which): running mean \(rm)")
            #expect(
                Swift.abs(Double(rv[ch]) - (0.9 + 0.1 * variance[ch] * Double(n) / Double(n - 1))) < 1e-5, "\(which): running var \(rv)")
        }
        // Eval: the running averages, whatever the batch.
        let evalOut = try backend.read(try GraphRunner(trained, on: backend).predict(xt))
        let want = direct(rm.map(Double.init), rv.map(Double.init))
        let evalErr = zip(evalOut, want).map { Swift.abs($0 - $1) }.max() ?? .infinity
        #expect(evalErr < 1e-4, "\(which): eval output off by \(evalErr)")
        #expect(trained.parameters.filter { $0.layer == "batch_norm1" && !$0.trainable }.count == 2, "the running statistics are buffers")
    }

    /// Through the batch statistics: d(Σ out · r)/dx and /dγ against central differences.
    @Test func batchNormGradientsMatchFiniteDifferences() throws {
        let (rows, c, h, w) = (2, 2, 2, 3)
        var b = GraphBuilder(inputShape: [c, h, w], seed: 1)
        try b.batchNorm()
        let m = b.finished()
        let cpu = CPUBackend()
        let x = OpSamples.values(rows * c * h * w, seed: 4)
        let r = OpSamples.values(x.count, seed: 6)
        func objective(_ input: [Float], _ model: GraphModel) throws -> Double {
            let tape = Tape(backend: cpu)
            let out = try GraphRunner(model, on: cpu).forward(try cpu.tensor(input, shape: [rows, c, h, w]), on: tape, training: true)
                .output
            return zip(try cpu.read(tape.tensor(out)), r).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }
        let tape = Tape(backend: cpu)
        let runner = try GraphRunner(m, on: cpu)
        let pass = try runner.forward(try cpu.tensor(x, shape: [rows, c, h, w]), on: tape, training: true)
        let grads = try tape.gradients(of: pass.output, seed: try cpu.tensor(r, shape: [rows, c, h, w]))
        let gi = try #require(m.parameters.firstIndex { $0.name == "batch_norm1.weight" })
        let gg = try cpu.read(try #require(grads[pass.parameters[gi]]))
        let eps: Float = 1e-2
        for j in 0..<c {
            var plus = m, minus = m
            plus.parameters[gi].values[j] += eps
            minus.parameters[gi].values[j] -= eps
            let fd = (try objective(x, plus) - objective(x, minus)) / Double(2 * eps)
            #expect(Swift.abs(fd - Double(gg[j])) < 2e-3 * max(1, Swift.abs(fd)), "gamma \(j): tape \(gg[j]), differences \(fd)")
        }
        // The input's gradient, through the mean and the variance (a model with the batch norm second).
        var first = GraphBuilder(inputShape: [c, h, w], seed: 2)
        try first.conv2d(outputs: c, kernel: (1, 1))
        try first.batchNorm()
        let chain = first.finished()
        let wi = try #require(chain.parameters.firstIndex { $0.name == "conv2d1.weight" })
        let t2 = Tape(backend: cpu)
        let p2 = try GraphRunner(chain, on: cpu).forward(try cpu.tensor(x, shape: [rows, c, h, w]), on: t2, training: true)
        let gw = try cpu.read(
            try #require(try t2.gradients(of: p2.output, seed: try cpu.tensor(r, shape: [rows, c, h, w]))[p2.parameters[wi]]))
        for j in 0..<gw.count {
            var plus = chain, minus = chain
            plus.parameters[wi].values[j] += eps
            minus.parameters[wi].values[j] -= eps
            let fd = (try objective(x, plus) - objective(x, minus)) / Double(2 * eps)
            #expect(
                Swift.abs(fd - Double(gw[j])) < 3e-3 * max(1, Swift.abs(fd)),
                "conv weight \(j) through the batch norm: tape \(gw[j]), differences \(fd)")
        }
    }

    /// A CNN with batch norm trains, its running statistics move and are saved, and resuming
    /// from a checkpoint gives the uninterrupted run's bits (statistics included).
    @Test func batchNormTrainsSavesAndResumes() throws {
        var rng = Philox(seed: 3)
        var x: [Float] = [], y: [Float] = []
        for i in 0..<96 {
            let q = i % 2
            var img = (0..<16).map { _ in rng.normal() * 0.2 + 3 }  // far from zero mean: what batch norm is for
            for k in 0..<4 { img[q == 0 ? k : 12 + k] += 2 }
            x += img
            y.append(Float(q))
        }
        let data = try Dataset(features: x, rows: 96, cols: 16, labels: y, source: "bars").reshaped([1, 4, 4])
        var b = GraphBuilder(inputShape: [1, 4, 4], seed: 1)
        try b.conv2d(outputs: 4, kernel: (3, 3), padding: (1, 1))
        try b.batchNorm()
        try b.activation(.relu)
        try b.globalAvgPool()
        try b.linear(outputs: 2)
        let model = b.finished()
        let dir = try TestPaths.temporaryDirectory()
        var task = TrainingTask(algorithm: .adam(Adam(learningRate: 0.02)), epochs: 6, batchSize: 16, loss: .cross_entropy)
        let whole = try GraphTrainer.train(model, data: data, task: task, backend: CPUBackend(), seed: 1)
        #expect((whole.accuracy ?? 0) > 0.9, "accuracy \(whole.accuracy ?? 0)")
        let rm = try #require(whole.model.parameters.first { $0.name == "batch_norm1.running_mean" }).values
        #expect(rm.allSatisfy { $0 != 0 }, "the running mean moved: \(rm)")
        task.epochs = 3
        task.checkpointEvery = 3
        task.checkpointPath = dir.appendingPathComponent("bn.ckpt").path
        _ = try GraphTrainer.train(model, data: data, task: task, backend: CPUBackend(), seed: 1)
        task.epochs = 6
        task.checkpointEvery = nil
        task.resumeFrom = dir.appendingPathComponent("bn.ckpt").path
        let resumed = try GraphTrainer.train(model, data: data, task: task, backend: CPUBackend(), seed: 1)
        #expect(resumed.resumedFromEpoch == 3)
        #expect(resumed.model.parameters.map(\.values) == whole.model.parameters.map(\.values), "resumed bits equal the whole run's")
        let file = dir.appendingPathComponent("bn.safetensors").path
        try GraphNetwork(whole.model).save(to: file)
        let loaded = try GraphModelFile.decode([UInt8](try Data(contentsOf: URL(fileURLWithPath: file))), file: file)
        #expect(
            loaded.parameters.first { $0.name == "batch_norm1.running_var" }?.values
                == whole.model.parameters.first { $0.name == "batch_norm1.running_var" }?.values)
    }
}
