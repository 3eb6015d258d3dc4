import Foundation
import GPUFlowCompute
import GPUFlowCore

/// Layers for images ([rows, channels, height, width]), written with the core's ops so every
/// backend runs them and the tape differentiates them: a convolution is the conv2d op (each
/// backend computes it directly or by im2col + GEMM, whichever `gpuflow-bench conv` measured
/// faster there); pooling is a reshape into windows and a reduction.
extension GraphBuilder {
    /// The current value's channels, height and width, or an error naming the layer.
    fileprivate func image(_ layer: String) throws -> (c: Int, h: Int, w: Int) {
        let s = cursorShape
        guard s.count == 4 else {
            throw MLError("layer \(layer): takes samples of shape [channels, height, width], got \(Array(s.dropFirst()))")
        }
        return (s[1], s[2], s[3])
    }

    /// 2-D convolution, PyTorch's `nn.Conv2d` (cross-correlation): weight [channels·kh·kw,
    /// outputs] (PyTorch's [outputs, channels, kh, kw], transposed), bias [outputs]. With
    /// `groups` g the channels and outputs are split into g groups, each output seeing only its
    /// group's channels (g = channels: depthwise): weight [g, channels/g·kh·kw, outputs/g].
    /// He-normal weights before a ReLU-like activation, Xavier otherwise.
    public mutating func conv2d(
        outputs: Int, kernel: (Int, Int), stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1),
        groups: Int = 1, bias: Bool = true, init activation: UnaryOp? = nil, name given: String? = nil
    ) throws {
        let layer = try layerName("conv2d", given)
        let (c, h, w) = try image(layer)
        let g: Conv2DGeometry
        do {
            g = try Conv2DGeometry(
                channels: c, height: h, width: w, outputs: outputs, kernel: kernel, stride: stride, padding: padding, dilation: dilation,
                groups: groups)
        } catch let e as BackendError {
            throw MLError("layer \(layer): \(e.message)")
        }
        // The device kernels loop over one window, and over kh·kw·outputs/groups for the
        // input's gradient: both kept below lavapipe's cut near 65,535 iterations.
        let window = g.groupPatch, fan = g.kernel[0] * g.kernel[1] * g.groupOutputs
        guard window <= 60_000, fan <= 60_000 else {
            throw MLError(
                "layer \(layer): a window of \(window) values and \(fan) (kh·kw·outputs/groups) per input pixel; this version takes at most 60,000 of each (fewer channels per group, or a smaller kernel)"
            )
        }
        try reserveWeights(g.groupPatch * groups, outputs / groups, layer: layer)
        let he: Bool
        switch activation {
        case .relu?, .leakyRelu?, .gelu?, .geluTanh?, .silu?: he = true
        default: he = false
        }
        // Fan-in and fan-out of one group, as PyTorch counts them.
        let fanIn = g.groupPatch, fanOut = g.groupOutputs
        let std = he ? (2 / Float(fanIn)).squareRoot() : (2 / Float(fanIn + fanOut)).squareRoot()
        let weight = addLayerParameter(
            layer, "weight", shape: g.weightShape, values: (0..<(g.weightShape.reduce(1, *))).map { _ in nextNormal() * std })
        let out = try addLayerNode(.conv2d(g), [cursor, weight], layer: layer)
        if bias {
            let b = addLayerParameter(layer, "bias", shape: [outputs], values: [Float](repeating: 0, count: outputs))
            let column = try addLayerNode(.reshape([outputs, 1, 1]), [b], layer: layer)
            try addLayerNode(.binary(.add), [out, column], layer: layer)
        }
    }

    /// Max or average pooling over `kernel` windows with stride `kernel` (PyTorch's default);
    /// rows and columns past the last whole window are dropped, as PyTorch does.
    public mutating func pool2d(_ reduce: ReduceOp, kernel: (Int, Int), name given: String? = nil) throws {
        let layer = try layerName(reduce == .max ? "max_pool2d" : "avg_pool2d", given)
        let (c, h, w) = try image(layer)
        guard kernel.0 > 0, kernel.1 > 0 else { throw MLError("layer \(layer): kernel must be at least 1") }
        guard kernel.0 <= h, kernel.1 <= w else {
            throw MLError("layer \(layer): a \(kernel.0)×\(kernel.1) window is larger than its input \(h)×\(w)")
        }
        let oh = h / kernel.0, ow = w / kernel.1
        var x = cursor
        if oh * kernel.0 < h { x = try addLayerNode(.slice(axis: 2, start: 0, count: oh * kernel.0), [x], layer: layer) }
        if ow * kernel.1 < w { x = try addLayerNode(.slice(axis: 3, start: 0, count: ow * kernel.1), [x], layer: layer) }
        let windows = try addLayerNode(.reshape([-1, c, oh, kernel.0, ow, kernel.1]), [x], layer: layer)
        let moved = try addLayerNode(.permute([0, 1, 2, 4, 3, 5]), [windows], layer: layer)
        let flat = try addLayerNode(.reshape([-1, c, oh, ow, kernel.0 * kernel.1]), [moved], layer: layer)
        let reduced = try addLayerNode(.reduce(reduce, axis: 4), [flat], layer: layer)
        try addLayerNode(.reshape([-1, c, oh, ow]), [reduced], layer: layer)
    }

    /// The mean of each channel over the image: [rows, C, H, W] → [rows, C].
    public mutating func globalAvgPool(name given: String? = nil) throws {
        let layer = try layerName("global_avg_pool", given)
        let (c, h, w) = try image(layer)
        let flat = try addLayerNode(.reshape([-1, c, h * w]), [cursor], layer: layer)
        let mean = try addLayerNode(.reduce(.mean, axis: 2), [flat], layer: layer)
        try addLayerNode(.reshape([-1, c]), [mean], layer: layer)
    }
}

