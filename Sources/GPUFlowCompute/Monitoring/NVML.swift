import Foundation

/// NVIDIA's management library, loaded at run time with dlopen so gpuflow builds and runs
/// where there is none. Each reading is optional: a query the driver refuses (or a GPU that
/// lacks the sensor) is reported as unavailable, never filled in.
public final class NVML: @unchecked Sendable {
    public struct Reading: Sendable, Equatable {
        public var name: String
        /// Percent of the last sample period a kernel ran / device memory was read or written.
        public var gpuUtilizationPercent: Double?
        public var memoryUtilizationPercent: Double?
        public var memoryUsedBytes: Double?
        public var memoryTotalBytes: Double?
        public var powerW: Double?
        /// Joules since the driver was loaded (a counter).
        public var energyJ: Double?
        public var temperatureC: Double?
        /// Active clock throttle reasons by name (empty: none active; nil: unavailable).
        public var throttleReasons: [String]?
    }

    private typealias InitFn = @convention(c) () -> Int32
    private typealias HandleFn = @convention(c) (UInt32, UnsafeMutablePointer<OpaquePointer?>) -> Int32
    private typealias NameFn = @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>, UInt32) -> Int32
    private typealias UtilFn = @convention(c) (OpaquePointer?, UnsafeMutablePointer<UInt32>) -> Int32
    private typealias MemFn = @convention(c) (OpaquePointer?, UnsafeMutablePointer<UInt64>) -> Int32
    private typealias U32Fn = @convention(c) (OpaquePointer?, UnsafeMutablePointer<UInt32>) -> Int32
    private typealias U64Fn = @convention(c) (OpaquePointer?, UnsafeMutablePointer<UInt64>) -> Int32
    private typealias TempFn = @convention(c) (OpaquePointer?, UInt32, UnsafeMutablePointer<UInt32>) -> Int32

    private let device: OpaquePointer?
    private let lib: UnsafeMutableRawPointer
    public let deviceName: String

    /// The first GPU NVML sees, or nil where the library, the driver or a GPU is missing.
    public static let shared: NVML? = NVML(index: 0)

    private init?(index: UInt32) {
        guard let lib = dlopen("libnvidia-ml.so.1", RTLD_NOW) else { return nil }
        self.lib = lib
        guard let i = dlsym(lib, "nvmlInit_v2"), unsafeBitCast(i, to: InitFn.self)() == 0,
            let h = dlsym(lib, "nvmlDeviceGetHandleByIndex_v2")
        else { return nil }
        var d: OpaquePointer?
        guard unsafeBitCast(h, to: HandleFn.self)(index, &d) == 0 else { return nil }
        device = d
        var buf = [CChar](repeating: 0, count: 96)
        if let n = dlsym(lib, "nvmlDeviceGetName"), unsafeBitCast(n, to: NameFn.self)(d, &buf, 96) == 0 {
            deviceName = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        } else {
            deviceName = "NVIDIA GPU \(index)"
        }
    }

    private func sym<T>(_ name: String, _ type: T.Type) -> T? { dlsym(lib, name).map { unsafeBitCast($0, to: type) } }

    /// Total energy in joules (a counter), for power figures over an interval.
    public func energyJoules() -> Double? {
        var mj: UInt64 = 0
        guard let f = sym("nvmlDeviceGetTotalEnergyConsumption", U64Fn.self), f(device, &mj) == 0 else { return nil }
        return Double(mj) / 1000
    }

    public func read() -> Reading {
        var r = Reading(name: deviceName)
        var util = [UInt32](repeating: 0, count: 2)  // nvmlUtilization_t {gpu, memory}
        if let f = sym("nvmlDeviceGetUtilizationRates", UtilFn.self), f(device, &util) == 0 {
            r.gpuUtilizationPercent = Double(util[0])
            r.memoryUtilizationPercent = Double(util[1])
        }
        var mem = [UInt64](repeating: 0, count: 3)  // nvmlMemory_t {total, free, used}
        if let f = sym("nvmlDeviceGetMemoryInfo", MemFn.self), f(device, &mem) == 0 {
            r.memoryTotalBytes = Double(mem[0])
            r.memoryUsedBytes = Double(mem[2])
        }
        var mw: UInt32 = 0
        if let f = sym("nvmlDeviceGetPowerUsage", U32Fn.self), f(device, &mw) == 0 { r.powerW = Double(mw) / 1000 }
        r.energyJ = energyJoules()
        var t: UInt32 = 0
        if let f = sym("nvmlDeviceGetTemperature", TempFn.self), f(device, 0, &t) == 0 { r.temperatureC = Double(t) }
        var reasons: UInt64 = 0
        let throttle =
            sym("nvmlDeviceGetCurrentClocksEventReasons", U64Fn.self) ?? sym("nvmlDeviceGetCurrentClocksThrottleReasons", U64Fn.self)
        if let f = throttle, f(device, &reasons) == 0 { r.throttleReasons = Self.reasonNames(reasons) }
        return r
    }

    /// nvmlClocksThrottleReason* bits (nvml.h).
    static func reasonNames(_ bits: UInt64) -> [String] {
        let names: [(UInt64, String)] = [
            (0x1, "gpu_idle"), (0x2, "applications_clocks_setting"), (0x4, "sw_power_cap"), (0x8, "hw_slowdown"),
            (0x10, "sync_boost"), (0x20, "sw_thermal_slowdown"), (0x40, "hw_thermal_slowdown"), (0x80, "hw_power_brake_slowdown"),
            (0x100, "display_clock_setting"),
        ]
        return names.filter { bits & $0.0 != 0 }.map(\.1)
    }
}
