import Foundation
import GPUFlowCompute
import GPUFlowCore
import GPUFlowML

/// Direct convolution against im2col + GEMM on each backend, side by side: one training step of
/// a layer (the forward and both gradients) at the shapes of examples/cnn_digits.lua and of an
/// MNIST-sized network, alternating the two algorithms rep by rep; the medians, their ratio and
/// the largest difference between the two results. The choice each backend makes
/// (`convolutionAlgorithm`) is the README's reading of these rows.
enum ConvBench {
    struct Shape {
        let label: String
        let rows: Int
        let geometry: Conv2DGeometry
    }

    static func shapes() throws -> [Shape] {
        [
            Shape(
                label: "cnn_digits conv1", rows: 32,
                geometry: try Conv2DGeometry(channels: 1, height: 8, width: 8, outputs: 8, kernel: (3, 3), padding: (1, 1))),
            Shape(
                label: "cnn_digits conv2", rows: 32,
                geometry: try Conv2DGeometry(channels: 8, height: 4, width: 4, outputs: 16, kernel: (3, 3), padding: (1, 1))),
            Shape(
                label: "MNIST conv1", rows: 64,
                geometry: try Conv2DGeometry(channels: 1, height: 28, width: 28, outputs: 32, kernel: (3, 3), padding: (1, 1))),
            Shape(
                label: "MNIST conv2", rows: 64,
                geometry: try Conv2DGeometry(channels: 32, height: 14, width: 14, outputs: 64, kernel: (3, 3), padding: (1, 1))),
            Shape(
                label: "depthwise 32×16×16", rows: 32,
                geometry: try Conv2DGeometry(channels: 32, height: 16, width: 16, outputs: 32, kernel: (3, 3), padding: (1, 1), groups: 32)),
            Shape(
                label: "stride 2 32→64 16×16", rows: 32,
                geometry: try Conv2DGeometry(
                    channels: 32, height: 16, width: 16, outputs: 64, kernel: (3, 3), stride: (2, 2), padding: (1, 1))),
        ]
    }

    /// `small`: the two cnn_digits layers only (the kit test on lavapipe, where the larger
    /// shapes take minutes).
    static func run(_ kinds: [BackendKind], reps: Int, small: Bool = false) throws {
        print(
            "# conv2d: one layer's training step (forward, input gradient, weight gradient), ms, median of \(reps) alternating reps after a warm-up"
        )
        print(
            [
                pad("backend", 8), pad("shape", 22), pad("direct ms", 11), pad("im2col ms", 11), pad("im2col/direct", 14),
                pad("max rel Δ", 10), "  runs",
            ]
            .joined(separator: " "))
        for kind in kinds {
            let backend = try BackendSelector.make(kind).backend
            for s in try shapes().prefix(small ? 2 : .max) {
                let g = s.geometry
                var r = Philox(seed: UInt64(g.channels * 131 + g.outputs))
                let x = (0..<(s.rows * g.inputShape.reduce(1, *))).map { _ in r.uniform() - 0.5 }
                let w = (0..<g.weightShape.reduce(1, *)).map { _ in (r.uniform() - 0.5) * 0.2 }
                let dy = (0..<(s.rows * g.outputShape.reduce(1, *))).map { _ in r.uniform() - 0.5 }
                let tx = try backend.tensor(x, shape: [s.rows] + g.inputShape), tw = try backend.tensor(w, shape: g.weightShape)
                let tdy = try backend.tensor(dy, shape: [s.rows] + g.outputShape)
                func step(_ a: Conv2DAlgorithm) throws -> [[Float]] {
                    let y = try backend.convolve(Op.conv2d(g), [tx, tw], algorithm: a)[0]
                    let dx = try backend.convolve(Op.conv2dGradInput(g), [tdy, tw], algorithm: a)[0]
                    let dw = try backend.convolve(Op.conv2dGradWeight(g), [tx, tdy], algorithm: a)[0]
                    return try backend.read([y, dx, dw])  // waits for a device
                }
                // The reference's loops take seconds on the larger shapes: fewer reps there.
                let n = kind == .cpu && g.groupPatch * g.groupOutputs > 1000 ? 1 : reps
                var times: [Conv2DAlgorithm: [Double]] = [:]
                let direct = try step(.direct)
                let lowered: [[Float]]
                do { lowered = try step(.im2col) } catch {
                    print([pad(kind.rawValue, 8), pad(s.label, 22), "  im2col unavailable here: \(error)"].joined(separator: " "))
                    continue
                }
                for _ in 0..<n {
                    for a in Conv2DAlgorithm.allCases {
                        let t0 = now()
                        _ = try step(a)
                        times[a, default: []].append(now() - t0)
                    }
                }
                // On a device, where the direct step's time goes, kernel by kernel (GPU timestamps).
                if kind == .vulkan {
                    let before = Dictionary(backend.kernelTimings.map { ($0.kernel, $0.totalNS) }, uniquingKeysWith: +)
                    _ = try step(.direct)
                    let spent = backend.kernelTimings.compactMap { t -> String? in
                        let d = t.totalNS - (before[t.kernel] ?? 0)
                        return d > 0 ? "\(t.kernel) \(String(format: "%.3f", d / 1e6)) ms" : nil
                    }
                    print("#   \(s.label) direct kernels: \(spent.joined(separator: ", "))")
                }
                let diff = zip(direct.joined(), lowered.joined()).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
                let d = median(times[.direct] ?? []) * 1e3, i = median(times[.im2col] ?? []) * 1e3
                print(
                    [
                        pad(kind.rawValue, 8), pad(s.label, 22), pad(String(format: "%.3f", d), 11), pad(String(format: "%.3f", i), 11),
                        pad(String(format: "%.2f×", i / d), 14), pad(String(format: "%.1e", diff), 10), "  \(n)",
                    ].joined(separator: " "))
            }
        }
    }
}
