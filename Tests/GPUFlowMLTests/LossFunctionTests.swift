import GPUFlowCompute
import GPUFlowCore
import GPUFlowTesting
import Testing

@testable import GPUFlowML

/// The losses written with ops (l1, huber, bce_with_logits, cross-entropy with label
/// smoothing): PyTorch's values, gradients against finite differences, on every backend, and
/// training with each.
@Suite struct LossFunctionTests {
    static func loss(
        _ kind: LossKind, _ x: [Float], _ y: [Float], rows: Int, options: LossOptions = LossOptions(), on b: Backend = CPUBackend()
    )
        throws -> (rows: [Float], grad: [Float])
    {
        let cols = x.count / rows
        let (l, g) = try LossFunctions.rowsAndGradient(
            kind, options: options, output: try b.tensor(x, shape: [rows, cols]),
            target: try b.tensor(y, shape: [rows, y.count / rows]), backend: b)
        return (try b.read(l), try b.read(g))
    }

    /// torch.nn.functional's values for the same inputs (reduction "mean").
    @Test func valuesAreTorchs() throws {
        let close = { (a: Float, b: Float) in Swift.abs(a - b) < 1e-5 }
        let h = try Self.loss(.huber, [0.5, 2.0], [0, 0], rows: 2)
        #expect(close(h.rows.reduce(0, +) / 2, 0.8125), "huber_loss([0.5, 2], 0) = 0.8125, got \(h.rows)")
        let b = try Self.loss(.bce_with_logits, [0.5, -1], [1, 0], rows: 2)
        #expect(close(b.rows.reduce(0, +) / 2, 0.3936695), "binary_cross_entropy_with_logits = 0.39367, got \(b.rows)")
        let l1 = try Self.loss(.l1, [1, -2, 3, 0], [0, 0, 1, 1], rows: 2)
        #expect(l1.rows == [1.5, 1.5])
        // cross_entropy([[1, 2, 3]], [2], label_smoothing=0.1) = 0.50760; the target is the smoothed distribution.
        let e: Float = 0.1
        let ce = try Self.loss(
            .cross_entropy, [1, 2, 3], [e / 3, e / 3, 1 - e + e / 3], rows: 1, options: LossOptions(labelSmoothing: 0.1))
        #expect(close(ce.rows[0], 0.5076), "got \(ce.rows)")
    }

    @Test(arguments: [LossKind.l1, .huber, .bce_with_logits, .cross_entropy])
    func gradientsMatchFiniteDifferences(_ kind: LossKind) throws {
        let rows = 3, cols = 4
        let x = OpSamples.values(rows * cols, seed: 21, away: 0.05)
        var y = OpSamples.values(rows * cols, seed: 22, lo: 0, hi: 1)
        if kind == .cross_entropy {  // a distribution per row
            for r in 0..<rows {
                let s = y[(r * cols)..<((r + 1) * cols)].reduce(0, +)
                for c in 0..<cols { y[r * cols + c] /= s }
            }
        }
        let options = LossOptions(labelSmoothing: 0.1, huberDelta: 0.7)
        let g = try Self.loss(kind, x, y, rows: rows, options: options).grad
        let h: Float = 1e-3
        for j in 0..<x.count {
            var p = x, m = x
            p[j] += h
            m[j] -= h
            let lp = try Self.loss(kind, p, y, rows: rows, options: options).rows.reduce(0, +) / Float(rows)
            let lm = try Self.loss(kind, m, y, rows: rows, options: options).rows.reduce(0, +) / Float(rows)
            let numeric = (lp - lm) / (2 * h)
            #expect(Swift.abs(g[j] - numeric) <= 2e-3 + 2e-2 * Swift.abs(numeric), "\(kind) [\(j)]: \(g[j]) vs \(numeric)")
        }
        for which in [BackendUnderTest.simd, .vulkan] {
            let other = try Self.loss(kind, x, y, rows: rows, options: options, on: try which.make())
            #expect(zip(other.grad, g).allSatisfy { Swift.abs($0 - $1) < 1e-5 }, "\(which) \(kind): gradient differs from the CPU's")
        }
    }

    /// Each loss trains an MLP and a graph model: the loss falls.
    @Test(arguments: [LossKind.l1, .huber, .bce_with_logits])
    func eachLossTrains(_ kind: LossKind) throws {
        let data = try Generators.blobs(samples: 120, features: 3, centers: 2, seed: 3)
        var task = TrainingTask(algorithm: .adam(Adam(learningRate: 0.02)), epochs: 12, batchSize: 16, loss: kind)
        task.lossOptions = LossOptions(huberDelta: 0.5)
        let r = try Trainer.train(
            model: MLPModel(inputs: 3, hidden: [8], outputs: 2, activation: .relu, seed: 1), data: data, task: task,
            backend: CPUBackend(), seed: 1)
        #expect(try #require(r.epochs.last).loss < r.epochs[0].loss * 0.7, "\(kind): \(r.epochs.map(\.loss))")
        var b = GraphBuilder(inputShape: [3], seed: 1)
        try b.linear(outputs: 8, init: .relu)
        try b.activation(.relu)
        try b.linear(outputs: 2)
        let g = try GraphTrainer.train(
            b.finished(), data: data, epochs: 12, batchSize: 16, algorithm: .adam(Adam(learningRate: 0.02)), loss: kind,
            backend: CPUBackend(), seed: 1, lossOptions: LossOptions(huberDelta: 0.5))
        #expect(try #require(g.losses.last) < g.losses[0] * 0.7, "\(kind) graph: \(g.losses)")
    }
}
