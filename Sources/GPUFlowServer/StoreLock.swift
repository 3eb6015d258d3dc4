import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One `gpuflow serve` per store: an exclusive, non-blocking flock on `STORE.serve.lock`, held
/// for the server's life (the kernel drops it when the process dies, however it dies). The
/// holder's pid is written in the file, for the error a second server gives.
final class StoreLock: @unchecked Sendable {
    let path: String
    private let fd: Int32

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    static func acquire(store: String) throws -> StoreLock {
        let path = store + ".serve.lock"
        let fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ServerError.storeLock(path: path, errno: errno) }
        var status: Int32
        repeat { status = flock(fd, LOCK_EX | LOCK_NB) } while status != 0 && errno == EINTR
        guard status == 0 else {
            let e = errno
            close(fd)
            if e == EWOULDBLOCK {
                let holder = FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }?
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                throw ServerError.storeInUse(path: store, holder: holder?.isEmpty == false ? holder : nil)
            }
            throw ServerError.storeLock(path: path, errno: e)
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        return StoreLock(path: path, fd: fd)
    }

    deinit { close(fd) }
}
