import Foundation
import GPUFlowCore
import GPUFlowML
import GPUFlowStore

/// Writes a run's tasks, metrics, models and events into the run store as they happen. A
/// failed write (a full disk, say) is reported once and the run goes on: what was recorded
/// before stays.
final class RunRecorder: RunObserver, @unchecked Sendable {
    let store: RunStore
    let run: String
    private let lock = NSLock()
    private var warned = false
    private var epochsSeen = 0
    /// Epoch points not yet written, one chunk per task and key: a row per point (and a
    /// transaction per epoch before that) made long trainings with the store slower than
    /// without, so points go in chunks, at most `flushInterval` old, written on a queue of
    /// their own so the training thread never waits for the database.
    private var pending: [RunStore.SeriesChunk] = []
    private var pendingPoints = 0
    private var pendingSince: Date?
    private var drainScheduled = false
    private let flushInterval = 0.5
    private let writer = DispatchQueue(label: "gpuflow.run-recorder")
    private let crashAfterEpochs = ProcessInfo.processInfo.environment["GPUFLOW_CRASH_AFTER_EPOCHS"].flatMap(Int.init)

    init(store: RunStore, run: String) {
        self.store = store
        self.run = run
    }

    func attempt(_ what: String, _ body: () throws -> Void) {
        do { try body() } catch {
            lock.lock()
            let first = !warned
            warned = true
            lock.unlock()
            if first { FileHandle.standardError.write(Data("warning: recording \(what): \(error); the run goes on\n".utf8)) }
        }
    }

    func taskStarted(id: Int?, name: String, kind: String, agent: String?, epochs: Int?) {
        // On the writer's queue, before the task's epoch points: the task does not wait for it.
        let body = TaskValueJSON.encode(
            .table([("task", .integer(id ?? 0)), ("name", .string(name)), ("kind", .string(kind))]), indent: nil)
        let at = Date().timeIntervalSince1970
        writer.async { self.attempt("a task start") { try self.store.recordEvent(self.run, kind: "task_started", body: body, at: at) } }
    }

    func epoch(id: Int?, name: String, metrics m: EpochMetrics, of total: Int) {
        let t = id ?? 0
        var points: [(String, Double)] = [
            ("epoch.loss", m.loss), ("epoch.samples_per_sec", m.samplesPerSecond), ("epoch.seconds", m.seconds),
        ]
        if let a = m.accuracy { points.append(("epoch.accuracy", a)) }
        if let v = m.validationLoss { points.append(("epoch.validation_loss", v)) }
        if let v = m.validationAccuracy { points.append(("epoch.validation_accuracy", v)) }
        lock.lock()
        for (key, value) in points {
            if let i = pending.firstIndex(where: { $0.taskID == t && $0.key == key }) {
                pending[i].steps.append(m.epoch)
                pending[i].values.append(value)
            } else {
                pending.append(RunStore.SeriesChunk(taskID: t, key: key, steps: [m.epoch], values: [value]))
            }
        }
        pendingPoints += points.count
        let now = Date()
        let since = pendingSince ?? now
        pendingSince = since
        let due = !drainScheduled && (now.timeIntervalSince(since) >= flushInterval || pendingPoints >= 65_536)
        if due { drainScheduled = true }
        epochsSeen += 1
        let n = epochsSeen
        lock.unlock()
        if due { writer.async { self.drain() } }
        // Test hook: kill -9 of the whole process after this many epochs.
        if let limit = crashAfterEpochs, n >= limit { kill(getpid(), SIGKILL) }
    }

    /// Writes the epoch rows held back, after any batch already on its way (at each task's end
    /// and the run's), so the store has every row when this returns.
    func flush() { writer.sync { drain() } }

    private func drain() {
        lock.lock()
        let chunks = pending
        pending = []
        pendingPoints = 0
        pendingSince = nil
        drainScheduled = false
        lock.unlock()
        guard !chunks.isEmpty else { return }
        attempt("epoch metrics") { try store.recordSeries(run, chunks) }
    }

