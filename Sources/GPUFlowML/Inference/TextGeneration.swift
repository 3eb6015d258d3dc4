import Foundation
import GPUFlowCompute
import GPUFlowCore

/// A language model's text: the prompt encoded with the model's vocabulary, then one token at
/// a time, each from a forward pass over the last `context` tokens (padded on the right while
/// the text is shorter: under a causal mask later positions do not change earlier ones), and
/// the perplexity of a text data set. Sampling uses only the seed, so a replay is identical.
public enum TextGeneration {
    public struct Report: Sendable {
        public let prompt: String
        /// The generated text alone (not the prompt), byte for byte: a byte-level model's bytes
        /// need not be UTF-8.
        public let bytes: [UInt8]
        /// The generated tokens' ids in the model's vocabulary.
        public let ids: [Int]
        public var text: String { String(decoding: bytes, as: UTF8.self) }
        public let tokens: Int
        public let seconds: Double
        public var tokensPerSecond: Double { Double(tokens) / max(seconds, 1e-9) }
        /// Per generated token: the time of its forward pass and its sampling.
        public let latencyMS: LatencySummary
    }

    public static func generate(
        _ runner: GraphRunner, settings g: InferenceTask.GenerationSettings, seed: UInt64, cancel: CancellationToken
    ) throws -> Report {
        let model = runner.model
        guard model.isSequenceModel, model.inputShape.count == 1, let context = model.inputShape.first else {
            throw MLError("inference: a prompt is for a language model (one that starts with nn.token_embedding)")
        }
        guard g.maxTokens >= 0 else { throw MLError("inference: max_tokens must be at least 0, got \(g.maxTokens)") }
        let prompt = try promptTokens(model, prompt: g.bytes, context: "inference")
        let vocabulary = prompt.vocabulary
        var ids = prompt.ids
        let tokens = try GraphTraining.outputWidth(model)
        var rng = Philox(seed: g.seed ?? seed)
        var generated: [Int] = [], latencies: [Double] = []
        let start = Date()
        for _ in 0..<g.maxTokens {
            try cancel.check()
            let t0 = Date()
            let window = Array(ids.suffix(context))
            let x = window.map(Float.init) + [Float](repeating: 0, count: context - window.count)
            let out = try runner.backend.read(try runner.predict(try runner.backend.tensor(x, shape: [1, context])))
            let last = Array(out[((window.count - 1) * tokens)..<(window.count * tokens)])
            let next = sample(last, temperature: g.temperature, topK: g.topK, rng: &rng)
            ids.append(next)
            generated.append(next)
            latencies.append(Date().timeIntervalSince(t0) * 1000)
        }
        return Report(
            prompt: g.prompt, bytes: vocabulary.decodeBytes(generated), ids: generated, tokens: generated.count,
            seconds: Date().timeIntervalSince(start),
            latencyMS: LatencySummary(samples: latencies))
    }

    /// The prompt's token ids, once what makes a generation impossible is refused: no
    /// vocabulary, attention that reads later positions (a short prompt is padded on the
    /// right), a character the vocabulary lacks, an empty prompt. `gpu.inference` calls it when
    /// the task is built, `generate` again when it runs.
    public static func promptTokens(_ model: GraphModel, prompt: [UInt8], context: String) throws
        -> (ids: [Int], vocabulary: TokenVocabulary)
    {
        guard let vocabulary = model.vocabulary else {
            throw MLError("\(context): the model has no vocabulary yet; train it on a data.text data set first")
        }
        if let layer = model.nonCausalAttentionLayer {
            throw MLError(
                "\(context): layer \(layer) attends to later positions (causal = false), so it would read the padding after a prompt; generate with a causal model"
            )
        }
        let ids = try vocabulary.encode(bytes: prompt, what: "\(context): the prompt")
        guard !ids.isEmpty else { throw MLError("\(context): the prompt is empty; give at least one character to continue") }
        return (ids, vocabulary)
    }

    /// A token drawn from softmax(logits / temperature) over the `topK` largest logits (ties
    /// broken by the lower id); temperature 0 takes the largest.
    static func sample(_ logits: [Float], temperature: Double, topK: Int?, rng: inout Philox) -> Int {
        let order = logits.indices.sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
        guard temperature > 0, let best = order.first else { return order.first ?? 0 }
        let kept = order.prefix(max(1, min(topK ?? logits.count, logits.count)))
        let top = Double(logits[best])
        let weights = kept.map { exp((Double(logits[$0]) - top) / temperature) }
        let total = weights.reduce(0, +)
        var u = Double(rng.uniform()) * total
        for (i, w) in zip(kept, weights) {
            u -= w
            if u < 0 { return i }
        }
        return kept.last ?? best
    }

    /// Mean cross-entropy per token of `data` (text with the model's vocabulary), its
    /// exponential (the perplexity) and the share of next tokens predicted right.
    public static func perplexity(_ model: GraphModel, data: Dataset, batchSize: Int, backend: Backend) throws
        -> (loss: Double, perplexity: Double, accuracy: Double, seconds: Double)
    {
        try Validation.check(
            inputs: data.cols, outputs: try GraphTraining.outputWidth(model), data: data, loss: .cross_entropy, context: "inference")
        try GraphTrainer.checkText(model, data: data, context: "inference")
        let net = try GraphTraining(model, on: backend, frozen: [], seed: 0)
        let start = Date()
        let (loss, accuracy) = try TrainingLoop.evaluate(
            net, data: data, loss: .cross_entropy, batchSize: batchSize, options: LossOptions())
        return (loss, exp(loss), accuracy ?? 0, Date().timeIntervalSince(start))
    }
}
