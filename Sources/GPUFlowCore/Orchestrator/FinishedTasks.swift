/// A finished task reduced to what is still asked of it: its record for status and metrics,
/// its result for dependants and late waiters, and what feedback needs to know of its work.
struct FinishedTask {
    var record: TaskRecord
    var result: TaskValue?
    var workloadKind: String?
    var model: String?
}

/// Finished tasks by id. Ids are dense (one per submission, from 1), so an array indexed by id
/// holds them without a hash table's overhead: a million finished no-op tasks in well under a
/// gigabyte.
struct FinishedTasks {
    private var slots: [FinishedTask?] = []
    private(set) var count = 0

    subscript(id: TaskID) -> FinishedTask? {
        id >= 1 && id <= slots.count ? slots[id - 1] : nil
    }

    mutating func insert(_ task: FinishedTask) {
        let id = task.record.id
        guard id >= 1 else { return }
        if id > slots.count { slots.append(contentsOf: repeatElement(nil, count: id - slots.count)) }
        if slots[id - 1] == nil { count += 1 }
        slots[id - 1] = task
    }

    func forEach(_ body: (FinishedTask) -> Void) {
        for case let t? in slots { body(t) }
    }
}
