import GPUFlowCompute
import GPUFlowCore
import GPUFlowTesting
import Testing

@testable import GPUFlowML

/// The whole fault path on lavapipe: injected device loss → the breaker opens → the task
/// resumes on the next backend from its last finished epoch, with the undisturbed run's numbers.
@Suite struct FallbackTests {
    private let data = try! Generators.blobs(samples: 300, features: 8, centers: 3, seed: 3)
    private let model = MLPModel(inputs: 8, hidden: [16], outputs: 3, activation: .relu, seed: 1)
    private var training: TrainingTask { TrainingTask(algorithm: .adam(Adam(learningRate: 0.01)), epochs: 6, batchSize: 32, seed: 5) }

    private func hybrid(_ fallback: FallbackStrategy) -> GPUTaskType {
        .hybridCompute(HybridComputeTask(primaryBackend: .vulkan, fallbackStrategy: fallback))
    }

    private func services(threshold: Int) -> ExecutionServices {
        ExecutionServices(
            learning: GPULearningEngine(enabled: true),
            breakers: CircuitBreakerBoard(settings: .init(failureThreshold: threshold, cooldownS: 60)))
    }

    private func strings(_ v: TaskValue?, _ key: String) -> [String] {
        guard case .array(let a)? = v else { return [] }
        return a.compactMap { if case .string(let s)? = $0[key] { return s } else { return nil } }
    }

