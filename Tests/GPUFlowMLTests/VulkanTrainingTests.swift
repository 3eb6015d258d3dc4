import GPUFlowCompute
import GPUFlowCore
import GPUFlowTesting
import Testing

@testable import GPUFlowML

/// Training on the Vulkan backend (lavapipe in CI): one submission per step, the CPU's numbers.
@Suite struct VulkanTrainingTests {
    @Test func aTrainingStepIsOneSubmission() throws {
        let vulkan = try VulkanBackend(context: VulkanContext.shared())
        let data = try Generators.blobs(samples: 200, features: 4, centers: 3, seed: 1)
        let model = MLPModel(inputs: 4, hidden: [16], outputs: 3, activation: .relu, seed: 1)
        let before = vulkan.submissions
        _ = try Trainer.train(
            model: model, data: data, task: TrainingTask(algorithm: .adam(Adam()), epochs: 1, batchSize: 50),
            backend: vulkan, seed: 1)
        #expect(vulkan.submissions - before == 4, "200 rows in batches of 50: four steps, four submissions")
    }

    /// A graph's step too — forward on the tape, the loss, every backward rule, Adam on each
    /// parameter, dropout's mask and layer norm included — is recorded before the one read of
    /// the loss: one submission per step, as the MLP's.
    @Test func aGraphTrainingStepIsOneSubmission() throws {
        let vulkan = try VulkanBackend(context: VulkanContext.shared())
        let data = try Generators.blobs(samples: 200, features: 4, centers: 3, seed: 1)
        let model = try GraphModelTests.residualNet(inputs: 4, classes: 3)
        let before = vulkan.submissions
        _ = try GraphTrainer.train(
            model, data: data, epochs: 1, batchSize: 50, algorithm: .adam(Adam()), backend: vulkan, seed: 1)
        #expect(vulkan.submissions - before == 4, "200 rows in batches of 50: four steps, four submissions")
    }

    @Test(arguments: [TrainingAlgorithm.adam(Adam(learningRate: 0.01)), .backpropagation(Backpropagation(learningRate: 0.05))])
    func vulkanTrainsLikeTheCPU(_ algorithm: TrainingAlgorithm) throws {
        let data = try Generators.spirals(samples: 300, classes: 3, seed: 2).standardized()
        let model = MLPModel(inputs: 2, hidden: [32, 32], outputs: 3, activation: .tanh, seed: 3)
        let task = TrainingTask(algorithm: algorithm, epochs: 15, batchSize: 32)
        let cpu = try Trainer.train(model: model, data: data, task: task, backend: CPUBackend(), seed: 4)
        let gpu = try Trainer.train(model: model, data: data, task: task, backend: VulkanBackend(context: VulkanContext.shared()), seed: 4)
        for (c, g) in zip(cpu.epochs, gpu.epochs) {
            #expect(abs(c.loss - g.loss) <= 1e-3 * max(1, c.loss), "epoch \(c.epoch): cpu \(c.loss) vulkan \(g.loss)")
        }
        let cw = cpu.model.layers.flatMap(\.weights), gw = gpu.model.layers.flatMap(\.weights)
        let diff = zip(cw, gw).map { abs($0 - $1) }.max() ?? 0
        #expect(diff < 1e-3, "weights after 15 epochs differ by \(diff)")
    }
}
