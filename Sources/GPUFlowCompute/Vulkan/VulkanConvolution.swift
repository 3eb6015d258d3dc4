/// The convolution ops as direct Vulkan kernels (Shaders/conv2d.comp, conv2d_grad_input.comp,
/// conv2d_grad_weight.comp): one dispatch each, where im2col + GEMM records about ten (the
/// gather, the permutes, the GEMM and, for the input's gradient, a scatter-add whose loop
/// bounds one sample's patches). The weight's gradient is summed in partial sums over chunks
/// of output positions, then over the chunks (column_sum.comp), so no invocation loops past
/// lavapipe's cut.
extension VulkanBackend {
    public func convolveDirect(_ op: Op, _ inputs: [Tensor]) throws -> [Tensor] {
        guard let g = op.convolution else { throw BackendError(.unsupported, "\(op.name) is not a convolution") }
        let shape = try op.outputShapes(inputs.map(\.shape))[0]
        let rows = inputs[0].shape[0], positions = rows * g.outHeight * g.outWidth
        func push(count: Int, chunk: Int = 0) -> [UInt32] {
            [
                count, rows, g.channels, g.height, g.width, g.outputs, g.outHeight, g.outWidth, g.kernel[0], g.kernel[1], g.stride[0],
                g.stride[1], g.padding[0], g.padding[1], g.dilation[0], g.dilation[1], g.groups, chunk,
            ].map(u)
        }
        let y = try zeros(shape: shape)
        switch op {
        case .conv2d:
            try loop(g.groupPatch, op.name, "a window of channels/groups · kh · kw")
            try dispatch(.conv2d, [inputs[0], inputs[1], y], push(count: y.count), count: y.count)
            return [y]
        case .conv2dGradInput:
            try loop(g.kernel[0] * g.kernel[1] * g.groupOutputs, op.name, "kh · kw · outputs/groups")
            try dispatch(.conv2dGradInput, [inputs[0], inputs[1], y], push(count: y.count), count: y.count)
            return [y]
        default:
            let entries = y.count
            guard positions > 0 else { return [y] }
            // Enough partial sums to fill a device (about 16k invocations), none longer than
            // the loop cut, none shorter than 64 positions.
            var chunks = min(max(1, 16_384 / max(entries, 1)), max(1, positions / 64))
            chunks = max(chunks, (positions + Self.maxLoop - 1) / Self.maxLoop)
            let chunk = (positions + chunks - 1) / chunks
            chunks = (positions + chunk - 1) / chunk
            if chunks == 1 {
                try dispatch(.conv2dGradWeight, [inputs[0], inputs[1], y], push(count: entries, chunk: chunk), count: entries)
                return [y]
            }
            let partial = try zeros(shape: [chunks, entries])
            try dispatch(
                .conv2dGradWeight, [inputs[0], inputs[1], partial], push(count: chunks * entries, chunk: chunk), count: chunks * entries)
            // One invocation per weight entry over the chunks (reduce_axis's workgroup per
            // output cost lavapipe 41 ms of a 63 ms step on cnn_digits' second layer).
            try columnSum(partial, rows: chunks, cols: entries, y)
            return [y]
        }
    }
}
