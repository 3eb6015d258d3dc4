/// The convolution ops as the plainest loops over the definition (each output the sum of its
/// window times the weight), which every backend and both algorithms are tested against.
/// Index conventions: x [rows, C, H, W], y [rows, O, OH, OW], weight entry (group j, patch
/// entry p = (ci·kh + ky)·kw + kx of the group's channels, output o of the group) at
/// (j·groupPatch + p)·groupOutputs + o.
extension ReferenceOps {
    /// Calls `body(y, x, w)` — the flat indices of an output, the input pixel and the weight
    /// entry it multiplies — for every such pairing (padding skipped): the one loop nest the
    /// forward and both gradients share, so they cannot disagree on which pixel meets which weight.
    static func forEachProduct(_ g: Conv2DGeometry, rows: Int, _ body: (_ y: Int, _ x: Int, _ w: Int) -> Void) {
        let oh = g.outHeight, ow = g.outWidth, kh = g.kernel[0], kw = g.kernel[1]
        let cg = g.groupChannels, og = g.groupOutputs, hw = g.height * g.width
        for n in 0..<rows {
            for o in 0..<g.outputs {
                let j = o / og, ol = o % og
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        let yi = ((n * g.outputs + o) * oh + oy) * ow + ox
                        for cl in 0..<cg {
                            let c = j * cg + cl
                            for ky in 0..<kh {
                                for kx in 0..<kw {
                                    guard let p = g.pixel(oy: oy, ox: ox, ci: c, ky: ky, kx: kx) else { continue }
                                    let wi = (j * g.groupPatch + (cl * kh + ky) * kw + kx) * og + ol
                                    body(yi, n * g.channels * hw + p, wi)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    static func conv2d(_ g: Conv2DGeometry, x: [Float], weight: [Float], rows: Int) -> [Float] {
        var y = [Float](repeating: 0, count: rows * g.outputShape.reduce(1, *))
        forEachProduct(g, rows: rows) { yi, xi, wi in y[yi] += x[xi] * weight[wi] }
        return y
    }

    static func conv2dGradInput(_ g: Conv2DGeometry, dy: [Float], weight: [Float], rows: Int) -> [Float] {
        var dx = [Float](repeating: 0, count: rows * g.inputShape.reduce(1, *))
        forEachProduct(g, rows: rows) { yi, xi, wi in dx[xi] += dy[yi] * weight[wi] }
        return dx
    }

    static func conv2dGradWeight(_ g: Conv2DGeometry, x: [Float], dy: [Float], rows: Int) -> [Float] {
        var dw = [Float](repeating: 0, count: g.weightShape.reduce(1, *))
        forEachProduct(g, rows: rows) { yi, xi, wi in dw[wi] += x[xi] * dy[yi] }
        return dw
    }
}
