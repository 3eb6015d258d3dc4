/// Writes a resolved profile back as YAML in the schema's own key names, so what
/// `gpuflow profile check` prints can be saved and loaded again unchanged.
public enum ProfileRenderer {
    public static func yaml(_ p: Profile) -> String {
        func num(_ d: Double) -> String { d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d) }
        var lines = [
            "name: \(quoted(p.name))",
            "device:",
            "  backend: \(p.device.backend.rawValue)",
            "  prefer: \(p.device.prefer.rawValue)",
        ]
        if let i = p.device.index { lines.append("  index: \(i)") }
        lines += [
            "resources:",
            "  max_concurrent_tasks: \(p.resources.maxConcurrentTasks)",
            "  memory_pool_mb: \(p.resources.memoryPoolMB)",
            "  task_timeout_s: \(p.resources.taskTimeoutS.map(num) ?? "none")",
            "  allocation_strategy: \(p.resources.allocationStrategy.rawValue)",
            "  priority_aging_s: \(num(p.resources.priorityAgingS))",
            "performance:",
            "  monitoring_interval_ms: \(p.performance.monitoringIntervalMS)",
            "learning:",
            "  enabled: \(p.learning.enabled)",
            "  cross_agent: \(p.learning.crossAgent)",
            "  history: \(quoted(p.learning.history))",
            "coordination:",
            "  pattern: \(p.coordination.pattern.rawValue)",
        ]
        let c = p.coordination
        switch c.spec {
        case .exclusive: break
        case .timeSliced(let t):
            lines += ["  time_slice_ms: \(num(t.sliceMS))", "  preemption_allowed: \(t.preemptionAllowed)"]
        case .spacePartitioned(let sp):
            lines.append("  partition_strategy: \(sp.strategy.rawValue)")
            if let b = sp.dynamicRebalancing { lines.append("  dynamic_rebalancing: \(b)") }
        case .pipeline(let pl):
            lines += [
                "  stages: [\(pl.stages.map(quoted).joined(separator: ", "))]",
                "  buffer_sizes: [\(pl.bufferSizes.map(String.init).joined(separator: ", "))]",
            ]
        case .collaborative(let n):
            lines += ["  negotiation: \(n.negotiation.rawValue)", "  conflict_resolution: \(n.conflictResolution.rawValue)"]
        }
        if !c.agents.isEmpty { lines.append("  agents: [\(c.agents.map(quoted).joined(separator: ", "))]") }
        let sp = c.sharingPolicy
        lines += [
            "  sharing_policy:",
            "    priority_strategy: \(sp.priorityStrategy.rawValue)",
        ]
        if let m = sp.maxStarvationS { lines.append("    max_starvation_time_s: \(num(m))") }
        if let m = sp.minResourceShare { lines.append("    min_resource_share: \(num(m))") }
        lines +=
            [
                "    memory_isolation: \(sp.memoryIsolation)",
                "    compute_isolation: \(sp.computeIsolation)",
                "    performance_isolation: \(sp.performanceIsolation)",
                "sandbox:",
                "  instructions: \(p.sandbox.instructions)",
                "  memory_mb: \(p.sandbox.memoryMB)",
                "  wall_s: \(num(p.sandbox.wallS))",
                "  enabled: \(p.sandbox.enabled)",
                "  max_depth: \(p.sandbox.maxDepth)",
                "  max_output_kb: \(p.sandbox.maxOutputKB)",
                "  max_tasks: \(p.sandbox.maxTasks)",
                "store:",
                "  path: \(quoted(p.store))",
            ] + (p.experiment.map { ["  experiment: \(quoted($0))"] } ?? []) + [
                "  checkpoint_keep_last: \(p.checkpoints.keepLast)",
                "  checkpoint_max_overhead: \(num(p.checkpoints.maxOverhead))",
                "  checkpoint_first_after_s: \(num(p.checkpoints.firstWriteAfter))",
                "  checkpoint_keep_on_success: \(p.checkpoints.keepOnSuccess)",
                "fallback:",
                "  failure_threshold: \(p.fallback.failureThreshold)",
                "  cooldown_ms: \(p.fallback.cooldownMS)",
                "  backends: [\(p.fallback.backends.map(\.rawValue).joined(separator: ", "))]",
            ]
        if p.faults.vulkanAfterDispatches != nil || p.faults.kind != .device_lost {
            lines.append("faults:")
            if let k = p.faults.vulkanAfterDispatches { lines.append("  vulkan_after_dispatches: \(k)") }
            lines.append("  kind: \(p.faults.kind.rawValue)")
        }
        let cl = p.cluster
        if cl != Profile.Cluster() {
            lines.append("cluster:")
            if let v = cl.scheduler { lines.append("  scheduler: \(v.rawValue)") }
            if let v = cl.partition { lines.append("  partition: \(quoted(v))") }
            if let v = cl.account { lines.append("  account: \(quoted(v))") }
            if let v = cl.time { lines.append("  time: \(quoted(v))") }
            lines.append("  gpus_per_stage: \(cl.gpusPerStage)")
            lines.append("  sbatch_options: [\(cl.sbatchOptions.map(quoted).joined(separator: ", "))]")
            if let v = cl.runDir { lines.append("  run_dir: \(quoted(v))") }
            if let v = cl.template { lines.append("  template: \(quoted(v))") }
            if let v = cl.gpuflow { lines.append("  gpuflow: \(quoted(v))") }
            lines.append("  array_throttle: \(cl.arrayThrottle)")
        }
        if p.agents.isEmpty {
            lines.append("agents: {}")
        } else {
            lines.append("agents:")
            for (name, a) in p.agents.sorted(by: { $0.key < $1.key }) {
                lines.append("  \(quoted(name)):")
                var any = false
                if let m = a.maxMemoryMB { lines.append("    max_memory_mb: \(m)"); any = true }
                if let n = a.maxConcurrentTasks { lines.append("    max_concurrent_tasks: \(n)"); any = true }
                if let c = a.maxComputePercent { lines.append("    max_compute_percent: \(num(c))"); any = true }
                if let sb = a.sandbox {
                    lines.append(
                        "    sandbox: {instructions: \(sb.instructions), memory_mb: \(sb.memoryMB), wall_s: \(num(sb.wallS)), max_depth: \(sb.maxDepth), max_output_kb: \(sb.maxOutputKB), max_tasks: \(sb.maxTasks)}"
                    )
                    any = true
                }
                if !any { lines[lines.count - 1] += " {}" }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func quoted(_ s: String) -> String {
        let plain =
            s.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "." } && !s.isEmpty
            && !["true", "false", "null", "yes", "no", "on", "off"].contains(s.lowercased()) && Double(s) == nil
        return plain ? s : "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}

/// The version printed by `gpuflow --version` and recorded with runs.
public enum GPUFlowVersion {
    public static let string = "0.1.0"
}
