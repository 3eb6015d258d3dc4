/// A 2-D convolution's arguments (PyTorch's `nn.Conv2d`) together with the input image's size,
/// so that one value fixes every shape of the three convolution ops and of their im2col
/// lowering. The weight is laid out [channels·kh·kw, outputs] (PyTorch's [outputs, channels,
/// kh, kw], transposed: a patch row times the weight is a GEMM with no transpose) or, with
/// `groups` g > 1, [g, channels/g·kh·kw, outputs/g].
public struct Conv2DGeometry: Hashable, Codable, Sendable {
    public let channels: Int, height: Int, width: Int
    public let outputs: Int
    public let kernel: [Int], stride: [Int], padding: [Int], dilation: [Int]
    public let groups: Int

    /// Checks what no backend could run: sizes below 1, groups that do not divide, a kernel
    /// larger than the padded input. The message is the layer's to prefix.
    public init(
        channels: Int, height: Int, width: Int, outputs: Int, kernel: (Int, Int), stride: (Int, Int) = (1, 1),
        padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1
    ) throws {
        // Far past any image and any kernel, and small enough that no product of them
        // overflows (a script's 2^62 dilation is refused, not trapped on).
        let limit = 1 << 20
        guard [channels, height, width, outputs, groups].allSatisfy({ $0 <= limit }),
            [kernel.0, kernel.1, stride.0, stride.1, padding.0, padding.1, dilation.0, dilation.1].allSatisfy({ $0 <= 1 << 16 })
        else {
            throw BackendError(
                .shapeMismatch, "sizes past 2^20 (channels, image, outputs, groups) or 2^16 (kernel, stride, padding, dilation)")
        }
        guard channels > 0, height > 0, width > 0 else {
            throw BackendError(.shapeMismatch, "an empty input \(channels)×\(height)×\(width)")
        }
        guard groups >= 1, channels % groups == 0, outputs % groups == 0 else {
            throw BackendError(.shapeMismatch, "\(channels) channels and \(outputs) outputs do not both split into \(groups) groups")
        }
        guard outputs > 0, kernel.0 > 0, kernel.1 > 0, stride.0 > 0, stride.1 > 0, padding.0 >= 0, padding.1 >= 0, dilation.0 > 0,
            dilation.1 > 0
        else { throw BackendError(.shapeMismatch, "outputs, kernel, stride and dilation must be at least 1, padding at least 0") }
        self.channels = channels
        self.height = height
        self.width = width
        self.outputs = outputs
        self.kernel = [kernel.0, kernel.1]
        self.stride = [stride.0, stride.1]
        self.padding = [padding.0, padding.1]
        self.dilation = [dilation.0, dilation.1]
        self.groups = groups
        let span = spans
        guard span.0 <= height + 2 * padding.0, span.1 <= width + 2 * padding.1 else {
            throw BackendError(
                .shapeMismatch,
                "a \(kernel.0)×\(kernel.1) kernel (dilation \(dilation.0)×\(dilation.1)) is larger than its padded input \(height + 2 * padding.0)×\(width + 2 * padding.1)"
            )
        }
        // One sample's image and output at most 2^24 values (64 MiB, as data.images caps a
        // picture), the weight 2^40: a padding of 65,536 around 8×8 digits asked for 1.7e10
        // outputs per sample, allocated on the host before any memory limit could refuse it.
        func count(_ v: [Int]) -> Int { v.reduce(1) { a, b in a > 1 << 40 ? a : a * b } }
        let image = count([channels, height, width]), out = count([outputs, outHeight, outWidth])
        guard image <= 1 << 24, out <= 1 << 24, count([channels, kernel.0, kernel.1, outputs / groups]) <= 1 << 40 else {
            throw BackendError(
                .shapeMismatch,
                "one sample's image (\(image) values) or output (\(out)) passes 2^24 values, or the weight passes 2^40"
            )
        }
    }

    private enum CodingKeys: String, CodingKey { case channels, height, width, outputs, kernel, stride, padding, dilation, groups }