    /// Through the runner: the half-open trial is a task whose data does not fit its model (an
    /// input error) and then one that is cancelled; each gives the trial back, and a good task
    /// after them closes the breaker.
    @Test func aHalfOpenTrialEndingInAnInputErrorOrACancelLeavesTheBreakerUsable() throws {
        final class Clock: @unchecked Sendable { var now = 0.0 }
        let clock = Clock()
        let board = CircuitBreakerBoard(settings: .init(failureThreshold: 1, cooldownS: 5), clock: { clock.now })
        let s = ExecutionServices(learning: GPULearningEngine(enabled: true), breakers: board)
        board.recordFailure("cpu")
        clock.now = 6
        let wrong = try Generators.blobs(samples: 20, features: 5, centers: 3, seed: 1)
        #expect(throws: MLError.self) {
            try ResilientRunner.run(
                .inference(InferenceTask(modelID: self.model.objectID)), inputs: TaskInputs(model: self.model, data: wrong),
                backend: .cpu, services: s, seed: 1)
        }
        #expect(board.breaker("cpu").state == .halfOpen)
        let cancelled = CancellationToken()
        cancelled.cancel()
        #expect(throws: (any Error).self) {
            try ResilientRunner.run(
                .training(self.training), inputs: TaskInputs(model: self.model, data: self.data), backend: .cpu, services: s,
                seed: 1, cancel: cancelled)
        }
        let ok = try ResilientRunner.run(
            .inference(InferenceTask(modelID: model.objectID)), inputs: TaskInputs(model: model, data: data),
            backend: .cpu, services: s, seed: 1)
        #expect(ok["accuracy"] != nil)
        #expect(board.breaker("cpu").state == .closed, "the good task was admitted as the trial and closed the breaker")
    }

    @Test func deviceLossOpensTheBreakerAndTrainingFinishesOnSIMDWithTheSameNumbers() throws {
        let inputs = TaskInputs(model: model, data: data, inner: .training(training))
        let calm = try ResilientRunner.run(hybrid(.fail), inputs: inputs, backend: .auto, services: services(threshold: 2), seed: 1)
        let faults = FaultInjector(afterDispatches: 400)  // inside epoch 3 of 6
        let s = services(threshold: 2)
        let hurt = try ResilientRunner.run(
            hybrid(.cascade([.simd])), inputs: inputs, backend: .auto, services: s,
            device: DeviceSelection(faults: faults), seed: 1)
        #expect(hurt["backend"]?.stringValue == "simd")
        #expect(strings(hurt["attempts"], "outcome") == ["fault", "fault", "succeeded"])
        #expect(strings(hurt["attempts"], "breaker") == ["closed", "open"])
        #expect(hurt["faults"]?.doubleValue == 2)
        let resumed = try #require(hurt["result"]?["metrics"]?["resumed_from_epoch"]?.doubleValue)
        #expect(resumed == 2, "epochs finished on vulkan before the fault")
        #expect(faults.injectedFaults == 2)
        let key = s.breakers.snapshot().first { $0.key.hasPrefix("vulkan:") }
        #expect(key?.breaker.state == .open)
        // Same numbers as the undisturbed Vulkan run, within float tolerance; every epoch is there.
        let a = try #require(calm["result"]?["metrics"]?["loss"]?.doubleValue),
            b = try #require(hurt["result"]?["metrics"]?["loss"]?.doubleValue)
        #expect(abs(a - b) <= 1e-4 * max(1, a), "loss undisturbed \(a) vs after fallback \(b)")
        #expect(calm["result"]?["metrics"]?["accuracy"]?.doubleValue == hurt["result"]?["metrics"]?["accuracy"]?.doubleValue)
        guard case .array(let history)? = hurt["result"]?["history"] else { Issue.record("no history"); return }
        #expect(history.count == 6)
        // The next task does not touch the open breaker's backend: it goes straight to SIMD.
        let next = try ResilientRunner.run(
            hybrid(.cascade([.simd])), inputs: inputs, backend: .auto, services: s,
            device: DeviceSelection(faults: faults), seed: 1)
        #expect(strings(next["attempts"], "outcome") == ["skipped", "succeeded"])
        #expect(next["reason"]?.stringValue?.contains("circuit open after 2 consecutive faults") == true)
        #expect(faults.injectedFaults == 2)
    }

    @Test func outOfMemoryMovesOnAtOnceAndStrictTasksFailWithTheFault() throws {
        let inputs = TaskInputs(model: model, data: data, inner: .training(training))
        let oom = DeviceSelection(faults: FaultInjector(afterDispatches: 10, outOfMemory: true))
        let s = services(threshold: 3)
        let r = try ResilientRunner.run(hybrid(.cascade([.cpu])), inputs: inputs, backend: .auto, services: s, device: oom, seed: 1)
        #expect(strings(r["attempts"], "outcome") == ["fault", "succeeded"])
        #expect(r["backend"]?.stringValue == "cpu")
        // With no fallback the device fault is the error, after the breaker's retries.
        let strict = services(threshold: 2)
        #expect {
            try ResilientRunner.run(
                hybrid(.fail), inputs: inputs, backend: .auto, services: strict,
                device: DeviceSelection(faults: FaultInjector(afterDispatches: 0)), seed: 1)
        } throws: { e in
            "\(e)".contains("no backend could run the task") && "\(e)".contains("injected fault: device lost")
        }
        #expect(strict.breakers.snapshot().first?.breaker.failures == 2)
    }

    @Test func plainTasksFollowTheProfileFallbackAndBadInputDoesNotTripTheBreaker() throws {
        let faults = DeviceSelection(faults: FaultInjector(afterDispatches: 0))
        let s = ExecutionServices(
            learning: GPULearningEngine(enabled: true), breakers: CircuitBreakerBoard(settings: .init(failureThreshold: 1)),
            fallbackBackends: [.simd])
        let r = try ResilientRunner.run(
            .training(training), inputs: TaskInputs(model: model, data: data), backend: .vulkan, services: s,
            device: faults, seed: 1)
        #expect(r["backend"]?.stringValue == "simd")
        #expect(strings(r["attempts"], "outcome") == ["fault", "succeeded"])
        // A data error is the task's fault, not the device's: no retry, breaker untouched.
        let fresh = services(threshold: 1)
        let wrong = try Generators.blobs(samples: 30, features: 5, centers: 3, seed: 1)
        #expect(throws: MLError.self) {
            try ResilientRunner.run(
                .training(training), inputs: TaskInputs(model: model, data: wrong), backend: .vulkan, services: fresh, seed: 1)
        }
        #expect(fresh.breakers.snapshot().allSatisfy { $0.breaker.failures == 0 })
    }

    @Test func unavailablePrimaryFallsBackAndSaysWhy() throws {
        let m = MLPModel(inputs: 2, hidden: [], outputs: 2, activation: .relu, seed: 1)
        let d = try Generators.blobs(samples: 20, features: 2, centers: 2, seed: 1)
        let missing = DeviceSelection(index: 99)
        let inputs = TaskInputs(model: m, data: d, inner: .inference(.init(modelID: m.objectID)))
        let out = try ResilientRunner.run(
            hybrid(.cascade([.cpu])), inputs: inputs, backend: .auto, services: .standalone(), device: missing, seed: 1)
        #expect(out["backend"]?.stringValue == "cpu")
        let reason = out["reason"]?.stringValue ?? ""
        #expect(reason.contains("vulkan: no Vulkan device with index 99") && reason.hasSuffix("ran on cpu"), "\(reason)")
        #expect(throws: BackendError.self) {
            try ResilientRunner.run(hybrid(.fail), inputs: inputs, backend: .auto, services: .standalone(), device: missing, seed: 1)
        }
    }
}

extension TaskValue {
    var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }
}
