import Foundation

/// Lowercase hex of bytes. `String(format: "%02x")` per byte went through Foundation's
/// formatter 32 times a hash, a measurable share of a short run's start.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    public static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// UTC time stamps in fixed numeric formats (run ids, listings). `DateFormatter` loads ICU's
/// locale and time-zone data on first use, milliseconds on every `gpuflow run`; these formats
/// have no locale, so the C library's `strftime` is exact and cheap.
public enum UTCStamp {
    /// `format` is a strftime pattern, e.g. "%Y%m%d-%H%M%S".
    public static func string(_ time: Double, format: String) -> String {
        var t = time_t(time.rounded(.down))
        var parts = tm()
        gmtime_r(&t, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let n = strftime(&buffer, buffer.count, format, &parts)
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
