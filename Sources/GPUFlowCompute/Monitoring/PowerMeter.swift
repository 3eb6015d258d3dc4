import Foundation

/// Energy readings for power figures: NVML's total energy counter on NVIDIA GPUs (libnvidia-ml,
/// loaded at run time), else Intel/AMD RAPL through powercap where the file is readable. Where
/// neither exists there is no meter — callers report power as unavailable, never estimated.
public final class PowerMeter: @unchecked Sendable {
    public let source: String
    private let readMillijoules: () -> Double?

    private init(source: String, read: @escaping () -> Double?) {
        self.source = source
        readMillijoules = read
    }

    /// Joules consumed so far by the metered device (a counter: use differences).
    public func joules() -> Double? { readMillijoules().map { $0 / 1000 } }

    /// The process-wide meter, found once.
    public static let shared: PowerMeter? = available()

    /// The first meter this machine offers, or nil.
    public static func available() -> PowerMeter? { nvml() ?? rapl() }

    private static func rapl() -> PowerMeter? {
        let path = "/sys/class/powercap/intel-rapl:0/energy_uj"
        func read() -> Double? {
            guard let s = try? String(contentsOfFile: path, encoding: .utf8),
                let uj = Double(s.trimmingCharacters(in: .whitespacesAndNewlines))
            else {
                return nil
            }
            return uj / 1000
        }
        guard read() != nil else { return nil }
        return PowerMeter(source: "RAPL package 0 (\(path))", read: read)
    }

    private static func nvml() -> PowerMeter? {
        guard let n = NVML.shared, n.energyJoules() != nil else { return nil }
        return PowerMeter(source: "NVML total energy of \(n.deviceName)", read: { n.energyJoules().map { $0 * 1000 } })
    }
}