    func taskFinished(id: Int?, name: String, kind: String, agent: String?, backend: String, result: TaskValue) {
        flush()
        let t = id ?? 0
        var rows: [RunStore.Metric] = []
        var models: [(String, AnyObject)] = []
        func walk(_ v: TaskValue, _ path: String, depth: Int) {
            // Deep enough for an inference's metrics.per_class.<class>.f1.
            guard depth < 5 else { return }
            switch v {
            case .integer(let i): rows.append(.init(taskID: t, key: path, value: Double(i)))
            case .number(let d): rows.append(.init(taskID: t, key: path, value: d))
            case .bool(let b): rows.append(.init(taskID: t, key: path, value: b ? 1 : 0))
            case .object(let o): if o is MLPModel || o is GraphNetwork { models.append((path, o)) }
            case .table(let f):
                // A confusion matrix as one row per cell, named by its classes.
                if case .array(let matrix)? = v["confusion_matrix"], case .array(let names)? = v["classes"] {
                    for (i, row) in matrix.enumerated() {
                        guard case .array(let cells) = row, i < names.count else { continue }
                        for (j, cell) in cells.enumerated() where j < names.count {
                            if let n = cell.doubleValue, let a = names[i].stringValue, let b = names[j].stringValue {
                                rows.append(.init(taskID: t, key: (path.isEmpty ? "" : path + ".") + "confusion.\(a).\(b)", value: n))
                            }
                        }
                    }
                }
                for (k, x) in f where !["history", "kernels", "attempts", "warm_start", "tiers", "transfers"].contains(k) {
                    walk(x, path.isEmpty ? k : path + "." + k, depth: depth + 1)
                }
            case .array(let a) where path.hasSuffix("trials"):
                // The trials' settings too, for the report's trial chart: metrics hold numbers only.
                func shown(_ v: TaskValue) -> TaskValue {
                    switch v {
                    case .bool(let b): return .string(b ? "yes" : "no")
                    case .integer(let i): return .string(String(i))
                    case .number(let d): return .string(String(format: "%.6g", d))
                    case .string: return v
                    default: return .string(TaskValueJSON.encode(v, indent: nil))
                    }
                }
                let settings = a.map { trial -> TaskValue in
                    var fields: [(String, TaskValue)] = []
                    if case .table(let c)? = trial["configuration"] { fields = c.map { ($0.0, shown($0.1)) } }
                    return .table([
                        ("settings", .table(fields)), ("feasible", trial["feasible"].map(shown) ?? .null),
                        ("reason", trial["reason"] ?? .null),
                    ])
                }
                let best = result["best_trial"] ?? .null, target = result["target"] ?? .null
                let body = TaskValueJSON.encode(
                    .table([("task", .integer(t)), ("target", target), ("best_trial", best), ("trials", .array(settings))]), indent: nil)
                attempt("the trials' settings") { try store.recordEvent(run, kind: "trials", body: body) }
                for (i, trial) in a.enumerated() {
                    for k in ["score", "batch_size", "p99_latency_ms", "throughput_per_sec", "memory_mb", "accuracy"] {
                        if let d = trial[k]?.doubleValue { rows.append(.init(taskID: t, key: "trial." + k, step: i + 1, value: d)) }
                    }
                }
            case .array(let a) where path.hasSuffix("histogram"):
                for (i, b) in a.enumerated() {
                    if let u = b["upper_ms"]?.doubleValue, let c = b["count"]?.doubleValue {
                        rows.append(.init(taskID: t, key: "latency.bucket_upper_ms", step: i + 1, value: u))
                        rows.append(.init(taskID: t, key: "latency.bucket_count", step: i + 1, value: c))
                    }
                }
            default: break
            }
        }
        walk(result, "", depth: 0)
        // A search whose objective is a measured time, rate or size chooses by measurement:
        // marked so a replay shows its choices without judging them.
        if kind == "optimization", let target = result["target"]?.stringValue, target != "accuracy" {
            rows.append(.init(taskID: t, key: RunComparison.measuredObjective, value: 1))
        }
        attempt("the task's metrics, models and backend") {
            let encoded = try models.compactMap { (path, o) in
                try ModelFiles.encode(o).map { (name: "task \(t) \(name)" + (path.isEmpty ? "" : " \(path)"), data: $0) }
            }
            try store.finishTask(
                run, metrics: rows, models: encoded,
                task: RunStore.TaskRow(
                    taskID: t, name: name, type: kind, agent: agent, state: "succeeded", backend: backend,
                    submittedAt: nil, startedAt: nil, finishedAt: nil, error: nil))
        }
    }
}
