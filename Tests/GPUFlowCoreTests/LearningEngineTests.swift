import Foundation
import GPUFlowTesting
import Testing

@testable import GPUFlowCore

@Suite struct LearningEngineTests {
    private func record(_ type: String, run: Double, estimate: Double?, state: TaskState = .succeeded) -> TaskRecord {
        TaskRecord(
            id: 1, name: type, typeName: type, agent: nil, priority: .normal, memoryMB: 0,
            durationEstimateS: estimate, state: state, submittedAt: 0, startedAt: 1, finishedAt: 1 + run, failure: nil)
    }

    private func judgement(
        _ type: String, satisfaction: Double, suggestions: [String] = [], backend: String? = nil,
        model: String? = nil, ratio: Double? = nil
    ) -> FeedbackRecord {
        FeedbackRecord(
            kind: type, backend: backend, model: model, satisfaction: satisfaction, suggestions: suggestions, durationRatio: ratio)
    }

    /// Synthetic history with a known law: duration = 2e-9 · flops on simd, 30× that on vulkan,
    /// with ±5 % deterministic noise; peak memory = 4 · params + 64 bytes.
    private func syntheticHistory(_ e: GPULearningEngine, runs: Int = 40) {
        for i in 0..<runs {
            let rows = Double(64 << (i % 6)), params = Double(100 * (1 + i % 5))
            let flops = 6 * params * rows * 10
            let noise = 1 + 0.05 * sin(Double(i) * 1.7)
            for (backend, factor) in [("simd", 1.0), ("vulkan", 30.0)] {
                var r = ExecutionRecord(
                    kind: "training", backend: backend, device: backend == "vulkan" ? "test GPU" : "host",
                    features: ["rows": rows, "params": params, "epochs": 10, "flops": flops],
                    parameters: ["algorithm": i % 2 == 0 ? "adam" : "backprop", "model": "8-16-3"],
                    durationS: 2e-9 * flops * factor * noise, peakMemoryBytes: 4 * params + 64,
                    at: Double(i))
                r.outcomes = ["accuracy": i % 2 == 0 ? 0.95 : 0.80]
                e.record(r)
            }
        }
    }

    @Test func noHistoryMeansNoInsightAndNoPrediction() {
        let e = GPULearningEngine(enabled: true)
        #expect(e.insights().isEmpty)
        #expect(e.predictedSeconds("training") == nil)
        #expect(e.predictDuration(kind: "training", backend: "simd", features: ["rows": 10]) == nil)
        #expect(e.boost(for: "training") == 0)
    }

    @Test func learnsDurationsAndEstimateRatios() {
        let e = GPULearningEngine(enabled: true)
        e.observe(record("training", run: 2, estimate: 1))
        e.observe(record("training", run: 4, estimate: 1))
        #expect(e.predictedSeconds("training") == 3)
        let d = e.insights().first { $0.description.contains("duration_estimate") }
        #expect(d?.description == "training tasks ran 3.00× their duration_estimate on average (n=2)")
        #expect(d?.category == Insight.resources)
        #expect(d?.confidence == Insight.confidence(2))
        e.observe(record("training", run: 1, estimate: nil, state: .failed))
        #expect(e.insights().contains { $0.category == Insight.coordination && $0.description == "training tasks failed 1 of 3 times" })
    }

    @Test func disabledLearningChangesNothing() {
        let e = GPULearningEngine(enabled: false)
        e.feedback(typeName: "inference", judgement("inference", satisfaction: 0, suggestions: ["prefer_backend=cpu", "batch_size=256"]))
        e.feedback(typeName: "inference", judgement("inference", satisfaction: 0))
        #expect(e.boost(for: "inference") == 0)
        #expect(e.backendBias(kind: "inference").isEmpty)
        #expect(e.learnedBatchSize(kind: "inference", model: "m") == nil)
        #expect(e.insights().contains { $0.description.contains("learning disabled") })
    }

