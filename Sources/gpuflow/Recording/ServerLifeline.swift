import Foundation

/// A job server's worker dies with its server, so no orphan keeps computing for nobody (or
/// holds the store). The server gives the worker the read end of a pipe whose write end only
/// the server holds (`GPUFLOW_LIFELINE_FD`): when the server exits, however it exits, the kernel
/// closes that end and the read returns at once. `GPUFLOW_EXIT_WITH_PARENT` (the server's pid)
/// is the fallback where no lifeline was given: the parent is polled every 50 ms.
enum ServerLifeline {
    /// Starts the watch the environment asks for, if any; the process exits with 137 (as if
    /// killed) when the server is gone, without running exit handlers.
    static func watch(environment: [String: String] = ProcessInfo.processInfo.environment) {
        if let fd = environment["GPUFLOW_LIFELINE_FD"].flatMap(Int32.init), fd >= 0, fcntl(fd, F_GETFD) >= 0 {
            start { Self.waitForEndOfFile(fd) }
        } else if let parent = environment["GPUFLOW_EXIT_WITH_PARENT"].flatMap(Int32.init) {
            start {
                while getppid() == parent { usleep(50_000) }
            }
        }
    }

    private static func start(_ wait: @escaping @Sendable () -> Void) {
        let watcher = Thread {
            wait()
            _exit(137)  // at once: no exit handlers for an orphan
        }
        watcher.name = "gpuflow server lifeline"
        watcher.stackSize = 64 << 10
        watcher.start()
    }

    /// Returns when `fd` reads end of file or fails (the writer is gone); bytes, which the
    /// server never sends, are ignored.
    private static func waitForEndOfFile(_ fd: Int32) {
        var byte: UInt8 = 0
        while true {
            let n = read(fd, &byte, 1)
            if n == 0 || (n < 0 && errno != EINTR) { return }
        }
    }
}
