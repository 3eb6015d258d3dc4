import Foundation
import GPUFlowCompute
import GPUFlowCore
import GPUFlowTesting
import Testing

@testable import GPUFlowML

/// Token sequences: the text windows, attention against its definition (softmax(q·kᵀ/√d + mask)·v
/// per head, written as loops), its gradients against finite differences, a small transformer
/// learning real text on the CPU and on Vulkan, and seeded generation.
@Suite struct SequenceLayerTests {
    static let corpus = TestPaths.repository.appendingPathComponent("examples/data/fortunes.txt").path

    /// The first `bytes` of the fortunes corpus as windows of `context` characters.
    static func text(bytes: Int, context: Int) throws -> Dataset {
        let all = try #require(FileManager.default.contents(atPath: corpus))
        return try TextCorpus.dataset(bytes: [UInt8](all.prefix(bytes)), level: .char, context: context, source: "fortunes")
    }

    @Test func textBecomesNextTokenWindowsSplitByPosition() throws {
        let d = try TextCorpus.dataset(bytes: Array("abcabcabcab".utf8), level: .char, context: 3, source: "t")
        #expect(d.vocabulary?.tokens == ["a", "b", "c"])
        #expect(d.rows == 3 && d.cols == 3 && d.positions == 3)
        #expect(Array(d.row(1)) == [0, 1, 2] && Array(d.target(1)) == [1, 2, 0], "window 2 is 'abc', its targets 'bca'")
        #expect(Array(d.row(2)) == [0, 1, 2] && Array(d.target(2)) == [1, 2, 0])
        let overlapping = try TextCorpus.dataset(bytes: Array("abcabcabcab".utf8), level: .byte, context: 4, stride: 1, source: "t")
        #expect(overlapping.rows == 7 && overlapping.vocabulary?.count == 256 && Array(overlapping.row(1)) == [98, 99, 97, 98])
        // Held out by position: the validation windows are the last ones, in order.
        let long = try Self.text(bytes: 4000, context: 16)
        let (train, validation) = long.holdingOut(0.25, seed: 3)
        let v = try #require(validation)
        #expect(train.rows + v.rows == long.rows)
        #expect(Array(train.row(0)) == Array(long.row(0)) && Array(v.row(0)) == Array(long.row(train.rows)))
        #expect(Array(v.row(v.rows - 1)) == Array(long.row(long.rows - 1)))
        // Overlapping windows (stride < context): no window of the training part reaches past the
        // validation part's first token but for the one two adjacent windows share. With 60
        // distinct characters a token's id is its position in the text.
        let distinct = String((0..<60).map { Character(Unicode.Scalar(0x3B1 + $0)!) })
        let sliding = try TextCorpus.dataset(bytes: Array(distinct.utf8), level: .char, context: 8, stride: 2, source: "greek")
        let parts = sliding.split([("train", 0.5), ("validation", 0.5)], seed: 0)
        let (tr, va) = (parts[0].1, parts[1].1)
        let trainLast = (0..<tr.rows).map { Int(tr.target($0).last ?? -1) }.max() ?? -1
        let validationFirst = Int(va.row(0).first ?? -1)
        #expect(trainLast <= validationFirst, "training reaches token \(trainLast), validation starts at \(validationFirst)")
        #expect(
            tr.rows == sliding.rows / 2 - 3,
            "context 8 at stride 2: the 3 windows before the boundary are left out (\(tr.rows) of \(sliding.rows))")
        #expect(va.rows == sliding.rows - sliding.rows / 2)
        #expect { try TextCorpus.dataset(bytes: Array("ab".utf8), level: .char, context: 2, source: "short.txt") } throws: { e in
            "\(e)".contains("short.txt: the text has 2 tokens; a context of 2 needs at least 3")
        }
        // Overlapping windows multiply the text: bounded before anything is allocated.
        let long2 = [UInt8](repeating: 97, count: 200_000)
        #expect { try TextCorpus.dataset(bytes: long2, level: .byte, context: 4096, stride: 1, source: "big.txt") } throws: { e in
            "\(e)".contains("big.txt: 195904 windows of 4096 tokens are more than the 268435456 tokens a text data set holds")
        }
        #expect { try TextCorpus.dataset(bytes: [0x61, 0xFF, 0x62], level: .char, context: 1, source: "bad.txt") } throws: { e in
            "\(e)".contains("bad.txt: byte 2 is not valid UTF-8")
        }
    }

    /// Attention as loops over rows, heads and positions, from the layer's own parameters.
    static func directAttention(_ x: [Float], rows: Int, t: Int, d: Int, heads: Int, causal: Bool, params: [String: [Float]]) -> [Float] {
        let wqkv = params["attention1.qkv.weight"]!, bqkv = params["attention1.qkv.bias"]!
        let wo = params["attention1.proj.weight"]!, bo = params["attention1.proj.bias"]!
        let dh = d / heads
        var out = [Float](repeating: 0, count: rows * t * d)
        for r in 0..<rows {
            func proj(_ p: Int, _ col: Int) -> Double {
                var acc = Double(bqkv[col])
                for i in 0..<d { acc += Double(x[(r * t + p) * d + i]) * Double(wqkv[i * 3 * d + col]) }
                return acc
            }
            var mixed = [Double](repeating: 0, count: t * d)
            for h in 0..<heads {
                for i in 0..<t {
                    var scores = [Double](repeating: -.infinity, count: t)
                    for j in 0..<t where !causal || j <= i {
                        scores[j] = (0..<dh).reduce(0.0) { $0 + proj(i, h * dh + $1) * proj(j, d + h * dh + $1) } / Double(dh).squareRoot()
                    }
                    let top = scores.max()!
                    let e = scores.map { $0 == -.infinity ? 0 : exp($0 - top) }
                    let total = e.reduce(0, +)
                    for j in 0..<t where e[j] > 0 {
                        for k in 0..<dh { mixed[i * d + h * dh + k] += e[j] / total * proj(j, 2 * d + h * dh + k) }
                    }
                }
            }
            for p in 0..<t {
                for o in 0..<d {
                    var acc = Double(bo[o])
                    for i in 0..<d { acc += mixed[p * d + i] * Double(wo[i * d + o]) }
                    out[(r * t + p) * d + o] = Float(acc)
                }
            }
        }
        return out
    }

    /// token embedding → attention, with biases that are not zero.
    static func attentionGraph(t: Int, tokens: Int, d: Int, heads: Int, causal: Bool) throws -> GraphModel {
        var b = GraphBuilder(inputShape: [t], seed: 5)
        try b.tokenEmbedding(tokens: tokens, dims: d)
        try b.attention(heads: heads, causal: causal)
        var m = b.finished()
        for i in m.parameters.indices where m.parameters[i].name.hasSuffix(".bias") {
            m.parameters[i].values = OpSamples.values(m.parameters[i].values.count, seed: UInt64(i + 1)).map { $0 * 0.3 }
        }
        return m
    }

    @Test(arguments: BackendUnderTest.allCases)
    func attentionIsTheDirectDefinition(_ which: BackendUnderTest) throws {
        let (t, v, d, heads, rows) = (5, 7, 8, 2, 3)
        let backend = try which.make()
        for causal in [true, false] {
            let m = try Self.attentionGraph(t: t, tokens: v, d: d, heads: heads, causal: causal)
            let ids: [Float] = (0..<(rows * t)).map { Float(($0 * 5 + 3) % v) }
            let got = try backend.read(try GraphRunner(m, on: backend).predict(try backend.tensor(ids, shape: [rows, t])))
            let params = Dictionary(m.parameters.map { ($0.name, $0.values) }, uniquingKeysWith: { a, _ in a })
            let table = try #require(params["token_embedding1.weight"])
            let x = ids.flatMap { table[(Int($0) * d)..<((Int($0) + 1) * d)] }
            let want = Self.directAttention(x, rows: rows, t: t, d: d, heads: heads, causal: causal, params: params)
            #expect(got.count == want.count)
            let err = zip(got, want).map { Swift.abs($0 - $1) }.max() ?? .infinity
            #expect(err < 1e-4, "\(which), causal \(causal): max error \(err)")
        }
    }

    /// A whole language model: what position i predicts does not change when a later token does.
    @Test(arguments: [BackendUnderTest.cpu, .vulkan])
    func aCausalModelDoesNotSeeTheFuture(_ which: BackendUnderTest) throws {
        let m = try Self.languageModel(t: 6, tokens: 9, d: 8, seed: 2)
        let backend = try which.make()
        let runner = try GraphRunner(m, on: backend)
        let a: [Float] = [1, 4, 2, 8, 5, 7], b: [Float] = [1, 4, 2, 0, 3, 3]
        let ya = try backend.read(try runner.predict(try backend.tensor(a, shape: [1, 6])))
        let yb = try backend.read(try runner.predict(try backend.tensor(b, shape: [1, 6])))
        #expect(Array(ya[0..<(3 * 9)]) == Array(yb[0..<(3 * 9)]), "positions 1–3 are the same")
        #expect(Array(ya[(3 * 9)...]) != Array(yb[(3 * 9)...]), "position 4 sees its own token")
    }

    static func languageModel(t: Int, tokens: Int, d: Int, seed: UInt64, blocks: Int = 1, learned: Bool = true) throws -> GraphModel {
        var b = GraphBuilder(inputShape: [t], seed: seed)
        try b.tokenEmbedding(tokens: tokens, dims: d)
        try b.positionEmbedding(learned: learned)
        for _ in 0..<blocks { try b.transformerBlock(heads: 2) }
        try b.layerNorm()
        try b.linear(outputs: tokens)
        return b.finished()
    }

    /// d(Σ out · r)/d parameter from the tape against central differences, through embeddings,
    /// layer norms, attention, the MLP and the head (CPU, in doubles' worth of care: small steps).
    @Test func transformerGradientsMatchFiniteDifferences() throws {
        let (t, v, d, rows) = (4, 6, 8, 2)
        let m = try Self.languageModel(t: t, tokens: v, d: d, seed: 3)
        let cpu = CPUBackend()
        let ids: [Float] = [0, 3, 5, 1, 2, 2, 4, 0]
        let r = OpSamples.values(rows * t * v, seed: 8)
        func objective(_ model: GraphModel) throws -> Double {
            let y = try cpu.read(try GraphRunner(model, on: cpu).predict(try cpu.tensor(ids, shape: [rows, t])))
            return zip(y, r).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }
        let runner = try GraphRunner(m, on: cpu)
        let tape = Tape(backend: cpu)
        let pass = try runner.forward(try cpu.tensor(ids, shape: [rows, t]), on: tape, training: true)
        let grads = try tape.gradients(of: pass.output, seed: try cpu.tensor(r, shape: [rows, t, v]))
        let eps: Float = 1e-2
        for name in [
            "token_embedding1.weight", "position_embedding1.weight", "block1.attn.qkv.weight", "block1.attn.proj.bias", "block1.fc.weight",
            "block1.ln1.weight",
        ] {
            let pi = try #require(m.parameters.firstIndex { $0.name == name }, "\(name)")
            let g = try cpu.read(try #require(grads[pass.parameters[pi]], "\(name) has a gradient"))
            for j in [0, g.count / 3, g.count - 1] {
                var plus = m, minus = m
                plus.parameters[pi].values[j] += eps
                minus.parameters[pi].values[j] -= eps
                let fd = (try objective(plus) - objective(minus)) / Double(2 * eps)
                #expect(Swift.abs(fd - Double(g[j])) < 5e-3 * max(1, Swift.abs(fd)), "\(name)[\(j)]: tape \(g[j]), differences \(fd)")
            }
        }
        let mask = try #require(m.parameters.firstIndex { $0.name == "block1.attn.causal_mask" })
        #expect(grads[pass.parameters[mask]] == nil, "the mask is a buffer")
    }

    /// 4,000 characters of the fortunes, a one-block transformer, four epochs: the validation
    /// loss falls from ln(vocabulary) (uniform guessing, 4.3) to below 2.6 nats per character
    /// (2.49 measured), and
    /// Vulkan follows the CPU's curve within 1e-3 per epoch.
    @Test func aSmallTransformerLearnsText() throws {
        let data = try Self.text(bytes: 4000, context: 16)
        let tokens = try #require(data.vocabulary?.count)
        let m = try Self.languageModel(t: 16, tokens: tokens, d: 16, seed: 1)
        var task = TrainingTask(algorithm: .adam(Adam(learningRate: 0.01)), epochs: 4, batchSize: 16, loss: .cross_entropy)
        task.validationSplit = 0.1
        var curves: [[Double]] = []
        for which in [BackendUnderTest.cpu, .vulkan] {
            let r = try GraphTrainer.train(m, data: data, task: task, backend: try which.make(), seed: 1)
            let v = r.epochs.compactMap(\.validationLoss)
            #expect(v.count == 4 && (v.last ?? 9) < 2.6, "\(which): validation losses \(v) (uniform: \(log(Double(tokens))))")
            #expect(r.model.vocabulary == data.vocabulary, "the trained model keeps the vocabulary")
            curves.append(r.epochs.map(\.loss) + v)
        }
        let drift = zip(curves[0], curves[1]).map { Swift.abs($0 - $1) }.max() ?? .infinity
        #expect(drift < 1e-3, "cpu \(curves[0]) vulkan \(curves[1])")
    }

    @Test func generationIsSeededAndReplays() throws {
        let data = try Self.text(bytes: 3000, context: 12)
        var m = try Self.languageModel(t: 12, tokens: try #require(data.vocabulary?.count), d: 8, seed: 4)
        m.vocabulary = data.vocabulary
        let runner = try GraphRunner(m, on: CPUBackend())
        func run(_ seed: UInt64?, temperature: Double = 0.8, topK: Int? = 5, tokens: Int = 30) throws -> String {
            let g = InferenceTask.GenerationSettings(prompt: "A man ", maxTokens: tokens, temperature: temperature, topK: topK, seed: seed)
            return try TextGeneration.generate(runner, settings: g, seed: 99, cancel: CancellationToken()).text
        }
        let first = try run(1)
        #expect(first.unicodeScalars.count == 30)
        #expect(try run(1) == first, "the same seed writes the same text")
        #expect(try run(2) != first, "another seed another")
        #expect(try run(nil) == run(99), "without a seed of its own, the task's")
        // Temperature 0 is the argmax at every step: the same whatever the seed, and top_k = 1 is the same.
        #expect(try run(1, temperature: 0) == run(2, temperature: 0))
        #expect(try run(3, temperature: 1, topK: 1) == run(1, temperature: 0))
        // Past the context the window slides: 40 tokens from a 12-token model.
        #expect(try run(1, tokens: 40).unicodeScalars.count == 40)
        let bad = InferenceTask.GenerationSettings(prompt: "A€", maxTokens: 3)
        #expect { try TextGeneration.generate(runner, settings: bad, seed: 1, cancel: CancellationToken()) } throws: { e in
            "\(e)".contains("character 2 (\\u{20AC}) is not in the model's")
        }
    }

    /// Characters are code points: U+212B ANGSTROM SIGN and U+00C5 are canonically equivalent
    /// (equal as Swift Strings) but two tokens, each encoded to its own id and decoded to its
    /// own bytes, as Python's str would keep them.
    @Test func characterTokensAreCodePointsNotCanonicalEquivalents() throws {
        let text = "\u{00C5}x\u{212B}y\u{2126}z\u{03A9}e\u{0301}\u{00E9}"
        let data = try TextCorpus.dataset(bytes: Array(text.utf8), level: .char, context: 2, source: "t")
        let v = try #require(data.vocabulary)
        #expect(v.count == 10, "\(v.tokens.map { $0.unicodeScalars.map { String($0.value, radix: 16) } })")
        let ids = try v.encode(text, what: "t")
        #expect(Set(ids).count == 10 && ids.count == 10)
        #expect(v.decodeBytes(ids) == Array(text.utf8), "decoded byte for byte")
        let angstrom = try v.encode("\u{212B}", what: "t"), ring = try v.encode("\u{00C5}", what: "t")
        #expect(angstrom != ring)
        #expect { try v.encode(bytes: [0x61, 0xFF], what: "the prompt") } throws: { e in
            "\(e)".contains("the prompt: byte 2 is not valid UTF-8")
        }
    }

    @Test func badSequenceLayersAreRefusedWithTheLayerNamed() throws {
        var long = GraphBuilder(inputShape: [32], seed: 1)
        try long.tokenEmbedding(tokens: 10, dims: 8)
        #expect { try long.positionEmbedding(context: 16) } throws: { e in
            "\(e)".contains("layer position_embedding1: the sequence has 32 positions, longer than the context of 16")
        }
        var heads = GraphBuilder(inputShape: [4], seed: 1)
        try heads.tokenEmbedding(tokens: 10, dims: 6)
        #expect { try heads.attention(heads: 4) } throws: { e in "\(e)".contains("layer attention1: 6 features do not split into 4 heads") }
        var table = GraphBuilder(inputShape: [4], seed: 1)
        try table.linear(outputs: 3)
        #expect { try table.tokenEmbedding(tokens: 5, dims: 2) } throws: { e in "\(e)".contains("it must be the first layer") }
        var rows = GraphBuilder(inputShape: [4], seed: 1)
        #expect { try rows.attention(heads: 1) } throws: { e in "\(e)".contains("takes sequences of shape [positions, features]") }
        // A language model on data that is not text, and text on a model that is not a language model.
        let lm = try Self.languageModel(t: 4, tokens: 5, d: 4, seed: 1)
        let table2 = Dataset(features: [Float](repeating: 0, count: 8), rows: 2, cols: 4, labels: [0, 1], source: "rows")
        #expect {
            try GraphTrainer.train(lm, data: table2, epochs: 1, batchSize: 2, algorithm: .adam(Adam()), backend: CPUBackend(), seed: 1)
        } throws: { e in "\(e)".contains("is not text (use data.text)") }
        let text = try TextCorpus.dataset(bytes: Array("abcdeabcdeab".utf8), level: .char, context: 4, source: "t")
        var mlp = GraphBuilder(inputShape: [4], seed: 1)
        try mlp.linear(outputs: 5)
        #expect {
            try GraphTrainer.train(
                mlp.finished(), data: text, epochs: 1, batchSize: 2, algorithm: .adam(Adam()), backend: CPUBackend(), seed: 1)
        } throws: { e in "\(e)".contains("is text with 4 positions per sample") }
        // An nn.mlp on text, and a token table smaller than the text's vocabulary: refused, not a crash.
        let mlpModel = MLPModel(inputs: 4, hidden: [4], outputs: 5, activation: .relu, seed: 1)
        #expect {
            try Trainer.train(
                model: mlpModel, data: text, task: TrainingTask(algorithm: .adam(Adam()), epochs: 1, batchSize: 2, loss: .cross_entropy),
                backend: CPUBackend(), seed: 1)
        } throws: { e in "\(e)".contains("an nn.mlp predicts one row per sample") }
        var small = GraphBuilder(inputShape: [4], seed: 1)
        try small.tokenEmbedding(tokens: 3, dims: 4)
        try small.linear(outputs: 5)
        #expect {
            try GraphTrainer.train(
                small.finished(), data: text, epochs: 1, batchSize: 2, algorithm: .adam(Adam()), backend: CPUBackend(), seed: 1)
        } throws: { e in "\(e)".contains("layer token_embedding1 embeds 3 tokens; data set t has 5") }
    }
}
