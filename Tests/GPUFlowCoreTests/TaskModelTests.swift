import Foundation
import GPUFlowCore
import Testing

@Suite struct TaskModelTests {
    static let all: [GPUTaskType] = [
        .training(TrainingTask(algorithm: .adam(Adam()), memoryRequirementMB: 64)),
        .inference(InferenceTask(modelID: "m", batchSize: 8, maxLatencyMS: 5, minThroughputPerSec: 100, memoryRequirementMB: 16)),
        .optimization(OptimizationTask(target: .latency, constraints: .init(maxMemoryMB: 32), strategy: .bayesian)),
        .memoryManagement(MemoryManagementTask(operation: .allocate, poolConfig: .init(sizeMB: 128))),
        .resourceCoordination(ResourceCoordinationTask(pattern: .timeSliced(.init(sliceMS: 5)), participatingAgents: ["a"])),
        .hybridCompute(HybridComputeTask(primaryBackend: .vulkan, fallbackStrategy: .fallback(.cpu), memoryRequirementMB: 8)),
    ]

    @Test func namesAndMemoryRequirements() {
        #expect(
            Self.all.map(\.name) == [
                "training", "inference", "optimization", "memory_management", "resource_coordination", "hybrid_compute",
            ])
        #expect(Self.all.map(\.memoryRequirementMB) == [64, 16, 32, 128, 0, 8])
    }

    @Test func everyTaskTypeRoundTripsThroughJSON() throws {
        for t in Self.all {
            let data = try JSONEncoder().encode(t)
            #expect(try JSONDecoder().decode(GPUTaskType.self, from: data) == t)
        }
        let algorithms: [TrainingAlgorithm] = [
            .backpropagation(.init(learningRate: 0.1, batchSize: 4, momentum: 0.5)), .adam(.init(beta1: 0.8)),
            .reinforcement(.init(policyType: .q_network)), .transfer(.init(baseModel: "m.json", freezingStrategy: .alternating)),
            .evolutionary(.init(populationSize: 10, selection: .roulette)),
        ]
        for a in algorithms {
            #expect(try JSONDecoder().decode(TrainingAlgorithm.self, from: JSONEncoder().encode(a)) == a)
        }
    }

    @Test func choicesListEveryCase() {
        #expect(OptimizationStrategy.choices == "grid | random | greedy | genetic | simulated_annealing | bayesian | multi_armed_bandit")
        #expect(TaskPriority.critical.rank > TaskPriority.high.rank && TaskPriority.high.rank > TaskPriority.normal.rank)
    }
}
