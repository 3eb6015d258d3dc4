import Foundation

/// Ctrl-C (SIGINT) or SIGTERM during `gpuflow run`: the run is recorded as interrupted (what
/// finished stays: tasks, metrics, checkpoints), the command that resumes it is printed, and the
/// process exits 130 (143 for SIGTERM), as a shell expects of an interrupted command. A second
/// signal while that recording is under way exits at once.
final class InterruptHandler: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []
    private let lock = NSLock()
    private var started = false
    private var ended = false

    /// `record` is given the signal and must record the run's end; it runs off the signal
    /// context, on a queue of its own.
    init(record: @escaping @Sendable (Int32) -> Void) {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: DispatchQueue(label: "gpuflow.interrupt"))
            source.setEventHandler { [weak self] in
                guard let self else { return }
                self.lock.lock()
                let again = self.started, over = self.ended
                self.started = true
                self.lock.unlock()
                let code = 128 + sig
                // The run's normal end has begun recording: let it finish (and exit as it will).
                if over { return }
                if again { _exit(code) }
                record(sig)
                fflush(nil)
                _exit(code)
            }
            source.resume()
            sources.append(source)
        }
    }

    /// Claims the run's end for its normal path: false when an interrupt already records it
    /// (the caller must not record it again; the interrupt's path exits the process).
    func claimEnd() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard !started else { return false }
        ended = true
        return true
    }
}
