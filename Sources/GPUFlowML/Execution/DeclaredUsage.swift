import GPUFlowCompute
import GPUFlowCore

/// What a training task declared (duration_estimate, memory_requirement_mb, compute_intensity)
/// set against what it really used, so a submitter can see — and the learning engine can
/// learn — how far off the declaration was.
enum DeclaredUsage {
    /// Floating-point work per training sample that bounds each intensity class: a forward pass
    /// is 2 FLOPs per parameter, backward twice that, so a sample costs about 6 × parameters.
    static let intensityBounds: [(ComputeIntensity, Double)] = [(.light, 1e5), (.moderate, 1e7), (.heavy, 1e9), (.extreme, .infinity)]

    static func measuredIntensity(flopsPerSample: Double) -> ComputeIntensity {
        intensityBounds.first { flopsPerSample < $0.1 }?.0 ?? .extreme
    }

    static func check(_ t: TrainingTask, parameters: Int, rows: Int, seconds: Double, backend: Backend) -> TaskValue {
        var fields: [(String, TaskValue)] = []
        if let est = t.durationEstimate {
            fields.append(
                (
                    "duration",
                    .table([
                        ("estimate_s", .number(est)), ("actual_s", .number(seconds)),
                        ("ratio", .number(seconds / est)), ("within_estimate", .bool(seconds <= est)),
                    ])
                ))
        } else {
            fields.append(("duration", .table([("actual_s", .number(seconds)), ("estimate_s", .string("not declared"))])))
        }
        if let peak = backend.tensorBytesPeak {
            let mb = Double(peak) / 1_048_576
            var memory: [(String, TaskValue)] = [("peak_tensor_mb", .number(mb))]
            if t.memoryRequirementMB > 0 {
                memory += [
                    ("requirement_mb", .integer(t.memoryRequirementMB)), ("within_requirement", .bool(mb <= Double(t.memoryRequirementMB))),
                ]
            } else {
                memory.append(("requirement_mb", .string("not declared")))
            }
            fields.append(("memory", .table(memory)))
        } else {
            fields.append(("memory", .string("unavailable (the backend does not count its tensors)")))
        }
        let flops = 6 * Double(parameters)
        let measured = measuredIntensity(flopsPerSample: flops)
        fields.append(
            (
                "compute_intensity",
                .table([
                    ("declared", .string(t.computeIntensity.rawValue)), ("measured", .string(measured.rawValue)),
                    ("flops_per_sample", .number(flops)), ("matches", .bool(measured == t.computeIntensity)),
                ])
            ))
        return .table(fields)
    }
}