    /// A model file's geometry passes the same checks as a layer being built: a file with 0
    /// groups or a negative stride is refused when read, not divided by.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func pair(_ key: CodingKeys) throws -> (Int, Int) {
            let v = try c.decode([Int].self, forKey: key)
            guard v.count == 2 else {
                throw DecodingError.dataCorruptedError(
                    forKey: key, in: c, debugDescription: "conv2d \(key.stringValue) needs 2 values, got \(v)")
            }
            return (v[0], v[1])
        }
        let sizes = try [CodingKeys.channels, .height, .width, .outputs, .groups].map { try c.decode(Int.self, forKey: $0) }
        let k = try pair(.kernel), s = try pair(.stride), p = try pair(.padding), d = try pair(.dilation)
        do {
            try self.init(
                channels: sizes[0], height: sizes[1], width: sizes[2], outputs: sizes[3], kernel: k, stride: s, padding: p, dilation: d,
                groups: sizes[4])
        } catch let e as BackendError {
            throw DecodingError.dataCorruptedError(forKey: .groups, in: c, debugDescription: "conv2d: \(e.message)")
        }
    }

    /// The extent a dilated kernel covers.
    var spans: (Int, Int) { (dilation[0] * (kernel[0] - 1) + 1, dilation[1] * (kernel[1] - 1) + 1) }
    public var outHeight: Int { (height + 2 * padding[0] - spans.0) / stride[0] + 1 }
    public var outWidth: Int { (width + 2 * padding[1] - spans.1) / stride[1] + 1 }
    public var groupChannels: Int { channels / groups }
    public var groupOutputs: Int { outputs / groups }
    /// One group's patch: the values one output reads (channels/g · kh · kw).
    public var groupPatch: Int { groupChannels * kernel[0] * kernel[1] }
    public var weightShape: [Int] { groups == 1 ? [groupPatch, outputs] : [groups, groupPatch, groupOutputs] }
    public var inputShape: [Int] { [channels, height, width] }
    public var outputShape: [Int] { [outputs, outHeight, outWidth] }

    /// The input pixel (channel, y, x) flattened, that output position (oy, ox) reads for patch
    /// entry (ci, ky, kx) of the whole image's patch, or nil where it reads the padding.
    @inline(__always) public func pixel(oy: Int, ox: Int, ci: Int, ky: Int, kx: Int) -> Int? {
        let y = oy * stride[0] - padding[0] + ky * dilation[0], x = ox * stride[1] - padding[1] + kx * dilation[1]
        guard y >= 0, y < height, x >= 0, x < width else { return nil }
        return (ci * height + y) * width + x
    }

    /// The im2col table: for each output position and each entry of the full patch (channel-
    /// major, then ky, kx), the pixel it reads, or `channels·height·width` (a zero row) for the
    /// padding. As floats: the gather op's indices.
    public var im2colIndices: [Float] {
        let pixels = channels * height * width
        var out: [Float] = []
        out.reserveCapacity(outHeight * outWidth * channels * kernel[0] * kernel[1])
        for oy in 0..<outHeight {
            for ox in 0..<outWidth {
                for ci in 0..<channels {
                    for ky in 0..<kernel[0] {
                        for kx in 0..<kernel[1] { out.append(Float(pixel(oy: oy, ox: ox, ci: ci, ky: ky, kx: kx) ?? pixels)) }
                    }
                }
            }
        }
        return out
    }

    /// "3×3 s1 p1" and so on, for op names and messages.
    public var summary: String {
        var s = "\(channels)→\(outputs) \(kernel[0])×\(kernel[1])"
        if stride != [1, 1] { s += " s\(stride[0])×\(stride[1])" }
        if padding != [0, 0] { s += " p\(padding[0])×\(padding[1])" }
        if dilation != [1, 1] { s += " d\(dilation[0])×\(dilation[1])" }
        if groups != 1 { s += " g\(groups)" }
        return s + " on \(height)×\(width)"
    }
}

/// How a backend computes a convolution: loops over the kernel window per output (direct), or
/// the patches gathered into a matrix and multiplied by the weight (im2col + GEMM). Each
/// backend takes the one `gpuflow-bench conv` measured faster on it (README, "Convolution").
public enum Conv2DAlgorithm: String, Sendable, CaseIterable {
    case direct, im2col
}
