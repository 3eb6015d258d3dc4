/// The reference's strided walks (broadcast, permute, a broadcast binary op, the sum of a
/// broadcast), written as an odometer over the outer axes with a tight loop along the last:
/// the same elements in the same order as computing every offset from its flat index, without
/// a division per axis per element (which made these walks most of a small transformer's step).
enum StridedLoops {
    /// Calls `row(base, position)` for every run of the last axis of `shape`, in order: `base`
    /// is the source offset of the run's first element under strides `st`, `position` the
    /// flat index of that element.
    @inline(__always)
    static func forEachRow(_ shape: [Int], _ st: [Int], _ row: (Int, Int) -> Void) {
        let count = Shapes.count(shape)
        guard count > 0 else { return }
        guard let inner = shape.last else { return row(0, 0) }
        let rank = shape.count
        var index = [Int](repeating: 0, count: rank)
        var base = 0, position = 0
        while position < count {
            row(base, position)
            position += inner
            var a = rank - 2
            while a >= 0 {
                index[a] += 1
                base += st[a]
                if index[a] < shape[a] { break }
                base -= st[a] * shape[a]
                index[a] = 0
                a -= 1
            }
        }
    }

    /// out[i] = src[offset of i under `st`], for every flat index i of `shape`.
    static func gather(_ src: [Float], shape: [Int], st: [Int]) -> [Float] {
        let count = Shapes.count(shape)
        var out = [Float](repeating: 0, count: count)
        guard count > 0 else { return out }
        let inner = shape.last ?? 1, step = st.last ?? 0
        src.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { o in
                forEachRow(shape, st) { base, p in
                    if step == 1 {
                        for j in 0..<inner { o[p + j] = s[base + j] }
                    } else {
                        for j in 0..<inner { o[p + j] = s[base + j * step] }
                    }
                }
            }
        }
        return out
    }

    /// out[offset of i under `st`] += src[i] for every flat index i of `shape`, in index order
    /// (so the sums are those of the one-element-at-a-time loop, bit for bit).
    static func accumulate(_ src: [Float], shape: [Int], st: [Int], into out: inout [Float]) {
        guard Shapes.count(shape) > 0 else { return }
        let inner = shape.last ?? 1, step = st.last ?? 0
        src.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { o in
                forEachRow(shape, st) { base, p in
                    for j in 0..<inner { o[base + j * step] += s[p + j] }
                }
            }
        }
    }

    /// f(a[offset under sa], b[offset under sb]) for every flat index of `shape`.
    static func binary(_ a: [Float], _ sa: [Int], _ b: [Float], _ sb: [Int], shape: [Int], _ f: (Float, Float) -> Float) -> [Float] {
        let count = Shapes.count(shape)
        var out = [Float](repeating: 0, count: count)
        guard count > 0 else { return out }
        let rank = shape.count
        guard rank > 0 else { return [f(a[0], b[0])] }
        let inner = shape[rank - 1], stepA = sa[rank - 1], stepB = sb[rank - 1]
        var index = [Int](repeating: 0, count: rank)
        var baseA = 0, baseB = 0, p = 0
        a.withUnsafeBufferPointer { x in
            b.withUnsafeBufferPointer { y in
                out.withUnsafeMutableBufferPointer { o in
                    while p < count {
                        for j in 0..<inner { o[p + j] = f(x[baseA + j * stepA], y[baseB + j * stepB]) }
                        p += inner
                        var d = rank - 2
                        while d >= 0 {
                            index[d] += 1
                            baseA += sa[d]
                            baseB += sb[d]
                            if index[d] < shape[d] { break }
                            baseA -= sa[d] * shape[d]
                            baseB -= sb[d] * shape[d]
                            index[d] = 0
                            d -= 1
                        }
                    }
                }
            }
        }
        return out
    }
}
