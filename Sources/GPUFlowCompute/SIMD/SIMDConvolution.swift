import CVectorKernels

/// The SIMD backend's direct convolution: CVectorKernels/conv2d.c, built for the CPU's widest
/// vectors, on the host arrays in place.
extension SIMDBackend {
    public func convolveDirect(_ op: Op, _ inputs: [Tensor]) throws -> [Tensor] {
        guard let g = op.convolution else { throw BackendError(.unsupported, "\(op.name) is not a convolution") }
        let shape = try op.outputShapes(inputs.map(\.shape))[0]
        let a = try read(inputs[0]), b = try read(inputs[1])
        var geometry = gf_conv2d(
            rows: inputs[0].shape[0], channels: g.channels, height: g.height, width: g.width, outputs: g.outputs, kh: g.kernel[0],
            kw: g.kernel[1], sh: g.stride[0], sw: g.stride[1], ph: g.padding[0], pw: g.padding[1], dh: g.dilation[0], dw: g.dilation[1],
            groups: g.groups)
        var status: Int32 = 0
        let out = [Float](unsafeUninitializedCapacity: shape.reduce(1, *)) { y, count in
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    switch op {
                    case .conv2d: status = gf_conv2d_forward(&geometry, pa.baseAddress, pb.baseAddress, y.baseAddress)
                    case .conv2dGradInput: status = gf_conv2d_grad_input(&geometry, pa.baseAddress, pb.baseAddress, y.baseAddress)
                    default: status = gf_conv2d_grad_weight(&geometry, pa.baseAddress, pb.baseAddress, y.baseAddress)
                    }
                }
            }
            count = status == 0 ? y.count : 0
        }
        guard status == 0 else { throw BackendError(.outOfMemory, "\(op.name): no memory for a row of \(g.groupOutputs) outputs") }
        return [try tensor(out, shape: shape)]
    }
}
