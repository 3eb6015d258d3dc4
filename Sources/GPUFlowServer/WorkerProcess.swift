import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One job's worker process, started with `posix_spawn` so the server decides every
/// descriptor it gets:
///
/// - 0: the read end of a lifeline pipe whose write end only the server holds: it reads end
///   of file the moment the server dies (`GPUFLOW_LIFELINE_FD=0`);
/// - 1 and 2: one pipe for everything the worker prints, taken as text only, never as an event;
/// - 3: the events pipe (`GPUFLOW_EVENTS_FD=3`), written by the worker's own code as one JSON
///   object a line. A sandboxed script has no way to write to a descriptor, so what it prints
///   or raises can only ever arrive as text inside a JSON string, or on 1 and 2.
///
/// Every descriptor of the server's is close-on-exec, so a worker inherits nothing else (not the
/// listening socket, not another job's pipes); the parent's ends are closed once read to the end.
/// The process is reaped only by `reap()`, after its owner has stopped signalling it, so a kill
/// can never reach a recycled pid.
final class WorkerProcess: @unchecked Sendable {
    enum Item: Sendable {
        /// A line from the events descriptor.
        case event(String)
        /// A line of text from stdout or stderr.
        case output(String)
        /// The process has exited and both pipes have been read to the end.
        case exited
    }

    struct SpawnError: Error, CustomStringConvertible {
        let call: String
        let code: Int32
        var description: String { "\(call) failed: \(String(cString: strerror(code))) (errno \(code))" }
    }

    /// The longest line kept whole; a longer one arrives in pieces of this size.
    static let maxLine = 1 << 20

    let pid: pid_t
    let items: AsyncStream<Item>
    private let lock = NSLock()
    private var lifeline: Int32
    private var reaped = false

    private init(pid: pid_t, lifeline: Int32, items: AsyncStream<Item>) {
        self.pid = pid
        self.lifeline = lifeline
        self.items = items
    }

