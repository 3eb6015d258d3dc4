/// A finished task as it is asked of: its record for status and metrics, its result for
/// dependants and late waiters, and what feedback needs to know of its work.
struct FinishedTask {
    var record: TaskRecord
    var result: TaskValue?
    var workloadKind: String?
    var model: String?
}

/// Finished tasks by id, kept small: a million finished no-op tasks fit in about 60 MB beside
/// the queue that produced them.
///
/// Ids are dense (one per submission, from 1), so records sit in fixed-size chunks indexed by
/// id: no hash table, and growing never copies what is there (a doubling array's copy held two
/// of everything for a moment). A chunk is small enough to come from the heap, where the memory
/// of queue entries just freed is reused. Each record is 56 bytes: names, types and agents
/// interned (a run has few distinct ones), failures in a side list. What most tasks do not
/// have — a result other than nil, the kind and model of GPU work — lives in side tables
/// holding only the tasks that do.
struct FinishedTasks {
    private struct Compact {
        var submittedAt = 0.0, startedAt = Double.nan, finishedAt = Double.nan, durationEstimate = Double.nan
        var name = Compact.absent, type: UInt32 = 0, agent: UInt32 = 0, failure: UInt32 = 0
        var memoryMB: Int32 = 0
        var priority: UInt8 = 0, state: UInt8 = 0, source: UInt8 = 0
        static let absent = UInt32.max
    }

    private static let chunkSize = 1024
    private var chunks: [[Compact]] = []
    private var strings = StringTable()
    /// Failures, referred to from records by index + 1 (0: none).
    private var failures: [TaskFailure] = []
    private var results: [TaskID: TaskValue] = [:]
    private var work: [TaskID: (kind: String, model: String?)] = [:]
    private(set) var count = 0

    subscript(id: TaskID) -> FinishedTask? {
        guard id >= 1 else { return nil }
        let (c, i) = (id - 1).quotientAndRemainder(dividingBy: Self.chunkSize)
        guard c < chunks.count, i < chunks[c].count, chunks[c][i].name != Compact.absent else { return nil }
        return task(id, chunks[c][i])
    }

    mutating func insert(_ task: FinishedTask) {
        let r = task.record, id = r.id
        guard id >= 1 else { return }
        let (c, i) = (id - 1).quotientAndRemainder(dividingBy: Self.chunkSize)
        while chunks.count <= c {
            var chunk: [Compact] = []
            chunk.reserveCapacity(Self.chunkSize)
            chunks.append(chunk)
        }
        if i >= chunks[c].count { chunks[c].append(contentsOf: repeatElement(Compact(), count: i + 1 - chunks[c].count)) }
        if chunks[c][i].name == Compact.absent { count += 1 }
        var failure: UInt32 = 0
        if let f = r.failure {
            failures.append(f)
            failure = UInt32(failures.count)
        }
        chunks[c][i] = Compact(
            submittedAt: r.submittedAt, startedAt: r.startedAt ?? .nan, finishedAt: r.finishedAt ?? .nan,
            durationEstimate: r.durationEstimateS ?? .nan, name: strings.id(r.name), type: strings.id(r.typeName),
            agent: r.agent.map { strings.id($0) + 1 } ?? 0, failure: failure, memoryMB: Int32(clamping: r.memoryMB),
            priority: UInt8(r.priority.rank), state: Self.code(r.state), source: Self.code(r.memorySourceKind))
        switch task.result {
        case nil, .null?: results[id] = nil
        case let value?: results[id] = value
        }
        work[id] = task.workloadKind.map { ($0, task.model) }
    }

    func forEach(_ body: (FinishedTask) -> Void) {
        for (c, chunk) in chunks.enumerated() {
            for (i, r) in chunk.enumerated() where r.name != Compact.absent { body(task(c * Self.chunkSize + i + 1, r)) }
        }
    }

    private func task(_ id: TaskID, _ r: Compact) -> FinishedTask {
        var record = TaskRecord(
            id: id, name: strings[r.name], typeName: strings[r.type], agent: r.agent == 0 ? nil : strings[r.agent - 1],
            priority: Self.priorities[Int(r.priority)], memoryMB: Int(r.memoryMB),
            durationEstimateS: r.durationEstimate.isNaN ? nil : r.durationEstimate, state: Self.states[Int(r.state)],
            submittedAt: r.submittedAt, startedAt: r.startedAt.isNaN ? nil : r.startedAt,
            finishedAt: r.finishedAt.isNaN ? nil : r.finishedAt, failure: r.failure == 0 ? nil : failures[Int(r.failure) - 1])
        record.memorySourceKind = Self.sources[Int(r.source)]
        // A success with no stored value returned nil from Lua, which reads back as null.
        let result = results[id] ?? (record.state == .succeeded ? .null : nil)
        let w = work[id]
        return FinishedTask(record: record, result: result, workloadKind: w?.kind, model: w?.model)
    }

    private static let priorities: [TaskPriority] = [.low, .normal, .high, .critical]
    private static let states: [TaskState] = [.blocked, .queued, .running, .succeeded, .failed, .cancelled]
    private static let sources: [TaskRecord.MemorySource] = [.declared, .predicted, .none]
    private static func code(_ s: TaskState) -> UInt8 { UInt8(states.firstIndex(of: s) ?? 0) }
    private static func code(_ s: TaskRecord.MemorySource) -> UInt8 { UInt8(sources.firstIndex(of: s) ?? 0) }
}
