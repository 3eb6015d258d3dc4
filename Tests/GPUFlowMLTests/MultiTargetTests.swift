import Foundation
import GPUFlowCompute
import GPUFlowCore
import GPUFlowTesting
import Testing

@testable import GPUFlowML

/// Rows with several targets (multi-label classification, multi-output regression) and
/// samples with a shape of their own, through the loaders, the checks and the trainers.
@Suite struct MultiTargetTests {
    /// Two regression targets of four features: y1 = x1 + x2, y2 = x3 − x4.
    static func twoOutputs(rows: Int = 200) -> Dataset {
        var rng = Philox(seed: 4)
        let x = (0..<(rows * 4)).map { _ in rng.normal() }
        var t: [Float] = []
        for r in 0..<rows {
            let sum: Float = x[r * 4] + x[r * 4 + 1]
            let difference: Float = x[r * 4 + 2] - x[r * 4 + 3]
            t += [sum, difference]
        }
        return Dataset(
            features: x, rows: rows, cols: 4, labels: stride(from: 0, to: t.count, by: 2).map { t[$0] }, source: "two-outputs",
            targets: t)
    }

    static func linearGraph(inputs: Int, outputs: Int) throws -> GraphModel {
        var b = GraphBuilder(inputShape: [inputs], seed: 1)
        try b.linear(outputs: 16, init: .relu)
        try b.activation(.relu)
        try b.linear(outputs: outputs)
        return b.finished()
    }

    @Test(arguments: [BackendUnderTest.cpu, .vulkan])
    func aGraphLearnsTwoOutputsAtOnce(_ which: BackendUnderTest) throws {
        let data = Self.twoOutputs()
        #expect(data.targetWidth == 2 && data.target(3).count == 2)
        let r = try GraphTrainer.train(
            try Self.linearGraph(inputs: 4, outputs: 2), data: data, epochs: 30, batchSize: 20, algorithm: .adam(Adam(learningRate: 0.01)),
            loss: .mse, backend: try which.make(), seed: 1)
        #expect(try #require(r.losses.last) < r.losses[0] * 0.1, "\(which): \(r.losses)")
        // Each output follows its own target: the trained model predicts both on fresh rows.
        let x: [Float] = [1, 0.5, -1, 0.25]
        let cpu = CPUBackend()
        let y = try cpu.read(try GraphRunner(r.model, on: cpu).predict(try cpu.tensor(x, shape: [1, 4])))
        #expect(Swift.abs(y[0] - 1.5) < 0.3 && Swift.abs(y[1] + 1.25) < 0.3, "predicted \(y) for targets [1.5, -1.25]")
    }

    /// Multi-label: each row has two independent 0/1 labels, learned with BCE with logits by a
    /// graph and by an MLP alike.
    @Test func multiLabelTrainsBothKindsOfModel() throws {
        let base = Self.twoOutputs()
        let t = base.targets!.map { $0 > 0 ? Float(1) : 0 }
        let data = Dataset(
            features: base.features, rows: base.rows, cols: 4, labels: stride(from: 0, to: t.count, by: 2).map { t[$0] }, source: "labels",
            targets: t)
        let g = try GraphTrainer.train(
            try Self.linearGraph(inputs: 4, outputs: 2), data: data, epochs: 30, batchSize: 20, algorithm: .adam(Adam(learningRate: 0.01)),
            loss: .bce_with_logits, backend: CPUBackend(), seed: 1)
        #expect(try #require(g.losses.last) < g.losses[0] * 0.5, "graph: \(g.losses)")
        let task = TrainingTask(algorithm: .adam(Adam(learningRate: 0.01)), epochs: 30, batchSize: 20, loss: .bce_with_logits)
        let m = try Trainer.train(
            model: MLPModel(inputs: 4, hidden: [16], outputs: 2, activation: .relu, seed: 1), data: data, task: task, backend: CPUBackend(),
            seed: 1)
        #expect(try #require(m.epochs.last?.loss) < m.epochs[0].loss * 0.5, "mlp: \(m.epochs.map(\.loss))")
    }

