import Foundation
import GPUFlowCompute
import GPUFlowCore
import GPUFlowTesting
import Testing

@testable import GPUFlowML

@Suite struct ModelFileTests {
    @Test func roundTripIsBitIdentical() throws {
        let model = MLPModel(inputs: 5, hidden: [7, 3], outputs: 4, activation: .gelu, seed: 11)
        let path = try TestPaths.temporaryDirectory().appendingPathComponent("m.gfmodel").path
        try ModelFile.save(model, to: path)
        let back = try ModelFile.load(path: path)
        #expect(back.objectID == model.objectID)
        #expect(back.layers == model.layers)
        #expect(zip(back.layers.flatMap(\.weights), model.layers.flatMap(\.weights)).allSatisfy { $0.bitPattern == $1.bitPattern })
    }

    @Test func damagedFilesAreRefusedWithTheirOffset() throws {
        let model = MLPModel(inputs: 3, hidden: [4], outputs: 2, activation: .relu, seed: 1)
        let dir = try TestPaths.temporaryDirectory()
        let path = dir.appendingPathComponent("m.gfmodel").path
        try ModelFile.save(model, to: path)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        func expectError(_ data: [UInt8], _ fragment: String) throws {
            let p = dir.appendingPathComponent("bad-\(UUID().uuidString).gfmodel").path
            try Data(data).write(to: URL(fileURLWithPath: p))
            do {
                _ = try ModelFile.load(path: p)
                Issue.record("a damaged file loaded (\(fragment))")
            } catch let e as DataError {
                #expect(e.description.contains(fragment), "\(e)")
                #expect(e.file == p)
            }
        }
        var flipped = bytes
        flipped[flipped.count - 5] ^= 0x40
        try expectError(flipped, "the file is corrupt")
        try expectError(Array(bytes.dropLast(8)), "run past the end of the file")
        try expectError(Array("NOTAMODEL....".utf8), "bad magic at offset 0")
        bytes.append(0)
        try expectError(bytes, "1 unexpected bytes after the weights")
        #expect(throws: DataError.self) { try ModelFile.load(path: dir.appendingPathComponent("missing.gfmodel").path) }
    }
}

@Suite struct TrainingOptionsTests {
    let cpu = CPUBackend()

    @Test func freezingStrategiesPickTheirLayers() {
        #expect(Freezing.trainable(layers: 4, fineTuning: 1, strategy: .early_layers) == [false, false, false, true])
        #expect(Freezing.trainable(layers: 4, fineTuning: 2, strategy: .late_layers) == [true, true, false, false])
        #expect(Freezing.trainable(layers: 5, fineTuning: 2, strategy: .alternating) == [false, false, true, false, true])
        #expect(Freezing.trainable(layers: 3, fineTuning: 9, strategy: .early_layers) == [true, true, true])
    }

    @Test(arguments: BackendUnderTest.allCases)
    func transferLeavesFrozenLayersBitIdentical(_ kind: BackendUnderTest) throws {
        let base = MLPModel(inputs: 4, hidden: [8, 8], outputs: 3, activation: .relu, seed: 2)
        let data = try Generators.blobs(samples: 120, features: 4, centers: 3, seed: 5)
        let task = TrainingTask(
            algorithm: .transfer(
                TransferLearning(
                    baseModel: base.objectID, fineTuningLayers: 1,
                    freezingStrategy: .early_layers, learningRate: 0.01)),
            epochs: 3, batchSize: 16)
        let r = try Trainer.train(model: base, data: data, task: task, backend: try kind.make(), seed: 1)
        #expect(r.frozenLayers == [0, 1])
        for i in 0..<2 {
            #expect(r.model.layers[i].weights.map(\.bitPattern) == base.layers[i].weights.map(\.bitPattern), "layer \(i) weights")
            #expect(r.model.layers[i].bias.map(\.bitPattern) == base.layers[i].bias.map(\.bitPattern), "layer \(i) bias")
        }
        #expect(r.model.layers[2].weights != base.layers[2].weights, "the fine-tuned layer learned")
        #expect((r.epochs.last?.loss ?? 9) < r.epochs[0].loss)
    }

