import Foundation
import GPUFlowCompute
import GPUFlowCore

/// Layers for images ([rows, channels, height, width]), written with the core's ops so every
/// backend runs them and the tape differentiates them: a convolution is im2col (one gather of
/// the padded pixels with indices fixed when the layer is built) and a matmul; pooling is a
/// reshape into windows and a reduction.
extension GraphBuilder {
    /// The current value's channels, height and width, or an error naming the layer.
    fileprivate func image(_ layer: String) throws -> (c: Int, h: Int, w: Int) {
        let s = cursorShape
        guard s.count == 4 else {
            throw DataError("layer \(layer): takes samples of shape [channels, height, width], got \(Array(s.dropFirst()))")
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
        guard groups >= 1, c % groups == 0, outputs % groups == 0 else {
            throw DataError("layer \(layer): \(c) channels and \(outputs) outputs do not both split into \(groups) groups")
        }
        guard outputs > 0, kernel.0 > 0, kernel.1 > 0, stride.0 > 0, stride.1 > 0, padding.0 >= 0, padding.1 >= 0, dilation.0 > 0,
            dilation.1 > 0
        else { throw DataError("layer \(layer): outputs, kernel, stride and dilation must be at least 1, padding at least 0") }
        let spanH = dilation.0 * (kernel.0 - 1) + 1, spanW = dilation.1 * (kernel.1 - 1) + 1
        guard spanH <= h + 2 * padding.0, spanW <= w + 2 * padding.1 else {
            throw DataError(
                "layer \(layer): a \(kernel.0)×\(kernel.1) kernel (dilation \(dilation.0)×\(dilation.1)) is larger than its padded input \(h + 2 * padding.0)×\(w + 2 * padding.1)"
            )
        }
        let oh = (h + 2 * padding.0 - spanH) / stride.0 + 1, ow = (w + 2 * padding.1 - spanW) / stride.1 + 1
        let pixels = c * h * w, patch = c * kernel.0 * kernel.1
        let (entries, overflow) = (oh * ow).multipliedReportingOverflow(by: patch)
        // The gather's gradient is a scatter-add whose kernel loops over the indices: kept well
        // below lavapipe's 65,535-iteration cut; float indices stay exact below 2^24.
        guard !overflow, entries <= 60_000, pixels < 1 << 24 else {
            throw DataError(
                "layer \(layer): one sample's patches hold \(overflow ? "too many" : "\(entries)") values; this version takes at most 60,000 (a smaller image, kernel or channel count, or a stride)"
            )
        }
        try reserveWeights(patch, outputs / groups, layer: layer)
        // Row r of the table is pixel r (channel, y, x); row `pixels` is a zero, for the padding.
        var indices: [Float] = []
        indices.reserveCapacity(entries)
        for oy in 0..<oh {
            for ox in 0..<ow {
                for ci in 0..<c {
                    for ky in 0..<kernel.0 {
                        for kx in 0..<kernel.1 {
                            let y = oy * stride.0 - padding.0 + ky * dilation.0, x = ox * stride.1 - padding.1 + kx * dilation.1
                            indices.append(Float(y >= 0 && y < h && x >= 0 && x < w ? ci * h * w + y * w + x : pixels))
                        }
                    }
                }
            }
        }
        let flat = try addLayerNode(.reshape([-1, pixels]), [cursor], layer: layer)
        let columns = try addLayerNode(.permute([1, 0]), [flat], layer: layer)  // [pixels, rows]
        let first = try addLayerNode(.slice(axis: 0, start: 0, count: 1), [columns], layer: layer)
        let zero = try addLayerNode(.binary(.sub), [first, first], layer: layer)  // a row of zeros, any batch size
        let table = try addLayerNode(.concat(axis: 0), [columns, zero], layer: layer)
        let idx = addLayerParameter(layer, "im2col", shape: [entries], values: indices, buffer: true)
        let gathered = try addLayerNode(.gather, [table, idx], layer: layer)  // [entries, rows]
        let rows = try addLayerNode(.permute([1, 0]), [gathered], layer: layer)
        let patches = try addLayerNode(.reshape([-1, patch]), [rows], layer: layer)  // [rows·oh·ow, patch]
        let he: Bool
        switch activation {
        case .relu?, .leakyRelu?, .gelu?, .geluTanh?, .silu?: he = true
        default: he = false
        }
        // Fan-in and fan-out of one group, as PyTorch counts them.
        let fanIn = patch / groups, fanOut = outputs / groups
        let std = he ? (2 / Float(fanIn)).squareRoot() : (2 / Float(fanIn + fanOut)).squareRoot()
        var out: GraphModel.Source
        if groups == 1 {
            let weight = addLayerParameter(
                layer, "weight", shape: [patch, outputs], values: (0..<(patch * outputs)).map { _ in nextNormal() * std })
            out = try addLayerNode(.matmul(transA: false, transB: false), [patches, weight], layer: layer)
        } else {
            // A patch is channel-major, so group j's columns are one run: [R, g, patch/g] →
            // [g, R, patch/g] · [g, patch/g, outputs/g] → [R, g·outputs/g] in PyTorch's order.
            let weight = addLayerParameter(
                layer, "weight", shape: [groups, fanIn, fanOut], values: (0..<(patch * fanOut)).map { _ in nextNormal() * std })
            let split = try addLayerNode(.reshape([-1, groups, fanIn]), [patches], layer: layer)
            let byGroup = try addLayerNode(.permute([1, 0, 2]), [split], layer: layer)
            let products = try addLayerNode(.matmul(transA: false, transB: false), [byGroup, weight], layer: layer)
            let back = try addLayerNode(.permute([1, 0, 2]), [products], layer: layer)
            out = try addLayerNode(.reshape([-1, outputs]), [back], layer: layer)
        }
        if bias {
            let b = addLayerParameter(layer, "bias", shape: [outputs], values: [Float](repeating: 0, count: outputs))
            out = try addLayerNode(.binary(.add), [out, b], layer: layer)
        }
        let grid = try addLayerNode(.reshape([-1, oh, ow, outputs]), [out], layer: layer)
        try addLayerNode(.permute([0, 3, 1, 2]), [grid], layer: layer)
    }

    /// Max or average pooling over `kernel` windows with stride `kernel` (PyTorch's default);
    /// rows and columns past the last whole window are dropped, as PyTorch does.
    public mutating func pool2d(_ reduce: ReduceOp, kernel: (Int, Int), name given: String? = nil) throws {
        let layer = try layerName(reduce == .max ? "max_pool2d" : "avg_pool2d", given)
        let (c, h, w) = try image(layer)
        guard kernel.0 > 0, kernel.1 > 0 else { throw DataError("layer \(layer): kernel must be at least 1") }
        guard kernel.0 <= h, kernel.1 <= w else {
            throw DataError("layer \(layer): a \(kernel.0)×\(kernel.1) window is larger than its input \(h)×\(w)")
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
            throw DataError("layer \(layer): takes [features] or [channels, height, width] samples, got \(Array(s.dropFirst()))")
        }
        guard momentum >= 0 && momentum <= 1, epsilon > 0 else {
            throw DataError("layer \(layer): momentum must be in [0, 1] and eps above 0")
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
        let scaled = try addLayerNode(.binary(.mul), [normalized, try addLayerNode(.reshape(broadcastShape), [gamma], layer: layer)], layer: layer)
        try addLayerNode(.binary(.add), [scaled, try addLayerNode(.reshape(broadcastShape), [beta], layer: layer)], layer: layer)
    }
}
