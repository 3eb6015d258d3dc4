import GPUFlowCompute
import GPUFlowCore
import GPUFlowTesting
import Testing

@testable import GPUFlowML

/// The adaptive strategy on known history: explore first, then predictions and criteria decide,
/// the threshold keeps the primary, feedback and open breakers change the choice.
@Suite struct AdaptiveSelectionTests {
    private let shape = WorkloadShape(kind: "training", features: ["rows": 1000, "flops": 1e7], parameters: ["model": "8-16-3"])

    /// simd takes 1 ms per 1e7 FLOP, cpu 3 ms, vulkan 10 ms.
    private func history(runs: Int = 6) -> GPULearningEngine {
        let e = GPULearningEngine(enabled: true)
        for i in 0..<runs {
            let flops = 1e7 * Double(1 + i % 3)
            for (b, s) in [("simd", 1e-3), ("cpu", 3e-3), ("vulkan", 10e-3)] {
                e.record(
                    ExecutionRecord(
                        kind: "training", backend: b, device: "d", features: ["rows": 1000 * Double(1 + i % 3), "flops": flops],
                        durationS: s * flops / 1e7, peakMemoryBytes: 1e6, at: Double(i)))
            }
        }
        return e
    }

    private func plan(
        _ e: GPULearningEngine, primary: BackendKind = .vulkan, threshold: Double = 0.1, exploration: Double = 0,
        breakers: CircuitBreakerBoard = CircuitBreakerBoard()
    ) -> BackendPlan {
        BackendPlanner.plan(
            primary: primary,
            strategy: .adaptive(
                AdaptiveSelection(
                    candidates: [.vulkan, .simd, .cpu], threshold: threshold,
                    exploration: exploration)),
            criteria: SelectionCriteria(), shape: shape, learning: e, breakers: breakers, device: DeviceSelection(), seed: 1)
    }

    @Test func exploresBackendsWithoutHistoryFirst() {
        let e = GPULearningEngine(enabled: true)
        let p = plan(e)
        #expect(p.order.first == .vulkan)
        #expect(p.reason.contains("exploring vulkan, which has 0 runs"))
        e.record(ExecutionRecord(kind: "training", backend: "vulkan", device: "d", features: shape.features, durationS: 1))
        e.record(ExecutionRecord(kind: "training", backend: "vulkan", device: "d", features: shape.features, durationS: 1))
        #expect(plan(e).order.first == .simd)
    }

    @Test func predictionsAndCriteriaPickTheFastestAndOrderTheRest() {
        let p = plan(history())
        #expect(p.order == [.simd, .cpu, .vulkan])
        #expect(p.reason.hasPrefix("adaptive: simd scores best"))
        #expect(p.reason.contains("power unavailable"))
        let scores = Dictionary(uniqueKeysWithValues: p.scores.map { ($0.backend, $0.score) })
        #expect((scores["simd"] ?? 0) > (scores["cpu"] ?? 1) && (scores["cpu"] ?? 0) > (scores["vulkan"] ?? 1))
    }

    @Test func theThresholdKeepsThePrimaryUnlessTheGainIsLarge() {
        let e = history()
        #expect(plan(e, primary: .cpu, threshold: 0).order.first == .simd)
        let stay = plan(e, primary: .cpu, threshold: 5)
        #expect(stay.order.first == .cpu)
        #expect(stay.reason.contains("staying on cpu"))
    }

    @Test func feedbackAndOpenBreakersChangeTheChoice() {
        let e = history()
        e.feedback(
            typeName: "hybrid_compute",
            FeedbackRecord(
                kind: "training", backend: "simd", model: nil, satisfaction: 0, suggestions: ["prefer_backend=vulkan"],
                durationRatio: nil))
        let p = plan(e)
        #expect(p.order.first == .vulkan, "\(p.reason)")
        #expect(p.reason.contains("feedback +1.00"))
        let board = CircuitBreakerBoard(settings: .init(failureThreshold: 1, cooldownS: 60))
        board.recordFailure(BackendPlanner.breakerKey(.vulkan, device: DeviceSelection()))
        let q = plan(e, breakers: board)
        #expect(!q.order.contains(.vulkan))
        #expect(q.reason.contains("vulkan: circuit open"))
    }

    @Test func explorationIsSeededAndRespectsItsRate() {
        let e = history()
        var explored = 0
        for seed in 0..<200 as Range<UInt64> {
            let p = BackendPlanner.plan(
                primary: .vulkan, strategy: .adaptive(AdaptiveSelection(exploration: 0.2)), criteria: SelectionCriteria(),
                shape: shape, learning: e, breakers: CircuitBreakerBoard(), device: DeviceSelection(), seed: seed)
            if p.reason.contains("exploring") { explored += 1 }
            let again = BackendPlanner.plan(
                primary: .vulkan, strategy: .adaptive(AdaptiveSelection(exploration: 0.2)), criteria: SelectionCriteria(),
                shape: shape, learning: e, breakers: CircuitBreakerBoard(), device: DeviceSelection(), seed: seed)
            #expect(again.order == p.order)
        }
        #expect(explored > 20 && explored < 60, "explored \(explored) of 200 at ε = 0.2")
    }

    @Test func warmStartsMeasurePastBestConfigurationsFirst() throws {
        let model = MLPModel(inputs: 4, hidden: [8], outputs: 3, activation: .relu, seed: 1)
        let data = try Generators.blobs(samples: 256, features: 4, centers: 3, seed: 2)
        var task = OptimizationTask(target: .memory, strategy: .bayesian, budget: 3)
        task.warmStartConfigurations = [["batch_size": "16"], ["batch_size": "999"]]  // 999 is not in the space: dropped
        let r = try ConfigurationSearch.run(model: model, data: data, task: task, backend: SIMDBackend(), seed: 1)
        #expect(r.trials.first?.batchSize == 16)
        #expect(r.trials.count == 3)
        // Through the runner: the first search remembers its trials, the second starts from its best.
        let s = ExecutionServices.standalone()
        let inputs = TaskInputs(model: model, data: data)
        let cold = try ResilientRunner.run(
            .optimization(OptimizationTask(target: .memory, strategy: .random, budget: 4, seed: 3)), inputs: inputs,
            backend: .simd, services: s, seed: 1)
        guard case .array(let none)? = cold["warm_start"] else { Issue.record("no warm_start"); return }
        #expect(none.isEmpty)
        let warm = try ResilientRunner.run(
            .optimization(OptimizationTask(target: .memory, strategy: .random, budget: 4, seed: 9)), inputs: inputs,
            backend: .simd, services: s, seed: 1)
        guard case .array(let proposals)? = warm["warm_start"], case .array(let trials)? = warm["trials"] else {
            Issue.record("no warm start"); return
        }
        #expect(!proposals.isEmpty)
        #expect(trials.first?["batch_size"]?.doubleValue == cold["best"]?["batch_size"]?.doubleValue)
        // Starting from the past best, the search can only match or beat it.
        #expect((warm["best"]?["memory_mb"]?.doubleValue ?? .infinity) <= (cold["best"]?["memory_mb"]?.doubleValue ?? 0))
    }
}
