import Foundation
import GPUFlowCompute
import GPUFlowCore

/// Everything a training run needs to continue exactly where it stopped: weights, optimizer
/// moments and step, the shuffling generator's position, the history and early-stopping state.
/// Stored as one JSON document whose float arrays are base64 of their little-endian bytes, so
/// the numbers come back bit for bit. Format 2 holds a model of either kind (its model file's
/// bytes) and the optimizer state in parameter order (weight, bias, layer by layer); format 1
/// (MLPs, state of all weights before all biases) is read and reordered.
struct TrainingCheckpoint: Codable {
    var format = 2
    var seed: UInt64
    var algorithm: String
    /// Epochs completed.
    var epoch: Int
    var step: Int
    var rngCounter: UInt64
    var rngUsed: Int
    var history: [EpochMetrics]
    var bestEpoch: Int?
    var bestLoss: Double?
    var sinceBest: Int
    var model: CheckpointModel
    var bestModel: CheckpointModel?
    var optimizerState: [[Float]]

    init(
        seed: UInt64, algorithm: String, epoch: Int, step: Int, rngCounter: UInt64, rngUsed: Int, history: [EpochMetrics],
        bestEpoch: Int?, bestLoss: Double?, sinceBest: Int, model: CheckpointModel, bestModel: CheckpointModel?,
        optimizerState: [[Float]]
    ) {
        self.seed = seed
        self.algorithm = algorithm
        self.epoch = epoch
        self.step = step
        self.rngCounter = rngCounter
        self.rngUsed = rngUsed
        self.history = history
        self.bestEpoch = bestEpoch
        self.bestLoss = bestLoss
        self.sinceBest = sinceBest
        self.model = model
        self.bestModel = bestModel
        self.optimizerState = optimizerState
    }

    enum CodingKeys: String, CodingKey {
        case format, seed, algorithm, epoch, step, rngCounter, rngUsed, history, bestEpoch, bestLoss, sinceBest, model, bestModel,
            optimizerState
    }

    /// Floats as base64 of their little-endian bytes.
    static func pack(_ v: [Float]) -> String { Data(FloatBytes.encode(v)).base64EncodedString() }

    static func unpack(_ s: String, what: String) throws -> [Float] {
        guard let d = Data(base64Encoded: s), d.count % 4 == 0 else { throw DataError("checkpoint: \(what) is not packed float32") }
        return FloatBytes.decode([UInt8](d), offset: 0, count: d.count / 4)
    }

    /// A model as base64 of its model file's bytes (hash-checked on the way back).
    static func packModel(_ m: CheckpointModel) throws -> String { Data(try m.bytes).base64EncodedString() }

    static func unpackModel(_ s: String) throws -> CheckpointModel {
        guard let d = Data(base64Encoded: s) else { throw DataError("checkpoint: a model is not base64") }
        return try CheckpointModel(bytes: [UInt8](d), file: "checkpoint")
    }

    /// Format 1's state, [all weights' then all biases'] per state kind, in format 2's order.
    static func interleave(_ state: [[Float]], layers: Int) -> [[Float]] {
        guard layers > 0, state.count % (2 * layers) == 0 else { return state }
        return stride(from: 0, to: state.count, by: 2 * layers).flatMap { base in
            (0..<layers).flatMap { [state[base + $0], state[base + layers + $0]] }
        }
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        format = try c.decode(Int.self, forKey: .format)
        guard format == 1 || format == 2 else { throw DataError("checkpoint format \(format) is not supported (1 and 2 are)") }
        seed = try c.decode(UInt64.self, forKey: .seed)
        algorithm = try c.decode(String.self, forKey: .algorithm)
        epoch = try c.decode(Int.self, forKey: .epoch)
        step = try c.decode(Int.self, forKey: .step)
        rngCounter = try c.decode(UInt64.self, forKey: .rngCounter)
        rngUsed = try c.decode(Int.self, forKey: .rngUsed)
        history = try c.decode([EpochMetrics].self, forKey: .history)
        bestEpoch = try c.decodeIfPresent(Int.self, forKey: .bestEpoch)
        bestLoss = try c.decodeIfPresent(Double.self, forKey: .bestLoss)
        sinceBest = try c.decode(Int.self, forKey: .sinceBest)
        model = try Self.unpackModel(c.decode(String.self, forKey: .model))
        bestModel = try c.decodeIfPresent(String.self, forKey: .bestModel).map(Self.unpackModel)
        optimizerState = try c.decode([String].self, forKey: .optimizerState).map { try Self.unpack($0, what: "optimizer state") }
        if format == 1, case .mlp(let m) = model {
            optimizerState = Self.interleave(optimizerState, layers: m.layers.count)
            format = 2
        }
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(format, forKey: .format)
        try c.encode(seed, forKey: .seed)
        try c.encode(algorithm, forKey: .algorithm)
        try c.encode(epoch, forKey: .epoch)
        try c.encode(step, forKey: .step)
        try c.encode(rngCounter, forKey: .rngCounter)
        try c.encode(rngUsed, forKey: .rngUsed)
        try c.encode(history, forKey: .history)
        try c.encodeIfPresent(bestEpoch, forKey: .bestEpoch)
        try c.encodeIfPresent(bestLoss, forKey: .bestLoss)
        try c.encode(sinceBest, forKey: .sinceBest)
        try c.encode(Self.packModel(model), forKey: .model)
        try c.encodeIfPresent(bestModel.map(Self.packModel), forKey: .bestModel)
        try c.encode(optimizerState.map(Self.pack), forKey: .optimizerState)
    }

