import GPUFlowCompute
import GPUFlowCore

/// The monitor's figures as one TaskValue (for `gpu.metrics.snapshot()` and the JSON of
/// `--metrics-out`): what is not measurable here is the string "unavailable", never a number.
public enum MonitorReport {
    static let unavailable = TaskValue.string("unavailable")

    static func opt(_ d: Double?) -> TaskValue { d.map { .number($0) } ?? unavailable }

    public static func value(_ m: GPUPerformanceMonitor, breakers: CircuitBreakerBoard?, series: Bool = false) -> TaskValue {
        let o = m.overview()
        let tasks = m.taskMetrics()
        var fields: [(String, TaskValue)] = [
            (
                "monitor",
                .table([
                    ("interval_ms", .integer(m.intervalMS)), ("samples", .integer(o.samples)), ("wall_s", .number(o.wallS)),
                    ("sampling_s", .number(o.samplingS)), ("sampling_ratio", .number(o.wallS > 0 ? o.samplingS / o.wallS : 0)),
                ])
            ),
            ("device", deviceValue(m, o.latest)),
            (
                "queues",
                .array(
                    o.queueBusy.map { q in
                        .table([
                            ("device", .string(q.device)), ("queue", .string("compute 0")), ("busy_s", .number(q.busyS)),
                            ("utilization_ratio", .number(o.wallS > 0 ? q.busyS / o.wallS : 0)),
                        ])
                    })
            ),
            (
                "process",
                .table([
                    ("resident_bytes", opt(o.latest?.residentBytes ?? ProcessStats.residentBytes())),
                    ("peak_resident_bytes", opt(o.peakResidentBytes)), ("cpu_s", .number(ProcessStats.cpuSeconds())),
                ])
            ),
            ("device_pool", poolValue()),
            (
                "kernels",
                .array(
                    m.kernelTotals().map { k in
                        .table([
                            ("kernel", .string(k.kernel)), ("dispatches", .integer(k.dispatches)), ("total_s", .number(k.totalNS / 1e9)),
                            ("mean_us", .number(k.dispatches > 0 ? k.totalNS / Double(k.dispatches) / 1e3 : 0)),
                            ("max_us", .number(k.maxNS / 1e3)),
                        ])
                    })
            ),
            ("task_metrics", .array(tasks.map(taskValue))),
        ]
        if let breakers {
            fields.append(
                (
                    "breakers",
                    .array(
                        breakers.snapshot().map { e in
                            .table([
                                ("backend", .string(e.key)), ("state", .string(e.breaker.state.rawValue)),
                                ("consecutive_failures", .integer(e.breaker.consecutiveFailures)),
                                ("failures", .integer(e.breaker.failures)),
                                ("successes", .integer(e.breaker.successes)), ("times_opened", .integer(e.breaker.timesOpened)),
                            ])
                        })
                ))
        }
        if series {
            fields.append(
                (
                    "series",
                    .array(
                        m.series().map { s in
                            var f: [(String, TaskValue)] = [
                                ("t", .number(s.t)), ("resident_bytes", opt(s.residentBytes)), ("cpu_s", .number(s.cpuSeconds)),
                                ("pool_reserved_bytes", opt(s.poolReservedBytes)),
                            ]
                            if let n = s.nvml {
                                f += [
                                    ("gpu_utilization_ratio", opt(n.gpuUtilizationPercent.map { $0 / 100 })), ("power_w", opt(n.powerW)),
                                    ("memory_used_bytes", opt(n.memoryUsedBytes)), ("temperature_c", opt(n.temperatureC)),
                                ]
                            }
                            return .table(f)
                        })
                ))
        }
        return .table(fields)
    }

    static func deviceValue(_ m: GPUPerformanceMonitor, _ latest: GPUPerformanceMonitor.Sample?) -> TaskValue {
        guard let nvml = m.nvml else {
            return .table([
                (
                    "source",
                    .string(
                        "none: NVML (libnvidia-ml.so.1) is not present, so device utilization, power, energy, temperature and throttle reasons are unavailable"
                    )
                ),
                ("gpu_utilization_ratio", unavailable), ("memory_used_bytes", unavailable), ("power_w", unavailable),
                ("energy_j", unavailable), ("temperature_c", unavailable), ("throttle_reasons", unavailable),
            ])
        }
        let r = latest?.nvml ?? nvml.read()
        return .table([
            ("source", .string("NVML")), ("name", .string(r.name)),
            ("gpu_utilization_ratio", opt(r.gpuUtilizationPercent.map { $0 / 100 })),
            ("memory_utilization_ratio", opt(r.memoryUtilizationPercent.map { $0 / 100 })),
            ("memory_used_bytes", opt(r.memoryUsedBytes)), ("memory_total_bytes", opt(r.memoryTotalBytes)),
            ("power_w", opt(r.powerW)), ("energy_j", opt(r.energyJ)), ("temperature_c", opt(r.temperatureC)),
            ("throttle_reasons", r.throttleReasons.map { .array($0.map { .string($0) }) } ?? unavailable),
        ])
    }

    static func poolValue() -> TaskValue {
        let contexts = VulkanContext.opened
        guard !contexts.isEmpty else { return .string("unavailable (no Vulkan device opened in this run)") }
        return .array(
            contexts.map { c in
                var v = MemoryTasks.statistics(c)
                if case .table(var f) = v {
                    f.insert(("device", .string(c.info.name)), at: 0)
                    v = .table(f)
                }
                return v
            })
    }

    public static func taskValue(_ t: TaskMetrics) -> TaskValue {
        var f: [(String, TaskValue)] = []
        if let id = t.id { f.append(("id", .integer(id))) }
        if let a = t.agent { f.append(("agent", .string(a))) }
        f += [
            ("name", .string(t.name)), ("kind", .string(t.kind)), ("backend", .string(t.backend)), ("device", .string(t.device)),
            ("started_s", .number(t.startedAt)), ("wall_s", .number(t.wallS)), ("gpu_s", opt(t.gpuS)), ("host_s", .number(t.hostS)),
            ("utilization_ratio", opt(t.utilization)), ("peak_tensor_bytes", t.peakTensorBytes.map { .integer($0) } ?? unavailable),
            ("attempts", .integer(t.attempts)), ("energy_j", opt(t.energyJ)),
        ]
        if let x = t.transfers {
            f += [
                ("upload_bytes", .integer(x.uploadBytes)), ("upload_s", .number(x.uploadSeconds)),
                ("upload_bytes_per_s", opt(t.uploadBytesPerSecond)), ("download_bytes", .integer(x.downloadBytes)),
                ("download_s", .number(x.downloadSeconds)), ("download_bytes_per_s", opt(t.downloadBytesPerSecond)),
                ("transfer_clock", .string(t.transferClock ?? "none")),
            ]
        } else {
            f.append(("transfers", .string("none (host backend: tensors live in host memory)")))
        }
        f.append(
            (
                "kernels",
                .array(
                    t.kernels.map { k in
                        .table([
                            ("kernel", .string(k.kernel)), ("dispatches", .integer(k.dispatches)), ("total_s", .number(k.totalNS / 1e9)),
                        ])
                    })
            ))
        return .table(f)
    }
}