extension GraphBuilder {
    /// Batch normalization over axis 1 (channels) of [rows, C] or [rows, C, H, W], PyTorch's
    /// `nn.BatchNorm1d/2d`: while training each channel is normalized by the batch's mean and
    /// (biased) variance over every other axis, and running averages of both (the variance
    /// unbiased) are kept in buffers saved with the model; at inference those are used.
    /// weight (γ) starts at 1, bias (β) at 0, running mean 0, running variance 1.
    public mutating func batchNorm(momentum: Float = 0.1, epsilon: Float = 1e-5, name given: String? = nil) throws {
        let layer = try layerName("batch_norm", given)
        let s = cursorShape
        guard s.count == 2 || s.count == 4 else {
            throw MLError("layer \(layer): takes [features] or [channels, height, width] samples, got \(Array(s.dropFirst()))")
        }
        guard momentum >= 0 && momentum <= 1, epsilon > 0 else {
            throw MLError("layer \(layer): momentum must be in [0, 1] and eps above 0")
        }
        let c = s[1]
        let x = cursor
        let perm = [1, 0] + Array(2..<s.count)
        let broadcastShape = [1, c] + [Int](repeating: 1, count: s.count - 2)
        /// Per channel, the mean over the batch and the other axes of `v` ([rows, C, …]).
        func channelMean(_ v: GraphModel.Source, running: GraphModel.RunningStatistic) throws -> GraphModel.Source {
            let moved = try addLayerNode(.permute(perm), [v], layer: layer)
            let rows = try addLayerNode(.reshape([c, -1]), [moved], layer: layer)
            let m = try addLayerNode(.reduce(.mean, axis: 1), [rows], layer: layer)
            return try addLayerNode(.reshape([c]), [m], layer: layer, running: running)
        }
        let runningMean = addLayerParameter(layer, "running_mean", shape: [c], values: [Float](repeating: 0, count: c), buffer: true)
        let runningVar = addLayerParameter(layer, "running_var", shape: [c], values: [Float](repeating: 1, count: c), buffer: true)
        guard case .parameter(let meanName) = runningMean, case .parameter(let varName) = runningVar else { return }
        let mean = try channelMean(x, running: .init(parameter: meanName, momentum: momentum, unbiased: false))
        let mean4 = try addLayerNode(.reshape(broadcastShape), [mean], layer: layer)
        let centered = try addLayerNode(.binary(.sub), [x, mean4], layer: layer)
        let squared = try addLayerNode(.unary(.square), [centered], layer: layer)
        let variance = try channelMean(squared, running: .init(parameter: varName, momentum: momentum, unbiased: true))
        let shifted = try addLayerNode(.unary(.add(epsilon)), [variance], layer: layer)
        let rstd = try addLayerNode(.unary(.reciprocal), [try addLayerNode(.unary(.sqrt), [shifted], layer: layer)], layer: layer)
        let rstd4 = try addLayerNode(.reshape(broadcastShape), [rstd], layer: layer)
        let normalized = try addLayerNode(.binary(.mul), [centered, rstd4], layer: layer)
        let gamma = addLayerParameter(layer, "weight", shape: [c], values: [Float](repeating: 1, count: c))
        let beta = addLayerParameter(layer, "bias", shape: [c], values: [Float](repeating: 0, count: c))
        let scaled = try addLayerNode(
            .binary(.mul), [normalized, try addLayerNode(.reshape(broadcastShape), [gamma], layer: layer)], layer: layer)
        try addLayerNode(.binary(.add), [scaled, try addLayerNode(.reshape(broadcastShape), [beta], layer: layer)], layer: layer)
    }
}
