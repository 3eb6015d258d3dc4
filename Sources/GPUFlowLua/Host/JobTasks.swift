import GPUFlowCore

/// The tasks one script submitted: their names, outcomes once they end, and whether the script
/// awaited them. A script may submit a million tasks, so this is kept small and free of hashing:
/// orchestrator ids in a sorted array (submission appends in order, so the sort costs nothing
/// but for graphs) with names interned, beside the few external waits (channel operations,
/// negative ids) in a dictionary. A count of what has not ended answers "is the job done" at
/// once, where a scan of every task ran on each task's end.
struct JobTasks {
    private var ids: [TaskID] = []
    private var nameIndex: [UInt32] = []
    private var outcomes: [TaskOutcome?] = []
    private var awaitedFlags: [Bool] = []
    private var names = StringTable()
    private var external: [TaskID: (name: String, outcome: TaskOutcome?, awaited: Bool)] = [:]
    /// Tasks submitted whose outcome has not arrived.
    private(set) var unended = 0

    var allEnded: Bool { unended == 0 }

    mutating func add(_ id: TaskID, name: String) {
        if id < 0 {
            guard external[id] == nil else { return }
            external[id] = (name, nil, false)
            unended += 1
            return
        }
        let at = position(id)
        if at < ids.count, ids[at] == id { return }
        let n = names.id(name)
        ids.insert(id, at: at)
        nameIndex.insert(n, at: at)
        outcomes.insert(nil, at: at)
        awaitedFlags.insert(false, at: at)
        unended += 1
    }

    func contains(_ id: TaskID) -> Bool { slot(id) != nil || external[id] != nil }

    func name(_ id: TaskID) -> String? {
        if let i = slot(id) { return names[nameIndex[i]] }
        return external[id]?.name
    }

    func outcome(_ id: TaskID) -> TaskOutcome? {
        if let i = slot(id) { return outcomes[i] }
        return external[id]?.outcome
    }

    /// Records the end of a task this script submitted; a second end of the same task is kept
    /// (the latest word) without counting twice.
    mutating func end(_ id: TaskID, _ outcome: TaskOutcome) {
        if let i = slot(id) {
            if outcomes[i] == nil { unended -= 1 }
            outcomes[i] = outcome
        } else if var e = external[id] {
            if e.outcome == nil { unended -= 1 }
            e.outcome = outcome
            external[id] = e
        }
    }

    mutating func markAwaited(_ id: TaskID) {
        if let i = slot(id) {
            awaitedFlags[i] = true
        } else {
            external[id]?.awaited = true
        }
    }

    /// Orchestrator tasks that have not ended, to cancel when the script is gone.
    var unendedTasks: [TaskID] { ids.indices.filter { outcomes[$0] == nil }.map { ids[$0] } }

    /// External waits that have not ended, with their names.
    var unendedExternal: [(id: TaskID, name: String)] {
        external.filter { $0.value.outcome == nil }.map { ($0.key, $0.value.name) }
    }

    /// Every task in id order, external waits first: for the warnings of a job's end.
    func forEach(_ body: (_ id: TaskID, _ name: String, _ awaited: Bool, _ outcome: TaskOutcome?) -> Void) {
        for (id, e) in external.sorted(by: { $0.key < $1.key }) { body(id, e.name, e.awaited, e.outcome) }
        for i in ids.indices { body(ids[i], names[nameIndex[i]], awaitedFlags[i], outcomes[i]) }
    }

    private func slot(_ id: TaskID) -> Int? {
        guard id > 0 else { return nil }
        let at = position(id)
        return at < ids.count && ids[at] == id ? at : nil
    }

    /// Where `id` is or would go; the last place first, since ids arrive in order.
    private func position(_ id: TaskID) -> Int {
        if let last = ids.last, id > last { return ids.count }
        var lo = 0, hi = ids.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if ids[mid] < id { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}