    /// Starts `executable` with `arguments` and exactly `environment`; throws when a pipe or the
    /// spawn fails (too many open files, a missing binary), leaving no descriptor behind.
    static func spawn(executable: String, arguments: [String], environment: [String: String]) throws -> WorkerProcess {
        var opened: [Int32] = []
        func closeAll() { for fd in opened { close(fd) } }
        func makePipe() throws -> (read: Int32, write: Int32) {
            var fds: [Int32] = [-1, -1]
            guard pipe(&fds) == 0 else { throw SpawnError(call: "pipe", code: errno) }
            opened += fds
            for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            return (fds[0], fds[1])
        }
        let life: (read: Int32, write: Int32), out: (read: Int32, write: Int32), events: (read: Int32, write: Int32)
        do {
            life = try makePipe()
            out = try makePipe()
            events = try makePipe()
        } catch {
            closeAll()
            throw error
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // dup2 clears close-on-exec on the copy; the originals (all above 3) close at exec.
        posix_spawn_file_actions_adddup2(&actions, life.read, 0)
        posix_spawn_file_actions_adddup2(&actions, out.write, 1)
        posix_spawn_file_actions_adddup2(&actions, out.write, 2)
        posix_spawn_file_actions_adddup2(&actions, events.write, 3)
        // Whatever else is open without close-on-exec (inherited from whoever started the
        // server, or opened so by a library) closes too.
        if let closeFrom = Self.addCloseFrom {
            _ = closeFrom(&actions, 4)
        } else {
            Self.markInheritedCloseOnExec()
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The server may block or ignore signals (SIGPIPE, SIGTERM for graceful shutdown); a
        // worker starts with none blocked and the default action for each.
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in argv + envp { free(p) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        close(life.read)
        close(out.write)
        close(events.write)
        guard status == 0 else {
            close(life.write)
            close(out.read)
            close(events.read)
            throw SpawnError(call: "posix_spawn \(executable)", code: status)
        }
        let (items, continuation) = AsyncStream.makeStream(of: Item.self)
        let worker = WorkerProcess(pid: pid, lifeline: life.write, items: items)
        let child = pid, outRead = out.read, eventsRead = events.read
        let reader = Thread { Self.read(pid: child, output: outRead, events: eventsRead, into: continuation) }
        reader.name = "gpuflow worker \(pid)"
        reader.stackSize = 256 << 10
        reader.start()
        return worker
    }

    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later), which the Glibc
    /// module does not declare.
    private static let addCloseFrom: AddCloseFrom? = dlsym(
        UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np"
    )
    .map { unsafeBitCast($0, to: AddCloseFrom.self) }

    /// Where that is missing: every descriptor above 3 becomes close-on-exec.
    private static func markInheritedCloseOnExec() {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? [] {
            guard let fd = Int32(name), fd > 3 else { continue }
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0, flags & FD_CLOEXEC == 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
        }
    }

    /// Reads both pipes to the end (or, should a descriptor stay open elsewhere, until a second
    /// after the process exited), closes them, waits for the exit without reaping, and ends
    /// the stream with `.exited`.
    private static func read(pid: pid_t, output: Int32, events: Int32, into sink: AsyncStream<Item>.Continuation) {
        var lines = [output: LineSplitter(), events: LineSplitter()]
        var open: Set<Int32> = [output, events]
        var exitedAt: Date?
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        func emit(_ fd: Int32, _ line: String) { sink.yield(fd == events ? .event(line) : .output(line)) }
        while !open.isEmpty {
            var fds = open.sorted().map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&fds, nfds_t(fds.count), 200)
            if ready < 0 && errno != EINTR { break }
            for p in fds where p.revents != 0 {
                let n = Glibc.read(p.fd, &buffer, buffer.count)
                if n > 0 {
                    for line in lines[p.fd, default: LineSplitter()].feed(buffer[0..<n]) { emit(p.fd, line) }
                } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                    open.remove(p.fd)
                }
            }
            if ready == 0 {
                if exitedAt == nil, Self.hasExited(pid) { exitedAt = Date() }
                if let t = exitedAt, Date().timeIntervalSince(t) > 1 { break }
            }
        }
        for fd in [output, events] {
            if let rest = lines[fd]?.finish() { emit(fd, rest) }
            close(fd)
        }
        var info = siginfo_t()
        while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) != 0 && errno == EINTR {}
        sink.yield(.exited)
        sink.finish()
    }

    private static func hasExited(_ pid: pid_t) -> Bool {
        var info = siginfo_t()
        return waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT | WNOHANG) == 0 && info._sifields._kill.si_pid == pid
    }

    /// Sends `signal` unless the process has been reaped.
    func signal(_ signal: Int32) {
        lock.lock()
        defer { lock.unlock() }
        if !reaped { kill(pid, signal) }
    }

    /// Collects the exit status of a process that has exited (after `.exited`): its exit code,
    /// or the signal that ended it. Closes the lifeline.
    func reap() -> (status: Int32, signalled: Bool) {
        lock.lock()
        defer { lock.unlock() }
        var status: Int32 = 0
        var result: pid_t
        repeat { result = waitpid(pid, &status, 0) } while result < 0 && errno == EINTR
        reaped = true
        if lifeline >= 0 {
            close(lifeline)
            lifeline = -1
        }
        // WIFSIGNALED / WTERMSIG / WEXITSTATUS, which Swift does not import (macros).
        let signo = status & 0x7f
        if result == pid, signo != 0, signo != 0x7f { return (signo, true) }
        return ((status >> 8) & 0xff, false)
    }

    deinit {
        if lifeline >= 0 { close(lifeline) }
    }
}

/// Splits a byte stream into lines (without the newline), cutting any line longer than
/// `WorkerProcess.maxLine` into pieces.
struct LineSplitter {
    private var buffer: [UInt8] = []

    mutating func feed(_ bytes: ArraySlice<UInt8>) -> [String] {
        var lines: [String] = []
        var rest = bytes
        while !rest.isEmpty {
            let room = WorkerProcess.maxLine - buffer.count
            let window = rest.prefix(room)
            if let newline = window.firstIndex(of: 10) {
                buffer += rest[rest.startIndex..<newline]
                if !buffer.isEmpty { lines.append(String(decoding: buffer, as: UTF8.self)) }
                buffer.removeAll(keepingCapacity: true)
                rest = rest[(newline + 1)...]
            } else {
                buffer += window
                rest = rest.dropFirst(window.count)
                if buffer.count >= WorkerProcess.maxLine {
                    lines.append(String(decoding: buffer, as: UTF8.self))
                    buffer.removeAll(keepingCapacity: true)
                }
            }
        }
        return lines
    }

    mutating func finish() -> String? {
        defer { buffer.removeAll() }
        return buffer.isEmpty ? nil : String(decoding: buffer, as: UTF8.self)
    }
}
