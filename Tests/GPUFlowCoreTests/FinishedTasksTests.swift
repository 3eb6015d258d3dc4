import Testing

@testable import GPUFlowCore

/// The compact store of finished tasks gives back every field it was given, across chunk
/// boundaries and out of order, and the orchestrator pages records in id order.
@Suite struct FinishedTasksTests {
    private func record(_ id: TaskID, state: TaskState, agent: String?, failure: TaskFailure? = nil) -> TaskRecord {
        var r = TaskRecord(
            id: id, name: "task \(id % 3)", typeName: id % 2 == 0 ? "training" : "plain", agent: agent,
            priority: id % 4 == 0 ? .critical : .low, memoryMB: id * 3, durationEstimateS: id % 5 == 0 ? nil : Double(id) / 8,
            state: state, submittedAt: Double(id), startedAt: id % 7 == 0 ? nil : Double(id) + 0.25,
            finishedAt: Double(id) + 0.5, failure: failure)
        r.memorySourceKind = id % 2 == 0 ? .predicted : .none
        return r
    }

    @Test func everyFieldComesBackAcrossChunksAndOutOfOrder() {
        var store = FinishedTasks()
        let ids = Array((1...2500).reversed()) + [5000]
        for id in ids {
            let failed = id % 11 == 0
            let f = failed ? TaskFailure(taskID: id, taskName: "task \(id % 3)", reason: .error("boom \(id)"), kind: .input) : nil
            store.insert(
                FinishedTask(
                    record: record(id, state: failed ? .failed : .succeeded, agent: id % 3 == 0 ? nil : "agent-\(id % 2)", failure: f),
                    result: failed ? nil : (id % 10 == 1 ? .integer(id) : .null), workloadKind: id % 6 == 0 ? "training" : nil,
                    model: id % 12 == 0 ? "mlp" : nil))
        }
        #expect(store.count == ids.count)
        #expect(store[0] == nil && store[2501] == nil && store[4999] == nil && store[5001] == nil)
        for id in ids {
            guard let t = store[id] else {
                Issue.record("task \(id) missing")
                continue
            }
            let want = record(id, state: id % 11 == 0 ? .failed : .succeeded, agent: id % 3 == 0 ? nil : "agent-\(id % 2)")
            #expect(t.record.id == id && t.record.name == want.name && t.record.typeName == want.typeName)
            #expect(t.record.agent == want.agent && t.record.priority == want.priority && t.record.memoryMB == want.memoryMB)
            #expect(t.record.durationEstimateS == want.durationEstimateS && t.record.startedAt == want.startedAt)
            #expect(t.record.submittedAt == want.submittedAt && t.record.finishedAt == want.finishedAt)
            #expect(t.record.state == want.state && t.record.memorySource == want.memorySource)
            if id % 11 == 0 {
                #expect(t.record.failure?.cause == "boom \(id)" && t.record.failure?.kind == .input && t.result == nil)
            } else {
                #expect(t.record.failure == nil)
                if case .integer(let n)? = t.result { #expect(n == id && id % 10 == 1) } else { #expect(id % 10 != 1) }
                if case .null? = t.result { #expect(id % 10 != 1) }
            }
            #expect(t.workloadKind == (id % 6 == 0 ? "training" : nil) && t.model == (id % 12 == 0 ? "mlp" : nil))
        }
        var seen: [TaskID] = []
        store.forEach { seen.append($0.record.id) }
        #expect(seen == ids.sorted())
    }

    @Test func recordsArePagedInIdOrder() async throws {
        var profile = Profile()
        profile.learning.history = "none"
        let o = GPUTaskOrchestrator(profile: profile)
        var ids: [TaskID] = []
        for i in 0..<50 {
            ids.append(try await o.submit(TaskSpec(name: "t\(i)", kind: .plain) { _ in .integer(i) }))
        }
        for id in ids { _ = await o.wait(id) }
        var paged: [TaskID] = []
        var after = 0
        while true {
            let page = await o.records(after: after, limit: 7)
            guard let last = page.last else { break }
            #expect(page.count <= 7)
            paged += page.map(\.id)
            after = last.id
        }
        #expect(paged == ids)
        #expect(await o.records().map(\.id) == ids)
        #expect(await o.records().map(\.name) == (0..<50).map { "t\($0)" })
    }
}