    /// The same state, the same bytes (and artifact hash).
    func encoded() throws -> Data { try StableJSON.encode(self) }

    /// Written beside and renamed into place, so a crash never leaves half a checkpoint.
    func save(path: String) throws {
        try ModelFiles.writeAtomically(try encoded(), to: path, what: "the checkpoint")
    }

    static func load(path: String) throws -> TrainingCheckpoint {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError(file: path, "cannot read checkpoint (missing or unreadable)")
        }
        do {
            return try JSONDecoder().decode(TrainingCheckpoint.self, from: data)
        } catch let e as DataError {
            throw DataError(file: path, e.message)
        } catch {
            throw DataError(file: path, "not a gpuflow checkpoint: \(error)")
        }
    }
}

/// Lets a training run outlive its backend: the trainer leaves the state of every finished
/// epoch here, and a retry on another backend (after a device fault) starts from it, so no
/// finished epoch is trained twice or lost.
public final class TrainingRecovery: @unchecked Sendable {
    var checkpoint: TrainingCheckpoint? {
        didSet { persist(force: false) }
    }
    /// Called with a checkpoint, encoded, when the policy says one is due (the run store keeps
    /// it), on a queue of the recovery's own: the training goes on with its next epoch while
    /// the last is encoded and written, so the store's cost leaves the training thread.
    var onCheckpoint: (@Sendable (Data) -> Void)?
    var policy = CheckpointPolicy()
    private let writer = DispatchQueue(label: "gpuflow.checkpoint-writer")
    private let lock = NSLock()
    /// Guarded by `lock`: the last write's end and cost, its epoch, whether one is under way.
    private var lastWrite: Date?
    private var lastCost = 0.0
    private var writtenEpoch: Int?
    private var queuedEpoch: Int?
    private var inFlight = false
    private var written = 0
    /// The policy's first write counts from here (this attempt's start, a resume's too).
    private let started = Date()
    public init() {}

    /// Checkpoints handed to `onCheckpoint` (after any under way).
    public var writes: Int {
        settle()
        lock.lock()
        defer { lock.unlock() }
        return written
    }

    /// Hands the newest checkpoint to the writer when the policy says so. A write still under
    /// way makes a due one wait for the next epoch (the newest is what a resume wants), except
    /// when every epoch is asked for (`maxOverhead` 1).
    private func persist(force: Bool) {
        guard let c = checkpoint, let onCheckpoint else { return }
        let now = Date()
        lock.lock()
        let due =
            force
            || (policy.maxOverhead >= 1 || !inFlight)
                && policy.due(
                    sinceStart: now.timeIntervalSince(started), sinceLastWrite: lastWrite.map { now.timeIntervalSince($0) },
                    lastCost: lastCost)
        guard due, c.epoch != writtenEpoch, c.epoch != queuedEpoch else {
            lock.unlock()
            return
        }
        inFlight = true
        queuedEpoch = c.epoch
        lock.unlock()
        writer.async { [self] in
            let begun = Date()
            let data = try? c.encoded()  // a state that cannot be encoded is not written, the run goes on
            if let data { onCheckpoint(data) }
            let end = Date()
            lock.lock()
            if data != nil {
                lastWrite = end
                lastCost = end.timeIntervalSince(begun)
                writtenEpoch = c.epoch
                written += 1
            }
            inFlight = false
            lock.unlock()
        }
    }

    /// Waits for the write under way, if any: before a succeeded task's checkpoints are
    /// dropped (a late write would leave one behind) and before the process ends.
    public func settle() { writer.sync {} }

    /// Writes the newest checkpoint if the policy held it back and waits until it is written:
    /// the task is ending without success (an error, a cancel), and a resume should lose nothing.
    public func flush() {
        settle()
        persist(force: true)
        settle()
    }

    /// Starts from an encoded checkpoint (one a killed run left in the store).
    public init(resumingFrom data: Data) throws {
        checkpoint = try JSONDecoder().decode(TrainingCheckpoint.self, from: data)
    }
    /// Epochs finished so far (0 before the first).
    public var completedEpochs: Int { checkpoint?.epoch ?? 0 }
}