    @Test func schedulesGiveTheirFactors() {
        let step = LearningRateSchedule.step(every: 2, gamma: 0.5)
        #expect((1...5).map { step.factor(epoch: $0, of: 5) } == [1, 1, 0.5, 0.5, 0.25])
        let cosine = LearningRateSchedule.cosine(minFactor: 0.1)
        #expect(cosine.factor(epoch: 1, of: 11) == 1)
        #expect(abs(cosine.factor(epoch: 6, of: 11) - 0.55) < 1e-12)
        #expect(abs(cosine.factor(epoch: 11, of: 11) - 0.1) < 1e-12)
    }

    @Test func earlyStoppingStopsAndRestoresTheBestEpoch() throws {
        let data = try Generators.blobs(samples: 200, features: 2, centers: 2, spread: 3, seed: 3)
        var task = TrainingTask(algorithm: .adam(Adam(learningRate: 0.05)), epochs: 300, batchSize: 20, validationSplit: 0.3)
        task.earlyStopping = EarlyStopping(patience: 3, minDelta: 1e-4)
        let r = try Trainer.train(
            model: MLPModel(inputs: 2, hidden: [32], outputs: 2, activation: .relu, seed: 1), data: data,
            task: task, backend: cpu, seed: 1)
        #expect(r.stoppedEarly && r.epochs.count < 300)
        let best = try #require(r.bestEpoch)
        #expect(r.epochs.count - best == 3, "stopped after three epochs without improvement")
        let losses = r.epochs.compactMap(\.validationLoss)
        #expect(losses[best - 1] == losses.min(), "the best epoch has the lowest validation loss")
        task.validationSplit = 0
        #expect(throws: MLError.self) {
            try Trainer.train(
                model: MLPModel(inputs: 2, hidden: [4], outputs: 2, activation: .relu, seed: 1), data: data,
                task: task, backend: self.cpu, seed: 1)
        }
    }

    @Test func gradientClippingBoundsTheStep() throws {
        let data = try Generators.blobs(samples: 64, features: 3, centers: 2, spread: 5, seed: 4)
        let model = MLPModel(inputs: 3, hidden: [8], outputs: 2, activation: .tanh, seed: 2)
        var task = TrainingTask(algorithm: .backpropagation(Backpropagation(learningRate: 1, momentum: 0)), epochs: 1, batchSize: 64)
        task.gradientClipNorm = 1e-3
        let r = try Trainer.train(model: model, data: data, task: task, backend: cpu, seed: 1)
        let before = model.layers.flatMap { $0.weights + $0.bias }, after = r.model.layers.flatMap { $0.weights + $0.bias }
        let step = zip(before, after).reduce(Float(0)) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
        #expect(step > 0 && step <= 1e-3 * 1.0001, "one SGD step of lr 1 moved the weights by \(step)")
    }
}

@Suite struct CheckpointTests {
    /// Stopping after epoch 3 and resuming from its checkpoint gives the same model, bit for
    /// bit, and the same history as running all 6 epochs at once.
    @Test(arguments: [BackendUnderTest.cpu, .vulkan])
    func resumingReachesTheSameResult(_ kind: BackendUnderTest) throws {
        let data = try Generators.spirals(samples: 150, classes: 3, seed: 3)
        let model = MLPModel(inputs: 2, hidden: [16], outputs: 3, activation: .tanh, seed: 5)
        let dir = try TestPaths.temporaryDirectory().path
        var full = TrainingTask(algorithm: .adam(Adam(learningRate: 0.02)), epochs: 6, batchSize: 16, validationSplit: 0.2)
        full.earlyStopping = EarlyStopping(patience: 50)
        let uninterrupted = try Trainer.train(model: model, data: data, task: full, backend: try kind.make(), seed: 9)

        var first = full
        first.epochs = 3
        first.checkpointEvery = 3
        first.checkpointPath = dir + "/run.gfckpt"
        let part = try Trainer.train(model: model, data: data, task: first, backend: try kind.make(), seed: 9)
        #expect(part.checkpointsWritten == 1)
        var rest = full
        rest.resumeFrom = dir + "/run.gfckpt"
        let resumed = try Trainer.train(model: model, data: data, task: rest, backend: try kind.make(), seed: 9)
        #expect(resumed.resumedFromEpoch == 3)
        #expect(resumed.model.objectID == uninterrupted.model.objectID)
        #expect(resumed.epochs.map(\.loss) == uninterrupted.epochs.map(\.loss))
        #expect(resumed.bestEpoch == uninterrupted.bestEpoch)
        // Throughput counts the rows this call trained: the 80 % training split × the 3
        // epochs after the checkpoint (it counted all 150 rows × 6 epochs).
        #expect(resumed.samplesTrained == 120 * 3)
        #expect(uninterrupted.samplesTrained == 120 * 6)
    }

