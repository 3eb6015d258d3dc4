import Dispatch
import Foundation
import GPUFlowCompute
import GPUFlowCore

/// Samples the device and the process at the profile's monitoring interval on a timer queue of
/// its own, and gathers what every task measured on its backend. The work never waits for it:
/// tasks hand over their figures once, at the end, and sampling only reads counters.
public final class GPUPerformanceMonitor: @unchecked Sendable {
    public struct Sample: Sendable {
        public let t: Double
        public let residentBytes: Double?
        public let cpuSeconds: Double
        /// Bytes the device memory pools hold (nil before any Vulkan context is open).
        public let poolReservedBytes: Double?
        public let nvml: NVML.Reading?
    }

    public let intervalMS: Int
    public let nvml: NVML?
    private let started = Date()
    private let lock = NSLock()
    private var timer: DispatchSourceTimer?
    private let queue = DispatchQueue(label: "gpuflow.monitor", qos: .utility)
    private var samples: [Sample] = []
    private var sampleCount = 0
    private var samplingSeconds = 0.0
    private var peakResident = 0.0
    private var tasks: [TaskMetrics] = []
    /// Samples kept for the time series (older ones are dropped, aggregates keep counting).
    public static let keptSamples = 10_000

    public init(intervalMS: Int, nvml: NVML? = NVML.shared) {
        self.intervalMS = intervalMS
        self.nvml = nvml
    }

    public var elapsed: Double { Date().timeIntervalSince(started) }

    /// Starts sampling; an interval of 0 only gathers task figures.
    public func start() {
        lock.lock()
        defer { lock.unlock() }
        guard timer == nil, intervalMS > 0 else { return }
        let t = DispatchSource.makeTimerSource(queue: queue)
        t.schedule(deadline: .now(), repeating: .milliseconds(intervalMS), leeway: .milliseconds(max(1, intervalMS / 10)))
        t.setEventHandler { [weak self] in self?.sample() }
        timer = t
        t.resume()
    }

    /// Stops sampling and waits for a sample in progress, so nothing reads the device after.
    public func stop() {
        lock.lock()
        let t = timer
        timer = nil
        lock.unlock()
        t?.cancel()
        queue.sync {}
        if t != nil { sample() }  // the run's last moment, so every series has its end
    }

    deinit { timer?.cancel() }

    func sample() {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let pools = VulkanContext.opened
        let reserved = pools.isEmpty ? nil : Double(pools.reduce(0) { $0 + $1.pool.statistics().reservedBytes })
        let s = Sample(
            t: elapsed, residentBytes: ProcessStats.residentBytes(), cpuSeconds: ProcessStats.cpuSeconds(),
            poolReservedBytes: reserved, nvml: nvml?.read())
        let cost = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        lock.lock()
        samples.append(s)
        if samples.count > Self.keptSamples { samples.removeFirst(samples.count - Self.keptSamples) }
        sampleCount += 1
        samplingSeconds += cost
        peakResident = max(peakResident, s.residentBytes ?? 0)
        lock.unlock()
    }

    public func record(_ m: TaskMetrics) {
        lock.lock()
        tasks.append(m)
        lock.unlock()
    }

    public func taskMetrics() -> [TaskMetrics] {
        lock.lock()
        defer { lock.unlock() }
        return tasks
    }

    public func series() -> [Sample] {
        lock.lock()
        defer { lock.unlock() }
        return samples
    }

    /// Kernel figures summed over every task.
    public func kernelTotals() -> [KernelTiming] {
        var byName: [String: KernelTiming] = [:]
        for t in taskMetrics() {
            for k in t.kernels {
                var a = byName[k.kernel] ?? KernelTiming(kernel: k.kernel)
                a.dispatches += k.dispatches
                a.totalNS += k.totalNS
                a.maxNS = max(a.maxNS, k.maxNS)
                byName[k.kernel] = a
            }
        }
        return byName.values.sorted { $0.totalNS > $1.totalNS }
    }

    public struct Overview: Sendable {
        public let wallS: Double
        public let samples: Int
        public let samplingS: Double
        public let peakResidentBytes: Double?
        /// Kernel time per backend device over the monitor's wall time: the queue's busy ratio.
        public let queueBusy: [(device: String, busyS: Double)]
        public let latest: Sample?
    }

    public func overview() -> Overview {
        let ts = taskMetrics()
        var busy: [String: Double] = [:]
        for t in ts { if let g = t.gpuS { busy[t.device, default: 0] += g } }
        lock.lock()
        defer { lock.unlock() }
        return Overview(
            wallS: elapsed, samples: sampleCount, samplingS: samplingSeconds,
            peakResidentBytes: peakResident > 0 ? peakResident : nil,
            queueBusy: busy.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, latest: samples.last)
    }
}
