import Foundation
import GPUFlowCore

#if canImport(Glibc)
    import Glibc
#endif

/// Job ids, run ids and worker secrets from the kernel's random source (`getentropy`, which is
/// `getrandom` without a descriptor, so it works even when the server is out of them). A
/// failure is an error, never a weaker id.
enum SystemRandom {
    /// `count` random bytes as lowercase hex.
    static func hex(bytes count: Int) throws -> String {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let chunk = min(256, count - done)  // getentropy's most per call
            let status = bytes.withUnsafeMutableBytes { raw -> Int32 in
                guard let base = raw.baseAddress else { return 0 }
                return getentropy(base + done, chunk)
            }
            if status != 0 {
                if errno == EINTR { continue }
                throw ServerError.noRandomness(errno: errno)
            }
            done += chunk
        }
        return Hex.encode(bytes)
    }
}
