import Foundation
import GPUFlowCompute
import GPUFlowCore
import GPUFlowTesting
import Testing

@testable import GPUFlowML

/// Models as graphs: built layer by layer with shapes checked and named, serialized and hashed,
/// trained through the tape on every backend to the same numbers as the CPU.
@Suite struct GraphModelTests {
    /// A residual block with layer norm, GELU and dropout, as in the sketch.
    static func residualNet(inputs: Int, classes: Int, seed: UInt64 = 1) throws -> GraphModel {
        var b = GraphBuilder(inputShape: [inputs], seed: seed)
        try b.linear(outputs: 16, init: .gelu)
        try b.layerNorm()
        try b.activation(.gelu)
        try b.dropout(p: 0.1)
        try b.residual { r in
            try r.linear(outputs: 16, init: .relu)
            try r.activation(.relu)
        }
        try b.linear(outputs: classes)
        return b.finished()
    }

    @Test func aResidualNetworkLearnsBlobs() throws {
        let data = try Generators.blobs(samples: 240, features: 4, centers: 3, seed: 2)
        let model = try Self.residualNet(inputs: 4, classes: 3)
        #expect(try model.outputShape(rows: 5) == [5, 3])
        #expect(
            model.parameters.map(\.name) == [
                "linear1.weight", "linear1.bias", "layer_norm1.weight", "layer_norm1.bias",
                "linear2.weight", "linear2.bias", "linear3.weight", "linear3.bias",
            ])
        let r = try GraphTrainer.train(
            model, data: data, epochs: 15, batchSize: 32, algorithm: .adam(Adam(learningRate: 0.01)),
            backend: CPUBackend(), seed: 3)
        #expect(try #require(r.losses.last) < r.losses[0] * 0.5, "loss \(r.losses)")
        #expect((r.accuracy ?? 0) > 0.9, "accuracy \(r.accuracy ?? 0)")
        #expect(r.model != model && r.model.nodes == model.nodes, "trained weights, the same graph")
    }

    /// The same seed, data and graph give the same trained weights on every backend, within
    /// float tolerance (dropout masks are Philox's on all of them).
    @Test(arguments: [BackendUnderTest.simd, .vulkan])
    func everyBackendTrainsLikeTheCPU(_ which: BackendUnderTest) throws {
        let data = try Generators.blobs(samples: 96, features: 4, centers: 3, seed: 4)
        let model = try Self.residualNet(inputs: 4, classes: 3)
        let cpu = try GraphTrainer.train(
            model, data: data, epochs: 3, batchSize: 32, algorithm: .adam(Adam(learningRate: 0.01)),
            backend: CPUBackend(), seed: 5)
        let other = try GraphTrainer.train(
            model, data: data, epochs: 3, batchSize: 32, algorithm: .adam(Adam(learningRate: 0.01)),
            backend: try which.make(), seed: 5)
        for (a, b) in zip(cpu.model.parameters, other.model.parameters) {
            let worst = zip(a.values, b.values).map { Swift.abs($0 - $1) }.max() ?? 0
            #expect(worst < 1e-3, "\(which) \(a.name): worst difference \(worst)")
        }
        #expect(Swift.abs((cpu.losses.last ?? 0) - (other.losses.last ?? 0)) < 1e-3)
    }

    @Test func aModelRoundTripsThroughJSONAndIsHashedByContent() throws {
        let m = try Self.residualNet(inputs: 4, classes: 3)
        let back = try JSONDecoder().decode(GraphModel.self, from: try StableJSON.encode(m))
        #expect(back == m && back.contentHash == m.contentHash)
        #expect(try Self.residualNet(inputs: 4, classes: 3, seed: 2).contentHash != m.contentHash, "other weights, another hash")
    }

    @Test func layersThatDoNotFitAreRefusedWhenBuiltWithTheirName() throws {
        var b = GraphBuilder(inputShape: [4], seed: 1)
        try b.linear(outputs: 8)
        #expect {
            try b.residual { r in try r.linear(outputs: 5) }
        } throws: { e in "\(e)".contains("residual1") && "\(e)".contains("same shape") }
        var c = GraphBuilder(inputShape: [4], seed: 1)
        #expect { try c.dropout(p: 1.5) } throws: { e in "\(e)".contains("dropout1") && "\(e)".contains("[0, 1)") }
        #expect { try c.linear(outputs: 0, name: "head") } throws: { e in "\(e)".contains("layer head") }
    }

    /// Frozen layers keep their weights bit for bit (transfer learning freezes by layer name).
    @Test func frozenLayersDoNotMove() throws {
        let data = try Generators.blobs(samples: 64, features: 4, centers: 2, seed: 6)
        let model = try Self.residualNet(inputs: 4, classes: 2)
        let r = try GraphTrainer.train(
            model, data: data, epochs: 2, batchSize: 16, algorithm: .adam(Adam(learningRate: 0.01)),
            backend: CPUBackend(), seed: 1, frozen: ["linear1", "layer_norm1"])
        for (a, b) in zip(model.parameters, r.model.parameters) {
            if a.layer == "linear1" || a.layer == "layer_norm1" {
                #expect(a.values == b.values, "\(a.name) moved")
            } else {
                #expect(a.values != b.values, "\(a.name) did not train")
            }
        }
    }
}

/// Early stopping's decisions, shared by both trainers, as a value.
@Suite struct EarlyStopperTests {
    @Test func decidesBestWaitAndStop() {
        var s = EarlyStopper(EarlyStopping(patience: 2, minDelta: 0.1))
        #expect(s.observe(validationLoss: 1.0, epoch: 1) == .best)
        #expect(s.observe(validationLoss: 0.95, epoch: 2) == .wait, "an improvement under min_delta is none")
        #expect(s.observe(validationLoss: 0.8, epoch: 3) == .best)
        #expect(s.observe(validationLoss: 0.9, epoch: 4) == .wait)
        #expect(s.observe(validationLoss: 0.85, epoch: 5) == .stop)
        #expect(s.bestEpoch == 3 && s.bestLoss == 0.8 && s.sinceBest == 2)
        var resumed = EarlyStopper(EarlyStopping(patience: 2, minDelta: 0.1), bestLoss: 0.8, bestEpoch: 3, sinceBest: 1)
        #expect(resumed.observe(validationLoss: 0.9, epoch: 5) == .stop, "a resumed run keeps counting")
    }
}