    /// Checkpoints to the store: the first once the training has run `firstWriteAfter`
    /// seconds, later ones only once their cost is a small share of the time since the last;
    /// 1 writes every epoch.
    @Test func checkpointPolicyBoundsTheShareOfTimeSpentWriting() {
        let p = CheckpointPolicy(maxOverhead: 0.05)
        #expect(!p.due(sinceStart: 0.5, sinceLastWrite: nil, lastCost: 0), "half a second in: nothing yet")
        #expect(p.due(sinceStart: 1, sinceLastWrite: nil, lastCost: 10), "a second in: the first")
        #expect(CheckpointPolicy(firstWriteAfter: 0).due(sinceStart: 0, sinceLastWrite: nil, lastCost: 0))
        #expect(!p.due(sinceStart: 5, sinceLastWrite: 0.1, lastCost: 0.01), "10 ms per 100 ms is 9 %")
        #expect(p.due(sinceStart: 5, sinceLastWrite: 0.2, lastCost: 0.01), "10 ms per 200 ms is under 5 %")
        #expect(CheckpointPolicy(maxOverhead: 1).due(sinceStart: 0, sinceLastWrite: 0, lastCost: 1))
    }

    /// A recovery hands checkpoints to the store as the policy allows, and `flush` writes the
    /// newest held-back one (a task that fails or is cancelled loses nothing).
    @Test func recoveryWritesAsThePolicySaysAndFlushesTheLast() throws {
        let data = try Generators.spirals(samples: 90, classes: 3, seed: 3)
        let model = MLPModel(inputs: 2, hidden: [8], outputs: 3, activation: .tanh, seed: 5)
        let task = TrainingTask(algorithm: .adam(Adam(learningRate: 0.02)), epochs: 20, batchSize: 16)
        final class Box: @unchecked Sendable { var epochs: [Int] = [] }
        let box = Box()
        let recovery = TrainingRecovery()
        recovery.policy = CheckpointPolicy(maxOverhead: 0.0001, firstWriteAfter: 0)  // nearly never after the first
        recovery.onCheckpoint = { d in box.epochs.append((try? TrainingRecovery(resumingFrom: d).completedEpochs) ?? -1) }
        _ = try Trainer.train(model: model, data: data, task: task, backend: CPUBackend(), seed: 1, recovery: recovery)
        #expect(box.epochs.first == 1)
        #expect(box.epochs.count < 20)
        recovery.flush()
        #expect(box.epochs.last == 20, "flush writes the newest: \(box.epochs)")
        let all = TrainingRecovery()
        all.policy = CheckpointPolicy(maxOverhead: 1)
        all.onCheckpoint = { _ in }
        _ = try Trainer.train(model: model, data: data, task: task, backend: CPUBackend(), seed: 1, recovery: all)
        #expect(all.writes == 20)
        // By default a training shorter than a second writes nothing (it would only be dropped
        // when the task succeeds); a failure or cancel still flushes the newest.
        let short = TrainingRecovery()
        let shortBox = Box()
        short.onCheckpoint = { d in shortBox.epochs.append((try? TrainingRecovery(resumingFrom: d).completedEpochs) ?? -1) }
        _ = try Trainer.train(model: model, data: data, task: task, backend: CPUBackend(), seed: 1, recovery: short)
        #expect(shortBox.epochs.isEmpty, "\(shortBox.epochs)")
        short.flush()
        #expect(shortBox.epochs == [20])
    }

