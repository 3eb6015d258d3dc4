/// Every kernel of a backend against the CPU reference on seeded random inputs, at odd and
/// even sizes and sizes that are not multiples of a tile. The tests run it on lavapipe;
/// `gpuflow-bench parity` runs it on a real GPU (scripts/gpu-check).
public enum KernelParity {
    public struct Result: Sendable, CustomStringConvertible {
        public let check: String
        /// max |other − cpu| / max(1, max |cpu|) over the check's outputs.
        public let error: Float
        public let tolerance: Float
        public var passed: Bool { error <= tolerance }
        public var description: String { "\(passed ? "ok  " : "FAIL") \(check): normalised error \(error) (tolerance \(tolerance))" }
    }

    /// The tolerance of every kernel: float32 results that differ only in rounding.
    public static let tolerance: Float = 1e-4

    /// Small shapes take the one-output tiling; shapes with both output sides ≥ 64 take the
    /// register-blocked kernel, with edges that are not multiples of its 64×64 blocks.
    public static let gemmShapes = [
        (1, 1, 1), (3, 5, 7), (16, 16, 16), (17, 33, 9), (64, 10, 128), (100, 37, 65),
        (64, 64, 16), (65, 130, 33), (128, 100, 77), (200, 64, 1),
    ]
    public static let elementCounts = [1, 7, 256, 1000, 4099]
    public static let rowShapes = [(1, 1), (5, 3), (33, 10), (64, 17), (257, 2)]

    static func random(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var r = Philox(seed: seed)
        return (0..<n).map { _ in (r.uniform() * 2 - 1) * scale }
    }

    static func error(_ v: [Float], _ c: [Float]) -> Float {
        guard v.count == c.count else { return .infinity }
        let top = max(1, c.map(abs).max() ?? 0)
        return zip(v, c).map { abs($0 - $1) }.max().map { $0 / top } ?? 0
    }

    /// Runs `body` on both backends with the same inputs and compares the tensors it returns.
    static func compare(
        _ check: String, _ cpu: Backend, _ other: Backend, _ inputs: [[Float]],
        _ body: (Backend, [Tensor]) throws -> [Tensor]
    ) throws -> Result {
        let onCPU = try body(cpu, inputs.map { try cpu.tensor($0, shape: [$0.count]) })
        let onOther = try other.read(try body(other, inputs.map { try other.tensor($0, shape: [$0.count]) }))
        var worst: Float = 0
        for (i, c) in onCPU.enumerated() { worst = max(worst, error(onOther[i], try cpu.read(c))) }
        return Result(check: check, error: worst, tolerance: tolerance)
    }

