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

    /// The first meter this machine offers, or nil.
    public static func available() -> PowerMeter? { nvml() ?? rapl() }

    private static func rapl() -> PowerMeter? {
        let path = "/sys/class/powercap/intel-rapl:0/energy_uj"
        func read() -> Double? {
            guard let s = try? String(contentsOfFile: path, encoding: .utf8), let uj = Double(s.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                return nil
            }
            return uj / 1000
        }
        guard read() != nil else { return nil }
        return PowerMeter(source: "RAPL package 0 (\(path))", read: read)
    }

    private typealias NVMLInit = @convention(c) () -> Int32
    private typealias NVMLHandle = @convention(c) (UInt32, UnsafeMutablePointer<OpaquePointer?>) -> Int32
    private typealias NVMLEnergy = @convention(c) (OpaquePointer?, UnsafeMutablePointer<UInt64>) -> Int32

    private static func nvml() -> PowerMeter? {
        guard let lib = dlopen("libnvidia-ml.so.1", RTLD_NOW),
              let initSym = dlsym(lib, "nvmlInit_v2"), let handleSym = dlsym(lib, "nvmlDeviceGetHandleByIndex_v2"),
              let energySym = dlsym(lib, "nvmlDeviceGetTotalEnergyConsumption") else { return nil }
        let initialize = unsafeBitCast(initSym, to: NVMLInit.self)
        let handleByIndex = unsafeBitCast(handleSym, to: NVMLHandle.self)
        let energy = unsafeBitCast(energySym, to: NVMLEnergy.self)
        guard initialize() == 0 else { return nil }
        var device: OpaquePointer?
        guard handleByIndex(0, &device) == 0 else { return nil }
        let read: () -> Double? = {
            var mj: UInt64 = 0
            return energy(device, &mj) == 0 ? Double(mj) : nil
        }
        guard read() != nil else { return nil }
        return PowerMeter(source: "NVML total energy of GPU 0", read: read)
    }
}
