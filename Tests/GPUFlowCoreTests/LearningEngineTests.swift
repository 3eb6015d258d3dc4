@testable import GPUFlowCore
import Testing

@Suite struct LearningEngineTests {
    private func record(_ type: String, run: Double, estimate: Double?, state: TaskState = .succeeded) -> TaskRecord {
        TaskRecord(id: 1, name: type, typeName: type, kind: .plain, agent: nil, priority: .normal, memoryMB: 0,
                   durationEstimateS: estimate, state: state, submittedAt: 0, startedAt: 1, finishedAt: 1 + run, failure: nil)
    }

    @Test func noHistoryMeansNoInsightAndNoPrediction() {
        let e = GPULearningEngine(enabled: true)
        #expect(e.insights().isEmpty)
        #expect(e.predictedSeconds("training") == nil)
        #expect(e.boost(for: "training") == 0)
    }

    @Test func learnsDurationsAndEstimateRatios() {
        var e = GPULearningEngine(enabled: true)
        e.observe(record("training", run: 2, estimate: 1))
        e.observe(record("training", run: 4, estimate: 1))
        #expect(e.predictedSeconds("training") == 3)
        let d = e.insights().first { $0.category == "duration" }
        #expect(d?.description == "training tasks ran 3.00× their duration_estimate on average (n=2)")
        #expect(d?.confidence == 0.5)
        e.observe(record("training", run: 1, estimate: nil, state: .failed))
        #expect(e.insights().contains { $0.category == "reliability" && $0.description == "training tasks failed 1 of 3 times" })
    }

    @Test func disabledLearningChangesNothing() {
        var e = GPULearningEngine(enabled: false)
        e.feedback(record("inference", run: 1, estimate: nil), satisfaction: 0, suggestions: [])
        e.feedback(record("inference", run: 1, estimate: nil), satisfaction: 0, suggestions: [])
        #expect(e.boost(for: "inference") == 0)
        #expect(e.insights().first?.description.contains("learning disabled") == true)
    }
}