    /// All checks, in a fixed order.
    public static func run(_ other: Backend) throws -> [Result] {
        let cpu = CPUBackend()
        var out: [Result] = []
        for (m, n, k) in gemmShapes {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                out.append(
                    try compare(
                        "gemm \(m)x\(n)x\(k) transA=\(ta) transB=\(tb)", cpu, other,
                        [random(m * k, seed: 1), random(k * n, seed: 2), random(m * n, seed: 3)]
                    ) { b, t in
                        try b.gemm(t[0], t[1], t[2], m: m, n: n, k: k, transA: ta, transB: tb, alpha: 0.5, beta: 0.25)
                        return [t[2]]
                    })
            }
        }
        for (batch, m, n, k, shareA) in [(1, 3, 4, 5, false), (3, 7, 5, 9, false), (4, 17, 33, 6, true), (5, 1, 10, 1, true)] {
            let sA = shareA ? 0 : m * k
            out.append(
                try compare(
                    "gemmBatched b=\(batch) \(m)x\(n)x\(k)\(shareA ? " shared A" : "")", cpu, other,
                    [
                        random(shareA ? m * k : batch * m * k, seed: 12), random(batch * k * n, seed: 13),
                        random(batch * m * n, seed: 14),
                    ]
                ) { b, t in
                    try b.gemmBatched(
                        t[0], t[1], t[2], batch: batch, m: m, n: n, k: k, strideA: sA, strideB: k * n, strideC: m * n,
                        transA: false, transB: false, alpha: 1, beta: 0.5)
                    return [t[2]]
                })
        }
        for n in elementCounts {
            let x = random(n, seed: 4, scale: 3), y = random(n, seed: 5), z = random(n, seed: 6)
            let zero = [Float](repeating: 0, count: n)
            for f in Activation.allCases {
                out.append(
                    try compare("activation \(f) n=\(n)", cpu, other, [x, y]) { b, t in
                        try b.activation(f, t[0], t[1])
                        return [t[1]]
                    })
                out.append(
                    try compare("activationBackward \(f) n=\(n)", cpu, other, [x, y, z]) { b, t in
                        try b.activationBackward(f, t[0], t[1], t[2])
                        return [t[2]]
                    })
            }
            out.append(
                try compare("copy n=\(n)", cpu, other, [x, y]) { b, t in
                    try b.copy(t[0], into: t[1])
                    return [t[1]]
                })
            out.append(
                try compare("scale+axpy n=\(n)", cpu, other, [x, y]) { b, t in
                    try b.scale(t[0], -1.5)
                    try b.axpy(0.3, t[0], t[1])
                    return [t[0], t[1]]
                })
            out.append(
                try compare("sgdMomentum×3 n=\(n)", cpu, other, [x, y, z]) { b, t in
                    for _ in 0..<3 { try b.sgdMomentum(param: t[0], grad: t[1], velocity: t[2], learningRate: 0.1, momentum: 0.9) }
                    try b.sgdMomentum(
                        param: t[0], grad: t[1], velocity: t[2], learningRate: 0.1, momentum: 0.9, weightDecay: 0.01, nesterov: true)
                    return [t[0], t[2]]
                })
            out.append(
                try compare("rmsprop×3 n=\(n)", cpu, other, [x, y, zero, zero]) { b, t in
                    for _ in 0..<2 {
                        try b.rmsprop(
                            param: t[0], grad: t[1], square: t[2], buffer: t[3], learningRate: 0.01, alpha: 0.99, epsilon: 1e-8,
                            weightDecay: 0, momentum: 0)
                    }
                    try b.rmsprop(
                        param: t[0], grad: t[1], square: t[2], buffer: t[3], learningRate: 0.01, alpha: 0.9, epsilon: 1e-6,
                        weightDecay: 0.01, momentum: 0.9)
                    return [t[0], t[2], t[3]]
                })
            out.append(
                try compare("adamW×3 n=\(n)", cpu, other, [x, y, zero, zero]) { b, t in
                    for step in 1...3 {
                        try b.adam(
                            param: t[0], grad: t[1], m: t[2], v: t[3], step: step, learningRate: 0.01, beta1: 0.9, beta2: 0.999,
                            epsilon: 1e-8, weightDecay: 0.01)
                    }
                    return [t[0], t[2], t[3]]
                })
        }
        for (rows, cols) in rowShapes {
            let x = random(rows * cols, seed: 7, scale: 4)
            var r = Philox(seed: 8)
            let labels = (0..<rows).map { _ in Float(r.below(cols)) }
            let perRow = [Float](repeating: 0, count: rows)
            out.append(
                try compare("addBias \(rows)x\(cols)", cpu, other, [x, random(cols, seed: 9)]) { b, t in
                    try b.addBias(t[0], t[1], rows: rows, cols: cols)
                    return [t[0]]
                })
            for f in Activation.allCases {
                out.append(
                    try compare("biasActivation \(f) \(rows)x\(cols)", cpu, other, [x, random(cols, seed: 11), x]) { b, t in
                        try b.biasActivation(f, t[0], t[1], t[2], rows: rows, cols: cols)
                        return [t[0], t[2]]
                    })
            }
            out.append(
                try compare("softmaxCrossEntropy \(rows)x\(cols)", cpu, other, [x, labels, perRow, x]) { b, t in
                    try b.softmaxCrossEntropy(t[0], t[1], rows: rows, cols: cols, losses: t[2], grad: t[3])
                    return [t[2], t[3]]
                })
            out.append(
                try compare("mse \(rows)x\(cols)", cpu, other, [x, random(rows * cols, seed: 10), perRow, x]) { b, t in
                    try b.mse(t[0], t[1], rows: rows, cols: cols, losses: t[2], grad: t[3])
                    return [t[2], t[3]]
                })
            out.append(
                try compare("columnSum \(rows)x\(cols)", cpu, other, [x, [Float](repeating: 0, count: cols)]) { b, t in
                    try b.columnSum(t[0], rows: rows, cols: cols, t[1])
                    return [t[1]]
                })
            out.append(
                try compare("rowArgmax \(rows)x\(cols)", cpu, other, [x, perRow]) { b, t in
                    try b.rowArgmax(t[0], rows: rows, cols: cols, t[1])
                    return [t[1]]
                })
        }
        // The graph core's ops, each against the reference (OpSamples: the tests' list).
        for sample in OpSamples.all {
            let expected = try ReferenceOps.run(sample.op, sample.inputs)
            let got = try other.read(try other.run(sample.op, try sample.inputs.map { try other.tensor($0.values, shape: $0.shape) }))
            let worst = zip(got, expected).map { error($0, $1) }.max() ?? 0
            out.append(
                Result(
                    check: "op \(sample.label)\(other.supports(sample.op) ? "" : " (reference on the host)")", error: worst,
                    tolerance: tolerance))
        }
        return out
    }
}