    @Test func mismatchedOrDamagedCheckpointsAreRefused() throws {
        let data = try Generators.blobs(samples: 40, features: 2, centers: 2, seed: 1)
        let dir = try TestPaths.temporaryDirectory().path
        var task = TrainingTask(algorithm: .adam(Adam()), epochs: 2, batchSize: 8)
        task.checkpointEvery = 1
        task.checkpointPath = dir + "/c.gfckpt"
        _ = try Trainer.train(
            model: MLPModel(inputs: 2, hidden: [4], outputs: 2, activation: .relu, seed: 1), data: data, task: task,
            backend: CPUBackend(), seed: 1)
        var resume = TrainingTask(algorithm: .adam(Adam()), epochs: 4, batchSize: 8)
        resume.resumeFrom = dir + "/c.gfckpt"
        #expect(throws: DataError.self, "another architecture") {
            try Trainer.train(
                model: MLPModel(inputs: 2, hidden: [5], outputs: 2, activation: .relu, seed: 1), data: data,
                task: resume, backend: CPUBackend(), seed: 1)
        }
        #expect(throws: DataError.self, "another seed") {
            try Trainer.train(
                model: MLPModel(inputs: 2, hidden: [4], outputs: 2, activation: .relu, seed: 1), data: data,
                task: resume, backend: CPUBackend(), seed: 2)
        }
        try Data("{\"format\": 1}".utf8).write(to: URL(fileURLWithPath: dir + "/bad.gfckpt"))
        resume.resumeFrom = dir + "/bad.gfckpt"
        do {
            _ = try Trainer.train(
                model: MLPModel(inputs: 2, hidden: [4], outputs: 2, activation: .relu, seed: 1), data: data,
                task: resume, backend: CPUBackend(), seed: 1)
            Issue.record("a damaged checkpoint was used")
        } catch let e as DataError {
            #expect(e.file == dir + "/bad.gfckpt" && e.message.contains("not a gpuflow checkpoint"))
        }
    }
}

@Suite struct DeclaredUsageTests {
    @Test(arguments: [BackendUnderTest.cpu, .vulkan])
    func declarationsAreCheckedAgainstWhatTheTaskUsed(_ kind: BackendUnderTest) throws {
        let data = try Generators.blobs(samples: 256, features: 16, centers: 4, seed: 1)
        let model = MLPModel(inputs: 16, hidden: [64], outputs: 4, activation: .relu, seed: 1)
        let task = TrainingTask(
            algorithm: .adam(Adam()), epochs: 2, batchSize: 32, durationEstimate: 1000,
            memoryRequirementMB: 1, computeIntensity: .moderate)
        let out = try WorkloadRunner.run(.training(task), inputs: TaskInputs(model: model, data: data), backend: try kind.make(), seed: 1)
        guard case .table(let declared)? = out["declared"], case .table(let memory)? = declared.first(where: { $0.0 == "memory" })?.1,
            case .table(let duration)? = declared.first(where: { $0.0 == "duration" })?.1,
            case .table(let intensity)? = declared.first(where: { $0.0 == "compute_intensity" })?.1
        else {
            Issue.record("no declared/measured report in \(out)")
            return
        }
        let peak = memory.first { $0.0 == "peak_tensor_mb" }?.1.doubleValue ?? 0
        // Weights, Adam moments and one batch's activations and gradients: between 50 KB and 1 MB.
        #expect(peak > 0.05 && peak < 1, "peak tensor memory \(peak) MB")
        #expect(Self.bool(memory, "within_requirement") == true)
        #expect(Self.bool(duration, "within_estimate") == true)
        // 6 × (16·64 + 64 + 64·4 + 4) = 8,088 FLOPs per sample: "light", not the declared "moderate".
        #expect(Self.string(intensity, "measured") == "light")
        #expect(Self.bool(intensity, "matches") == false)
    }

    static func bool(_ pairs: [(String, TaskValue)], _ key: String) -> Bool? {
        guard case .bool(let b)? = pairs.first(where: { $0.0 == key })?.1 else { return nil }
        return b
    }

    static func string(_ pairs: [(String, TaskValue)], _ key: String) -> String? {
        guard case .string(let s)? = pairs.first(where: { $0.0 == key })?.1 else { return nil }
        return s
    }
}
