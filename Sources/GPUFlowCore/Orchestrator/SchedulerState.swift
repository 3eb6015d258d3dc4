/// The scheduler's counts — the queue, the pool, and what each agent holds — kept as tasks move
/// between states, so that no decision scans every task ever submitted (a run of a million
/// tasks keeps only compact records of the finished ones).
struct SchedulerState {
    /// What decides whether the queue's order is submission order: tasks of one signature
    /// queued alone are ordered by age, so they need no sort.
    struct Signature: Hashable {
        let base: Int
        let type: String
        let agent: String
        let workload: Bool
    }

    private(set) var queued: Set<TaskID> = []
    /// Queued ids in ascending order (ids are submission order), skipped lazily once they
    /// leave the queue.
    private var fifo: [TaskID] = []
    private var fifoHead = 0
    private var signatures: [Signature: Int] = [:]
    /// How many queued tasks are device work (the only ones coordination rules order).
    private(set) var queuedDeviceWork = 0

    private(set) var running = 0
    private(set) var memoryInUseMB = 0
    private(set) var peakRunning = 0
    private(set) var peakMemoryMB = 0
    /// Cancelled or timed-out tasks whose work has not stopped yet.
    var draining = 0

    /// Slots and memory each agent's running tasks hold (all tasks, for its limits).
    private(set) var held: [String: (tasks: Int, memoryMB: Int)] = [:]
    private(set) var peakHeldMB: [String: Int] = [:]
    /// Each agent's unfinished device work, by state (what coordination counts).
    private(set) var device: [String: AgentLoad] = [:]

    // MARK: queue

    /// Whether every queued task has one signature, which is not work with sizes (ordered by
    /// its learned duration, which differs task by task).
    var oneOrderingSignature: Bool { signatures.count <= 1 && signatures.keys.first?.workload != true }

    var queuedCount: Int { queued.count }

    mutating func enqueue(_ id: TaskID, signature: Signature, deviceWork: Bool) {
        guard queued.insert(id).inserted else { return }
        signatures[signature, default: 0] += 1
        if deviceWork { queuedDeviceWork += 1 }
        if let last = fifo.last, id < last {
            let i = fifo[fifoHead...].firstIndex { $0 > id } ?? fifo.count
            fifo.insert(id, at: i)
        } else {
            fifo.append(id)
        }
    }

    mutating func dequeue(_ id: TaskID, signature: Signature, deviceWork: Bool) {
        guard queued.remove(id) != nil else { return }
        if deviceWork { queuedDeviceWork -= 1 }
        signatures[signature, default: 1] -= 1
        if signatures[signature] == 0 { signatures[signature] = nil }
        while fifoHead < fifo.count, !queued.contains(fifo[fifoHead]) { fifoHead += 1 }
    }

    /// Queued ids in submission order (some may have left the queue: check `queued`).
    mutating func submissionOrder() -> ArraySlice<TaskID> {
        if fifoHead > 1024, fifoHead * 2 > fifo.count {
            fifo.removeFirst(fifoHead)
            fifoHead = 0
        }
        return fifo[fifoHead...]
    }

    // MARK: pool

    mutating func take(agent: String, memoryMB: Int) {
        running += 1
        memoryInUseMB += memoryMB
        let before = held[agent] ?? (0, 0)
        held[agent] = (before.tasks + 1, before.memoryMB + memoryMB)
        peakHeldMB[agent] = max(peakHeldMB[agent] ?? 0, before.memoryMB + memoryMB)
        peakRunning = max(peakRunning, running)
        peakMemoryMB = max(peakMemoryMB, memoryInUseMB)
    }

    mutating func give(agent: String, memoryMB: Int) {
        running -= 1
        memoryInUseMB -= memoryMB
        let h = held[agent] ?? (1, memoryMB)
        held[agent] = (h.tasks - 1, h.memoryMB - memoryMB)
    }

    func holding(_ agent: String) -> (tasks: Int, memoryMB: Int) { held[agent] ?? (0, 0) }

    // MARK: device work by state

    mutating func deviceTaskAdded(agent: String, memoryMB: Int) {
        device[agent, default: AgentLoad()].pending += 1
        device[agent, default: AgentLoad()].demandMB += max(1, memoryMB)
    }

    mutating func deviceTaskStarted(agent: String, memoryMB: Int) {
        var l = device[agent, default: AgentLoad()]
        l.pending -= 1
        l.running += 1
        l.memoryMB += memoryMB
        device[agent] = l
    }

    /// A device task reached a final state, from running or from waiting.
    mutating func deviceTaskEnded(agent: String, memoryMB: Int, wasRunning: Bool) {
        var l = device[agent, default: AgentLoad()]
        if wasRunning {
            l.running -= 1
            l.memoryMB -= memoryMB
        } else {
            l.pending -= 1
        }
        l.demandMB -= max(1, memoryMB)
        device[agent] = l.running == 0 && l.pending == 0 ? nil : l
    }

    /// Device tasks running, of the given agents (nil: all).
    func deviceRunning(of agents: [String]?) -> Int {
        guard let agents else { return device.values.reduce(0) { $0 + $1.running } }
        return agents.reduce(0) { $0 + (device[$1]?.running ?? 0) }
    }
}
