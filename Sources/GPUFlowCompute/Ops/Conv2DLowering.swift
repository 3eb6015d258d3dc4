/// The convolution ops as im2col + GEMM written with the core's other ops (gather, matmul,
/// permute, scatter-add), so any backend runs them with the kernels it already has: the
/// patches of every output position are gathered into a [rows·OH·OW, patch] matrix (the batch
/// rides along as the gather's row width, so the index table is one sample's) and multiplied by
/// the weight; the gradients are that matrix's transpose times dy, and dy times the weight's
/// transpose scattered back onto the pixels.
public enum Conv2DLowering {
    /// One sample's patch values (the index table's length), or nil past 2^28 (a table of
    /// 1 GiB), where a backend convolves directly instead. Pixel indices, stored as floats,
    /// are exact: an image holds under 2^24 values.
    public static func tableSize(_ g: Conv2DGeometry) -> Int? {
        let (entries, overflow) = (g.outHeight * g.outWidth).multipliedReportingOverflow(by: g.groupPatch * g.groups)
        return !overflow && entries <= 1 << 28 ? entries : nil
    }

    public static func run(_ op: Op, _ inputs: [Tensor], on b: Backend) throws -> [Tensor] {
        guard let g = op.convolution else { throw BackendError(.unsupported, "\(op.name) is not a convolution") }
        let shapes = try op.outputShapes(inputs.map(\.shape))
        func one(_ op: Op, _ t: Tensor...) throws -> Tensor { try b.run(op, t)[0] }
        let pixels = g.channels * g.height * g.width, positions = g.outHeight * g.outWidth
        let patch = g.groupPatch * g.groups
        guard let entries = tableSize(g) else {
            throw BackendError(.unsupported, "\(op.name) by im2col: one sample's patches pass 2^28 values (\(g.summary))")
        }
        let rows = inputs[0].shape[0]
        let idx = try b.tensor(g.im2colIndices, shape: [entries])
        // [rows·OH·OW, patch]: every output position's window, channel-major.
        func patches(_ x: Tensor) throws -> Tensor {
            let columns = try one(.permute([1, 0]), x.view(shape: [rows, pixels]))
            let table = try one(.concat(axis: 0), columns, try b.zeros(shape: [1, rows]))
            let gathered = try one(.gather, table, idx)
            return try one(.permute([1, 0]), gathered).view(shape: [rows * positions, patch])
        }
        // dy [rows, O, OH, OW] as [rows·OH·OW, O].
        func outputRows(_ dy: Tensor) throws -> Tensor {
            try one(.permute([0, 2, 3, 1]), dy).view(shape: [rows * positions, g.outputs])
        }
        // [R, g·k] ↔ [g, R, k]: a group's columns are one run of a patch or an output row.
        func byGroup(_ t: Tensor, _ k: Int) throws -> Tensor {
            try one(.permute([1, 0, 2]), t.view(shape: [rows * positions, g.groups, k]))
        }
        func fromGroups(_ t: Tensor, _ k: Int) throws -> Tensor {
            try one(.permute([1, 0, 2]), t).view(shape: [rows * positions, g.groups * k])
        }
        switch op {
        case .conv2d:
            let p = try patches(inputs[0]), w = inputs[1]
            let out =
                g.groups == 1
                ? try one(.matmul(transA: false, transB: false), p, w)
                : try fromGroups(try one(.matmul(transA: false, transB: false), try byGroup(p, g.groupPatch), w), g.groupOutputs)
            return [try one(.permute([0, 3, 1, 2]), out.view(shape: [rows, g.outHeight, g.outWidth, g.outputs]))]
        case .conv2dGradWeight:
            let p = try patches(inputs[0]), dy = try outputRows(inputs[1])
            if g.groups == 1 { return [try one(.matmul(transA: true, transB: false), p, dy)] }
            return [try one(.matmul(transA: true, transB: false), try byGroup(p, g.groupPatch), try byGroup(dy, g.groupOutputs))]
        default:
            let dy = try outputRows(inputs[0]), w = inputs[1]
            let columns =
                g.groups == 1
                ? try one(.matmul(transA: false, transB: true), dy, w)
                : try fromGroups(try one(.matmul(transA: false, transB: true), try byGroup(dy, g.groupOutputs), w), g.groupPatch)
            let entriesByRow = try one(.permute([1, 0]), columns.view(shape: [rows, entries]))
            let table = try one(.scatterAdd(rows: pixels + 1), entriesByRow, idx)
            let image = try one(.slice(axis: 0, start: 0, count: pixels), table)
            return [try one(.permute([1, 0]), image).view(shape: shapes[0])]
        }
    }
}
