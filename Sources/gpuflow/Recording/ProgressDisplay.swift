import Foundation
import GPUFlowCore
import GPUFlowML

/// Progress of long work: on a terminal, one bar per task (epoch, loss, samples/s, ETA) redrawn
/// in place on stderr; otherwise plain lines for tasks that run longer than a second (at most
/// one every two seconds each); `--json`, newline-delimited events on stdout, or on the
/// descriptor `GPUFLOW_EVENTS_FD` names (a job server's worker: there the events travel apart
/// from anything printed, so no text can pass for an event); `--quiet`, nothing.
final class ProgressDisplay: RunObserver, @unchecked Sendable {
    enum Mode: Equatable { case terminal, plain, json, quiet }

    let mode: Mode
    private let lock = NSLock()
    private var started: [String: Date] = [:]
    private var lastLine: [String: Date] = [:]
    private let err = FileHandle.standardError
    /// Where `--json` events go: stdout, or the events descriptor.
    private let eventsFD: Int32

    init(mode: Mode, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.mode = mode
        eventsFD = mode == .json ? Self.eventsDescriptor(environment) : STDOUT_FILENO
    }

    /// The descriptor `GPUFLOW_EVENTS_FD` names, when it is open; else stdout. One that is named
    /// but not open is an error: the server would otherwise read no events at all.
    static func eventsDescriptor(_ environment: [String: String]) -> Int32 {
        guard let text = environment["GPUFLOW_EVENTS_FD"] else { return STDOUT_FILENO }
        guard let fd = Int32(text), fd >= 0, fcntl(fd, F_GETFD) >= 0 else {
            fail("GPUFLOW_EVENTS_FD=\(text) is not an open descriptor", code: ExitStatus.badInput)
        }
        return fd
    }

    /// Writes the whole line in one go where the pipe takes it (lines from several threads
    /// never interleave: the caller holds the lock). A reader gone away (the server died) ends
    /// the worker by SIGPIPE, as its lifeline would.
    private func write(line: String) {
        let bytes = Array((line + "\n").utf8)
        bytes.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return }
            var done = 0
            while done < raw.count {
                let n = Glibc.write(eventsFD, base + done, raw.count - done)
                if n > 0 {
                    done += n
                } else if n < 0 && errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
    }

    static func mode(quiet: Bool, json: Bool) -> Mode {
        if json { return .json }
        if quiet { return .quiet }
        return isatty(STDERR_FILENO) != 0 ? .terminal : .plain
    }

    private func key(_ id: Int?, _ name: String) -> String { "\(id ?? 0) \(name)" }

    func emit(_ event: String, _ fields: [(String, TaskValue)]) {
        guard mode == .json else { return }
        let line = TaskValueJSON.encode(
            .table([("event", .string(event)), ("t", .number(Date().timeIntervalSince1970))] + fields), indent: nil)
        lock.lock()
        write(line: line)
        lock.unlock()
    }

    func taskStarted(id: Int?, name: String, kind: String, agent: String?, epochs: Int?) {
        lock.lock()
        started[key(id, name)] = Date()
        lock.unlock()
        var f: [(String, TaskValue)] = [("task", .integer(id ?? 0)), ("name", .string(name)), ("kind", .string(kind))]
        if let agent { f.append(("agent", .string(agent))) }
        if let epochs { f.append(("epochs", .integer(epochs))) }
        emit("task_started", f)
    }

    func epoch(id: Int?, name: String, metrics m: EpochMetrics, of total: Int) {
        emit(
            "epoch",
            [
                ("task", .integer(id ?? 0)), ("name", .string(name)), ("epoch", .integer(m.epoch)), ("of", .integer(total)),
                ("loss", .number(m.loss)), ("accuracy", m.accuracy.map { .number($0) } ?? .null),
                ("samples_per_sec", .number(m.samplesPerSecond)),
            ])
        guard mode == .terminal || mode == .plain else { return }
        let k = key(id, name), now = Date()
        lock.lock()
        defer { lock.unlock() }
        let begun = started[k] ?? now
        let elapsed = now.timeIntervalSince(begun)
        let eta = m.epoch > 0 ? elapsed / Double(m.epoch) * Double(max(0, total - m.epoch)) : 0
        var text = String(format: "%@ epoch %d/%d loss %.4f", name, m.epoch, total, m.loss)
        if let a = m.accuracy { text += String(format: " acc %.3f", a) }
        text += String(format: " %.0f samples/s ETA %.1fs", m.samplesPerSecond, eta)
        if mode == .terminal {
            let width = 20, filled = total > 0 ? width * m.epoch / total : width
            let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
            err.write(Data("\r\u{1B}[2K\(bar) \(text)\(m.epoch == total ? "\n" : "")".utf8))
        } else if elapsed > 1, now.timeIntervalSince(lastLine[k] ?? .distantPast) >= 2 || m.epoch == total {
            lastLine[k] = now
            err.write(Data("progress: \(text)\n".utf8))
        }
    }

    func taskFinished(id: Int?, name: String, kind: String, agent: String?, backend: String, result: TaskValue) {
        lock.lock()
        let begun = started.removeValue(forKey: key(id, name))
        lock.unlock()
        emit(
            "task_finished",
            [
                ("task", .integer(id ?? 0)), ("name", .string(name)), ("kind", .string(kind)), ("backend", .string(backend)),
                ("seconds", .number(begun.map { Date().timeIntervalSince($0) } ?? 0)),
            ])
    }

    /// Said on stdout, where the script's own output goes, so a reader of the output knows the
    /// result was not computed now (an event in --json; nothing with --quiet).
    func stageCached(name: String, fromRun: String?) {
        emit("stage_cached", [("stage", .string(name)), ("from_run", fromRun.map { .string($0) } ?? .null)])
        guard mode == .terminal || mode == .plain else { return }
        let origin = fromRun.map { "the result of run \($0)" } ?? "the result computed earlier in this run"
        FileHandle.standardOutput.write(Data("stage \(name): from the cache (\(origin))\n".utf8))
    }
}

/// Several observers as one.
final class ObserverChain: RunObserver, @unchecked Sendable {
    let observers: [RunObserver]
    init(_ observers: [RunObserver]) { self.observers = observers }
    func taskStarted(id: Int?, name: String, kind: String, agent: String?, epochs: Int?) {
        for o in observers { o.taskStarted(id: id, name: name, kind: kind, agent: agent, epochs: epochs) }
    }
    func epoch(id: Int?, name: String, metrics: EpochMetrics, of total: Int) {
        for o in observers { o.epoch(id: id, name: name, metrics: metrics, of: total) }
    }
    func taskFinished(id: Int?, name: String, kind: String, agent: String?, backend: String, result: TaskValue) {
        for o in observers { o.taskFinished(id: id, name: name, kind: kind, agent: agent, backend: backend, result: result) }
    }
    func stageCached(name: String, fromRun: String?) {
        for o in observers { o.stageCached(name: name, fromRun: fromRun) }
    }
}
