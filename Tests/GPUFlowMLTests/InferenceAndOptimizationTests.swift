import GPUFlowCompute
import GPUFlowCore
import Testing

@testable import GPUFlowML

@Suite struct InferenceAndOptimizationTests {
    let backend = CPUBackend()

    @Test func percentilesComeFromTheHistogramWithinItsPrecision() {
        let s = LatencySummary(samples: (1...100).map(Double.init).reversed())
        func near(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= b * 0.001 }
        #expect(near(s.p50, 50) && near(s.p95, 95) && near(s.p99, 99), "\(s)")
        #expect(s.max == 100 && s.mean == 50.5)
        #expect(near(LatencySummary(samples: [7]).p99, 7))
        #expect(LatencySummary(samples: []).p99 == 0)
    }

    @Test func inferenceCoversEveryRowInBatches() throws {
        let data = try Generators.blobs(samples: 100, features: 3, centers: 3, seed: 1)
        let model = MLPModel(inputs: 3, hidden: [8], outputs: 3, activation: .relu, seed: 1)
        let r = try InferenceRunner.run(model: model, data: data, batchSize: 32, backend: backend)
        #expect(r.rows == 100 && r.batches == 4 && r.predictions.count == 100)
        #expect(r.predictions.allSatisfy { $0 >= 0 && $0 < 3 && $0 == $0.rounded() })
        #expect(r.throughputPerSec > 0 && r.latencyMS.p99 >= r.latencyMS.p50)
        #expect(r.tensorBytes == model.forwardTensorBytes(batch: 32))
        #expect(throws: MLError.self) { try InferenceRunner.run(model: model, data: data, batchSize: 0, backend: backend) }
    }

