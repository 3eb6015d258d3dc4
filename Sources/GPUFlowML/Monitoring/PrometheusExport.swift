import GPUFlowCompute
import GPUFlowCore
import Prometheus

/// The monitor's figures in the Prometheus text format.
///
/// Names are modelled on NVIDIA's DCGM exporter (utilization as a 0–1 ratio, bytes, watts,
/// joules, seconds). A figure this machine cannot measure is absent, and
/// `gpuflow_metric_available{metric=...}` says so with 0. Every counter's name ends in `_total` (Prometheus's naming rule, checked by
/// `promtool check metrics` in the tests); the library adds no suffix of its own.
public enum PrometheusExport {
    /// A full metric name as it is exposed (the descriptor joins non-empty parts with "_").
    static func named(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    public static func text(_ m: GPUPerformanceMonitor, breakers: CircuitBreakerBoard?) -> String {
        let registry = PrometheusCollectorRegistry()
        let o = m.overview()
        let nvml = o.latest?.nvml ?? m.nvml?.read()
        let device = nvml?.name ?? "none"
        func gauge(_ name: String, _ help: String, _ value: Double?, _ labels: [(String, String)] = []) {
            guard let value, value.isFinite else { return }
            registry.makeGauge(descriptor: named(name, help), labels: labels).set(to: value)
        }
        // The registry is new on every call, so one increment sets a counter to its running total.
        func counter(_ name: String, _ help: String, _ value: Double?, _ labels: [(String, String)] = []) {
            guard let value, value.isFinite, value >= 0 else { return }
            registry.makeCounter(descriptor: named(name, help), labels: labels).increment(by: value)
        }
        // Whole counts stay integers in the text ("3", not "3.0").
        func count(_ name: String, _ help: String, _ value: Int, _ labels: [(String, String)] = []) {
            registry.makeCounter(descriptor: named(name, help), labels: labels).increment(by: Int64(max(0, value)))
        }
        // Energy only grows while the driver stays loaded: a counter; the others go up and down.
        let nvmlFigures: [(String, String, String, Double?, Bool)] = [
            (
                "gpuflow_gpu_utilization_ratio", "utilization", "Fraction of the last sample period a kernel ran (NVML).",
                nvml?.gpuUtilizationPercent.map { $0 / 100 }, false
            ),
            ("gpuflow_memory_used_bytes", "memory", "Device memory in use (NVML).", nvml?.memoryUsedBytes, false),
            ("gpuflow_power_watts", "power", "Board power draw (NVML).", nvml?.powerW, false),
            ("gpuflow_energy_joules_total", "energy", "Energy since the driver loaded (NVML).", nvml?.energyJ, true),
            ("gpuflow_temperature_celsius", "temperature", "GPU temperature (NVML).", nvml?.temperatureC, false),
        ]
        for (name, metric, help, value, isCounter) in nvmlFigures {
            if isCounter { counter(name, help, value, [("device", device)]) } else { gauge(name, help, value, [("device", device)]) }
            registry.makeGauge(
                descriptor: named("gpuflow_metric_available", "1 where this machine can measure the figure, 0 where it is unavailable."),
                labels: [("metric", metric)]
            ).set(to: value == nil ? 0.0 : 1.0)
        }
        for q in o.queueBusy {
            gauge(
                "gpuflow_queue_utilization_ratio", "Kernel time over wall time per device queue (timestamp queries).",
                o.wallS > 0 ? q.busyS / o.wallS : 0, [("device", q.device), ("queue", "compute0")])
        }
        for c in VulkanContext.opened {
            let s = c.pool.statistics()
            gauge("gpuflow_pool_reserved_bytes", "Bytes the device memory pool holds.", Double(s.reservedBytes), [("device", c.info.name)])
            gauge(
                "gpuflow_pool_peak_reserved_bytes", "High-water mark of the device memory pool.", Double(s.peakReservedBytes),
                [("device", c.info.name)])
            gauge("gpuflow_pool_fragmentation_ratio", "1 - largest free range / free bytes.", s.fragmentation, [("device", c.info.name)])
        }
        for k in m.kernelTotals() {
            counter(
                "gpuflow_kernel_seconds_total", "Device time of a kernel, all tasks (timestamp queries).", k.totalNS / 1e9,
                [("kernel", k.kernel)])
            count("gpuflow_kernel_dispatches_total", "Dispatches of a kernel.", k.dispatches, [("kernel", k.kernel)])
        }
        var taskSeconds: [[String]: Double] = [:], taskCount: [[String]: Int] = [:]
        var up = 0, down = 0
        for t in m.taskMetrics() {
            taskSeconds[[t.kind, t.backend], default: 0] += t.wallS
            taskCount[[t.kind, t.backend], default: 0] += 1
            up += t.transfers?.uploadBytes ?? 0
            down += t.transfers?.downloadBytes ?? 0
        }
        for (k, s) in taskSeconds.sorted(by: { $0.key.joined() < $1.key.joined() }) {
            counter("gpuflow_task_seconds_total", "Wall time of finished tasks.", s, [("kind", k[0]), ("backend", k[1])])
            count("gpuflow_tasks_total", "Finished tasks.", taskCount[k] ?? 0, [("kind", k[0]), ("backend", k[1])])
        }
        for (direction, bytes) in [("host_to_device", up), ("device_to_host", down)] {
            count("gpuflow_transfer_bytes_total", "Bytes copied between host and device.", bytes, [("direction", direction)])
        }
        gauge(
            "gpuflow_process_resident_bytes", "Resident memory of the gpuflow process.",
            o.latest?.residentBytes ?? ProcessStats.residentBytes())
        gauge("gpuflow_monitor_sampling_ratio", "Time spent sampling over wall time.", o.wallS > 0 ? o.samplingS / o.wallS : 0)
        for e in breakers?.snapshot() ?? [] {
            gauge(
                "gpuflow_breaker_open", "1 while a backend's circuit breaker is open.", e.breaker.state == .open ? 1 : 0,
                [("backend", e.key)])
            count("gpuflow_breaker_failures_total", "Device faults counted by a breaker.", e.breaker.failures, [("backend", e.key)])
        }
        return registry.emitToString()
    }
}