    @Test func targetsThatDoNotFitTheModelOrTheLossAreRefused() throws {
        let data = Self.twoOutputs()
        #expect(throws: MLError.self) {
            try Validation.check(inputs: 4, outputs: 3, data: data, loss: .mse, context: "training")
        }
        do {
            try Validation.check(inputs: 4, outputs: 2, data: data, loss: .cross_entropy, context: "training")
            Issue.record("cross-entropy was taken with two targets per row")
        } catch let e as MLError {
            #expect(e.message.contains("has 2 targets per row; cross_entropy takes one class per row"), "\(e.message)")
        }
        do {
            try Validation.check(inputs: 4, outputs: 2, data: data, loss: .bce_with_logits, context: "training")
            Issue.record("bce_with_logits took targets that are not 0 or 1")
        } catch let e as MLError {
            #expect(e.message.contains("bce_with_logits needs targets 0 or 1; row 1, target 1"), "\(e.message)")
        }
    }

    /// Splits, subsets and standardizing keep every row's targets with it.
    @Test func transformationsKeepTargetsWithTheirRows() throws {
        let data = Self.twoOutputs(rows: 50)
        let parts = data.split([("a", 0.6), ("b", 0.4)], seed: 3)
        for (_, p) in parts {
            #expect(p.targetWidth == 2)
            for r in 0..<p.rows {
                let x = Array(p.row(r)), t = Array(p.target(r))
                let want: [Float] = [x[0] + x[1], x[2] - x[3]]
                #expect(t == want)
            }
        }
        #expect(data.standardized().targets == data.targets)
    }

    /// An .npy of images ([rows, 2, 3]) keeps each sample's shape [2, 3]; `reshaped([6])` gives
    /// rows of 6 features; a labels file of [rows, 2] gives two targets per row. A graph built
    /// for the shape trains on it, one for rows on the rows; one for rows is refused on the
    /// shaped samples, naming both shapes.
    @Test func npyArraysKeepTheirSampleShapeAndTargets() throws {
        let dir = try TestPaths.temporaryDirectory()
        let rows = 12
        var rng = Philox(seed: 1)
        let x = (0..<(rows * 6)).map { _ in rng.normal() }
        let y = (0..<(rows * 2)).map { Float($0 % 2) }
        let xp = dir.appendingPathComponent("x.npy"), yp = dir.appendingPathComponent("y.npy")
        try Data(BinaryLoaderTests.npy(descr: "<f4", shape: [rows, 2, 3], payload: FloatBytes.encode(x))).write(to: xp)
        try Data(BinaryLoaderTests.npy(descr: "<f4", shape: [rows, 2], payload: FloatBytes.encode(y))).write(to: yp)
        let data = try BinaryLoaders.dataset(
            features: try BinaryLoaders.npy(path: xp.path), labels: try BinaryLoaders.npy(path: yp.path), source: "x.npy")
        #expect(data.sampleShape == [2, 3] && data.cols == 6 && data.targetWidth == 2)
        let images = data
        let rowsOf6 = try data.reshaped([6])
        #expect(Array(data.target(1)) == [0, 1])
        var b = GraphBuilder(inputShape: [2, 3], seed: 1)
        try b.flatten()
        try b.linear(outputs: 2)
        let shaped = try GraphTrainer.train(
            b.finished(), data: images, epochs: 3, batchSize: 4, algorithm: .adam(Adam(learningRate: 0.01)), loss: .bce_with_logits,
            backend: CPUBackend(), seed: 1)
        #expect(shaped.epochs.count == 3 && shaped.losses.allSatisfy(\.isFinite))
        #expect(rowsOf6.sampleShape == [6] && rowsOf6.features == data.features)
        #expect(throws: DataError.self) { _ = try data.reshaped([4, 2]) }
        let r = try GraphTrainer.train(
            try Self.linearGraph(inputs: 6, outputs: 2), data: rowsOf6, epochs: 2, batchSize: 4, algorithm: .adam(Adam()),
            loss: .bce_with_logits, backend: CPUBackend(), seed: 1)
        #expect(r.epochs.count == 2)
        #expect {
            _ = try GraphTrainer.train(
                try Self.linearGraph(inputs: 6, outputs: 2), data: images, epochs: 1, batchSize: 4, algorithm: .adam(Adam()),
                loss: .bce_with_logits, backend: CPUBackend(), seed: 1)
        } throws: { e in "\(e)".contains("the model takes samples of shape [6], data set x.npy's are [2, 3]") }
    }

    /// A model whose output is not one row per sample is refused with its shape and the fix,
    /// in training and in inference (an argmax over part of the floats would be silently wrong).
    @Test func anOutputOfAnotherRankIsRefused() throws {
        let data = try Self.twoOutputs().reshaped([2, 2])
        var b = GraphBuilder(inputShape: [2, 2], seed: 1)
        try b.linear(outputs: 2)  // over the last axis: [rows, 2, 2]
        #expect {
            _ = try GraphTrainer.train(
                b.finished(), data: data, epochs: 1, batchSize: 8, algorithm: .adam(Adam()), loss: .mse, backend: CPUBackend(), seed: 1)
        } throws: { e in "\(e)".contains("the model's output has shape [2, 2] per sample") && "\(e)".contains("nn.flatten{}") }
        #expect(throws: MLError.self) {
            _ = try GraphInference.run(GraphRunner(b.finished(), on: CPUBackend()), data: data, batchSize: 8, cancel: CancellationToken())
        }
    }

    /// A split that leaves a part empty keeps its (empty) targets instead of failing.
    @Test func emptyPartsKeepTheirTargets() throws {
        let data = Self.twoOutputs(rows: 3)
        let parts = data.split([("a", 1.0), ("b", 0.0)], seed: 1)
        #expect(parts[1].1.rows == 0 && parts[1].1.targetWidth == 0 && parts[0].1.rows == 3)
        #expect(Dataset(features: [], rows: 0, cols: 4, labels: [], source: "empty", targets: []).targetWidth == 0)
    }
}