    @Test(arguments: OptimizationStrategy.allCases)
    func searchSpendsItsBudgetAndRespectsConstraints(_ strategy: OptimizationStrategy) throws {
        let model = MLPModel(inputs: 8, hidden: [16], outputs: 4, activation: .relu, seed: 1)
        let data = try WorkloadRunner.syntheticInputs(for: model, rows: 256, seed: 1)
        let task = OptimizationTask(target: .throughput, constraints: .init(maxMemoryMB: 1), strategy: strategy, budget: 4, seed: 3)
        let r = try ConfigurationSearch.run(model: model, data: data, task: task, backend: backend, seed: 3)
        // Grid, random and Bayesian search spend the whole budget on distinct points; the walks may stop early.
        if [.grid, .random, .bayesian].contains(strategy) {
            #expect(r.trials.count == 4)
        } else {
            #expect((1...4).contains(r.trials.count))
        }
        #expect(r.dimensions.map(\.0) == ["batch_size"] && r.dimensions.map(\.1) == [9], "batch sizes 1…256")
        if let best = r.best { #expect(best.feasible && best.memoryMB <= 1) }
        let tight = OptimizationTask(target: .memory, constraints: .init(maxMemoryMB: 1), strategy: strategy, budget: 3, seed: 3)
        let m = try ConfigurationSearch.run(model: model, data: data, task: tight, backend: backend, seed: 3)
        let feasible = m.trials.filter(\.feasible)
        #expect(m.best?.memoryMB == feasible.map(\.memoryMB).min())
    }

    @Test(arguments: OptimizationStrategy.allCases)
    func everyStrategySpendsAtMostItsBudgetOverSeveralDimensions(_ strategy: OptimizationStrategy) throws {
        let model = MLPModel(inputs: 4, hidden: [8], outputs: 3, activation: .relu, seed: 1)
        let data = try Generators.blobs(samples: 90, features: 4, centers: 3, seed: 1)
        var task = OptimizationTask(target: .latency, strategy: strategy, budget: 5, seed: 2)
        task.space = ["batch_size": .numbers([1, 4, 16, 64]), "backend": .names(["cpu", "vulkan"])]
        let r = try ConfigurationSearch.run(model: model, data: data, task: task, backend: backend, seed: 2, device: DeviceSelection(index: 99))
        #expect(!r.trials.isEmpty && r.trials.count <= 5)
        #expect(r.dimensions.map(\.0) == ["backend", "batch_size"])
        for t in r.trials where !t.feasible { #expect(t.reason?.contains("no Vulkan device with index 99") == true) }
        if let best = r.best { #expect(best.feasible && best.configuration.contains { $0.0 == "backend" }) }
    }

    @Test func accuracyTargetTunesTheLearningRateByTrainingEachTrial() throws {
        let model = MLPModel(inputs: 4, hidden: [16], outputs: 3, activation: .relu, seed: 1)
        let data = try Generators.blobs(samples: 150, features: 4, centers: 3, seed: 4).standardized()
        var task = OptimizationTask(target: .accuracy, strategy: .grid, budget: 2, seed: 1)
        task.space = ["learning_rate": .numbers([1e-6, 0.05])]
        let r = try ConfigurationSearch.run(model: model, data: data, task: task, backend: backend, seed: 1)
        let best = try #require(r.best)
        #expect(best.configuration.first { $0.0 == "learning_rate" }?.1.doubleValue == 0.05, "a rate that learns beats one that cannot")
        #expect((best.accuracy ?? 0) > 0.8)
        #expect(r.trials.allSatisfy { $0.accuracy != nil })
    }

    /// A search over training hyper-parameters spends its budget on them alone (the serving
    /// batch size was added as a hidden dimension: 2 rates became 2 × 9 points); `best` is flat;
    /// a grid larger than the budget says so; memory is what the tensor meter saw.
    @Test func aTrainingSearchHasNoHiddenDimensionAndItsFiguresAreMeasured() throws {
        let model = MLPModel(inputs: 4, hidden: [16], outputs: 3, activation: .relu, seed: 1)
        let data = try Generators.blobs(samples: 150, features: 4, centers: 3, seed: 4).standardized()
        var task = OptimizationTask(target: .accuracy, strategy: .grid, budget: 3, seed: 1)
        task.space = ["learning_rate": .numbers([0.001, 0.01, 0.1])]
        task.trainingEpochs = 2
        let r = try ConfigurationSearch.run(model: model, data: data, task: task, backend: backend, seed: 1)
        #expect(r.dimensions.map(\.0) == ["learning_rate"] && r.spaceSize == 3)
        #expect(r.trials.count == 3 && Set(r.trials.map { $0.configuration.first?.1.doubleValue ?? 0 }).count == 3, "three distinct rates")
        #expect(r.trials.allSatisfy { $0.batchSize == 64 })
        let value = try WorkloadRunner.run(.optimization(task), inputs: TaskInputs(model: model, data: data), backend: backend, seed: 1)
        #expect(value["best"]?["learning_rate"]?.doubleValue != nil, "best.learning_rate, flat")
        #expect(value["best"]?["batch_size"]?.doubleValue == 64)
        #expect(value["note"] == nil, "budget 3 covers the grid of 3")
        var wide = task
        wide.space = ["learning_rate": .numbers([0.001, 0.003, 0.01, 0.03, 0.1])]
        wide.budget = 2
        let partial = try WorkloadRunner.run(.optimization(wide), inputs: TaskInputs(model: model, data: data), backend: backend, seed: 1)
        #expect(partial["note"]?.stringValue?.contains("the grid has 5 points and the budget is 2") == true, "\(partial["note"] ?? .null)")
        // Memory is the meter's peak during the measured run: the same as metering that run alone.
        let sizes = OptimizationTask(target: .memory, strategy: .grid, budget: 2, seed: 1)
        let m = try ConfigurationSearch.run(model: model, data: data, task: sizes, backend: CPUBackend(), seed: 1)
        for t in m.trials {
            let alone = CPUBackend()
            _ = try InferenceRunner.run(model: model, data: data, batchSize: t.batchSize, backend: alone)
            #expect(abs(t.memoryMB - Double(alone.tensorBytesPeak ?? 0) / 1_048_576) < 1e-9, "batch \(t.batchSize): \(t.memoryMB) MB")
        }
    }

    @Test func powerTargetsNeedAPowerReading() throws {
        let model = MLPModel(inputs: 4, hidden: [4], outputs: 2, activation: .relu, seed: 1)
        let data = try Generators.blobs(samples: 32, features: 4, centers: 2, seed: 1)
        let task = OptimizationTask(target: .power_efficiency, strategy: .grid, budget: 2)
        if PowerMeter.available() == nil {
            do {
                _ = try ConfigurationSearch.run(model: model, data: data, task: task, backend: backend, seed: 1)
                Issue.record("power_efficiency ran without a power reading")
            } catch let e as MLError {
                #expect(e.message.contains("needs a power reading"))
            }
        } else {
            let r = try ConfigurationSearch.run(model: model, data: data, task: task, backend: backend, seed: 1)
            #expect(r.trials.allSatisfy { $0.powerW != nil })
        }
    }

    @Test func infeasibleConstraintsGiveNoBest() throws {
        let model = MLPModel(inputs: 4, hidden: [4], outputs: 2, activation: .relu, seed: 1)
        let data = try WorkloadRunner.syntheticInputs(for: model, rows: 64, seed: 1)
        let task = OptimizationTask(target: .latency, constraints: .init(minThroughputPerSec: 1e15), strategy: .grid, budget: 3)
        let r = try ConfigurationSearch.run(model: model, data: data, task: task, backend: backend, seed: 1)
        #expect(r.best == nil)
        #expect(r.trials.allSatisfy { !$0.feasible })
    }

    @Test func expectedImprovementFollowsTheObservedTrend() throws {
        // Observed a clear trend (good at 0, worse at 4, worst at 8): the next probe is on the good side.
        let next = try #require(
            GaussianProcess.nextByExpectedImprovement(
                observed: [(0, 1.0), (4, 3.0), (8, 5.0)],
                candidates: [1, 2, 3, 5, 6, 7]))
        #expect(next < 4)
        // Infeasible observations count as bad: with only those, it probes away from them.
        let away = try #require(GaussianProcess.nextByExpectedImprovement(observed: [(0, 2.0), (1, nil)], candidates: [2, 6]))
        #expect(away == 6)
        #expect(GaussianProcess.nextByExpectedImprovement(observed: [], candidates: []) == nil)
    }
}
