import GPUFlowCompute
import GPUFlowCore

extension ImageAugmentation {
    /// The batch's rows (each `shape`'s floats), augmented in place with the draws of `step`.
    public func apply(_ rows: inout [Float], shape: [Int], seed: UInt64, step: Int) {
        guard shape.count == 3 else { return }
        let (c, h, w) = (shape[0], shape[1], shape[2])
        let size = c * h * w
        guard size > 0, rows.count % size == 0 else { return }
        var rng = Philox(seed: seed ^ 0x6175_676d_656e_7400 ^ (UInt64(step) &* 0x9E37_79B9_7F4A_7C15))
        let p = cropPadding
        var out = [Float](repeating: 0, count: size)
        for r in 0..<(rows.count / size) {
            let dy = p > 0 ? rng.below(2 * p + 1) - p : 0, dx = p > 0 ? rng.below(2 * p + 1) - p : 0
            let flip = horizontalFlip && rng.uniform() < 0.5
            let base = r * size
            for ci in 0..<c {
                for y in 0..<h {
                    let sy = y + dy
                    for x in 0..<w {
                        let sx0 = flip ? w - 1 - x : x
                        let sx = sx0 + dx
                        out[(ci * h + y) * w + x] = sy >= 0 && sy < h && sx >= 0 && sx < w ? rows[base + (ci * h + sy) * w + sx] : 0
                    }
                }
            }
            rows.replaceSubrange(base..<(base + size), with: out)
        }
    }
}
