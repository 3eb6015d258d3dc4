import Foundation

public struct InferenceTask: Codable, Sendable, Equatable {
    public var modelID: String
    public var batchSize: Int
    public var maxLatencyMS: Double?
    public var minThroughputPerSec: Double?
    public var memoryRequirementMB: Int
    /// A request stream served by a dynamic batcher, rather than the data set in fixed batches.
    public var stream: StreamSettings?
    /// Where batchSize came from: "given", "default", or "learned" (a batch_size=N suggestion
    /// fed back for this model through gpu.optimize_scheduling).
    public var batchSizeSource = "given"
    /// Text generation from a prompt (a language model), in place of serving a data set.
    public var generation: GenerationSettings?
    /// A layer whose outputs the result also carries, row by row (`embeddings`): a graph
    /// layer's name ("linear1"; an MLP's layers are "dense1", "dense2", ...).
    public var layer: String?

    /// What `gpu.inference{prompt = ...}` generates: sampled from the model's distribution
    /// over the next token, divided by `temperature` (0: always the likeliest token) and cut to
    /// the `topK` likeliest, with uniforms from Philox(seed), so a replay writes the same text.
    public struct GenerationSettings: Codable, Sendable, Equatable {
        /// The prompt as text for records and messages (U+FFFD where its bytes are not UTF-8).
        public var prompt: String
        /// The prompt's bytes as the script gave them, which a byte-level model reads unchanged
        /// (absent in records written before they were kept: then the prompt's UTF-8).
        public var promptBytes: [UInt8]?
        public var maxTokens: Int
        public var temperature: Double
        public var topK: Int?
        public var seed: UInt64?
        public var bytes: [UInt8] { promptBytes ?? Array(prompt.utf8) }
        public init(prompt: [UInt8], maxTokens: Int = 200, temperature: Double = 1, topK: Int? = nil, seed: UInt64? = nil) {
            self.init(
                prompt: String(decoding: prompt, as: UTF8.self), maxTokens: maxTokens, temperature: temperature, topK: topK, seed: seed)
            self.promptBytes = prompt
        }
        public init(prompt: String, maxTokens: Int = 200, temperature: Double = 1, topK: Int? = nil, seed: UInt64? = nil) {
            self.prompt = prompt
            self.maxTokens = maxTokens
            self.temperature = temperature
            self.topK = topK
            self.seed = seed
        }
    }

    public struct StreamSettings: Codable, Sendable, Equatable {
        public var requests: Int
        public var arrivalRate: Double
        public init(requests: Int = 1000, arrivalRate: Double = 5000) {
            self.requests = requests
            self.arrivalRate = arrivalRate
        }
    }
    public init(
        modelID: String, batchSize: Int = 64, maxLatencyMS: Double? = nil, minThroughputPerSec: Double? = nil,
        memoryRequirementMB: Int = 0
    ) {
        self.modelID = modelID
        self.batchSize = batchSize
        self.maxLatencyMS = maxLatencyMS
        self.minThroughputPerSec = minThroughputPerSec
        self.memoryRequirementMB = memoryRequirementMB
    }
}