    @Test func ridgeRecoversALinearLaw() throws {
        let x = (0..<20).map { i in [Double(i), Double(i * i % 7)] }
        let y = x.map { 2 + 3 * $0[0] - $0[1] }
        let r = try #require(RidgeRegression(x: x, y: y, featureNames: ["a", "b"], lambda: 1e-9))
        #expect(abs(r.predict([30, 2]) - 90) < 1e-3)
        #expect(RidgeRegression(x: [[1]], y: [1], featureNames: ["a"]) == nil)  // one row is not a fit
    }

    @Test func predictorsAreAccurateOnHeldOutHistory() throws {
        let e = GPULearningEngine(enabled: true)
        syntheticHistory(e)
        let simd = try #require(e.heldOutAccuracy(kind: "training", backend: "simd"))
        #expect(simd.trainRuns == 32 && simd.heldOutRuns == 8)
        #expect(simd.medianAbsolutePercentError < 10, "median error \(simd.medianAbsolutePercentError)%")
        let memory = try #require(e.heldOutAccuracy(kind: "training", backend: "simd", target: "memory"))
        #expect(memory.medianAbsolutePercentError < 10)
        // An unseen size, extrapolated: 4× the rows ≈ 4× the time.
        let small = try #require(
            e.predictDuration(
                kind: "training", backend: "simd",
                features: [
                    "rows": 256, "params": 300, "epochs": 10,
                    "flops": 6 * 300 * 256 * 10,
                ]))
        let big = try #require(
            e.predictDuration(
                kind: "training", backend: "simd",
                features: [
                    "rows": 1024, "params": 300, "epochs": 10,
                    "flops": 6 * 300 * 1024 * 10,
                ]))
        #expect(small.method == "ridge" && small.evidence == 40)
        #expect(big.value / small.value > 3 && big.value / small.value < 5.5, "ratio \(big.value / small.value)")
        let mb = try #require(e.predictedMemoryMB(kind: "training", features: ["rows": 1, "params": 1e6, "epochs": 10, "flops": 6e7]))
        #expect(mb >= 1)
    }

    @Test func predictionsStayWithinADecadeOfWhatWasSeen() throws {
        let e = GPULearningEngine(enabled: true)
        // A history where one feature barely varies: the fitted slope is steep.
        for i in 0..<8 {
            e.record(
                ExecutionRecord(
                    kind: "training", backend: "cpu", device: "d", features: ["episodes": 500 + Double(i % 2), "params": 1000],
                    durationS: 1 + Double(i % 2) * 10, peakMemoryBytes: 1e6 * (1 + Double(i % 2) * 10), at: Double(i)))
        }
        let far = ["episodes": 1e12, "params": 1000.0]
        let d = try #require(e.predictDuration(kind: "training", backend: "cpu", features: far))
        #expect(d.value.isFinite && d.value <= 11 * 10 + 1e-9, "\(d.value)")
        let mb = try #require(e.predictedMemoryMB(kind: "training", features: far))
        #expect(mb <= 105, "\(mb) MB")
    }

    @Test func insightsComeFromKnownHistory() {
        let e = GPULearningEngine(enabled: true)
        syntheticHistory(e)
        let all = e.insights(poolMB: 4096)
        let categories = Set(all.map(\.category))
        #expect(categories.isSuperset(of: [Insight.performance, Insight.algorithms, Insight.memory]))
        let speed = all.filter { $0.category == Insight.performance && $0.description.hasPrefix("simd beat vulkan") }
        #expect(!speed.isEmpty)
        for s in speed {
            #expect(s.description.contains("30.") || s.description.contains("29.") || s.description.contains("31."), "\(s.description)")
        }
        let algo = all.first { $0.category == Insight.algorithms }
        #expect(
            algo?.description.hasPrefix("on model 8-16-3, adam gives the best mean final accuracy") == true, "\(algo?.description ?? "")")
        // Confidence grows with evidence: 80 runs say more than 2.
        let lowEvidence = GPULearningEngine(enabled: true)
        for i in 0..<2 {
            for b in ["simd", "vulkan"] {
                lowEvidence.record(
                    ExecutionRecord(
                        kind: "training", backend: b, device: "d", features: ["flops": 1e6], durationS: b == "simd" ? 1 : 2,
                        at: Double(i)))
            }
        }
        let weak = lowEvidence.insights().first { $0.description.hasPrefix("simd beat vulkan") }
        #expect((weak?.confidence ?? 1) < (speed.first?.confidence ?? 0))
    }

    @Test func feedbackChangesPredictionsBiasAndDefaults() {
        let e = GPULearningEngine(enabled: true)
        syntheticHistory(e)
        let f: [String: Double] = ["rows": 256, "params": 300, "epochs": 10, "flops": 6 * 300 * 256 * 10]
        let before = e.predictDuration(kind: "training", backend: "vulkan", features: f)?.value ?? 0
        e.feedback(
            typeName: "training",
            judgement(
                "training", satisfaction: 0.2, suggestions: ["prefer_backend=cpu", "avoid_backend=vulkan"], backend: "vulkan", ratio: 2))
        let after = e.predictDuration(kind: "training", backend: "vulkan", features: f)?.value ?? 0
        #expect(abs(after / before - 2) < 1e-9)
        #expect(e.backendBias(kind: "training") == ["cpu": 0.8, "vulkan": -0.8])
        e.feedback(typeName: "inference", judgement("inference", satisfaction: 0.5, suggestions: ["batch_size=256"], model: "8-16-3"))
        #expect(e.learnedBatchSize(kind: "inference", model: "8-16-3") == 256)
        #expect(e.learnedBatchSize(kind: "inference", model: "other") == nil)
    }

    @Test func historyPersistsAcrossEnginesAndSkipsTornLines() throws {
        let dir = try TestPaths.temporaryDirectory()
        let store = ExecutionHistoryStore(path: dir.appendingPathComponent("sub/history.jsonl").path)
        let first = GPULearningEngine(enabled: true, store: store)
        syntheticHistory(first, runs: 5)
        first.record(trials: [
            TrialRecord(model: "8-16-3", target: "latency", configuration: ["batch_size": "64"], score: -1),
            TrialRecord(model: "8-16-3", target: "latency", configuration: ["batch_size": "8"], score: -0.5),
        ])
        first.feedback(typeName: "inference", judgement("inference", satisfaction: 0.4, suggestions: ["batch_size=32"], model: "m"))
        #expect(first.persistenceError == nil)
        // A torn line (a crash mid-write) and a foreign one are skipped, not fatal.
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: store.path))
        h.seekToEndOfFile()
        h.write(Data("{\"execution\": {\"kind\": \"tra\n{\"unknown\": 1}\n".utf8))
        try h.close()
        let second = GPULearningEngine(enabled: true, store: store)
        #expect(second.executionCount == 10)
        #expect(second.skippedHistoryLines == 2)
        #expect(second.learnedBatchSize(kind: "inference", model: "m") == 32)
        #expect(
            second.warmStart(model: "8-16-3", target: "latency", dimensions: ["batch_size"]) == [["batch_size": "8"], ["batch_size": "64"]])
        #expect(second.warmStart(model: "8-16-3", target: "throughput", dimensions: ["batch_size"]).isEmpty)
    }

    @Test func unwritableHistoryIsReportedNotFatal() {
        let e = GPULearningEngine(enabled: true, store: ExecutionHistoryStore(path: "/proc/gpuflow-no/history.jsonl"))
        e.record(ExecutionRecord(kind: "training", backend: "cpu", device: "d", features: [:], durationS: 1))
        #expect(e.executionCount == 1)
        #expect(e.persistenceError?.contains("/proc/gpuflow-no/history.jsonl") == true)
    }

    @Test func defaultHistoryPathFollowsTheEnvironment() {
        #expect(ExecutionHistoryStore.defaultPath(environment: ["GPUFLOW_DATA_DIR": "/d"]) == "/d/history.jsonl")
        #expect(ExecutionHistoryStore.defaultPath(environment: ["XDG_DATA_HOME": "/x", "HOME": "/h"]) == "/x/gpuflow/history.jsonl")
        #expect(ExecutionHistoryStore.defaultPath(environment: ["HOME": "/h"]) == "/h/.local/share/gpuflow/history.jsonl")
    }
}
