/// Row-major shape arithmetic shared by the shape rules, the CPU reference and the kernels'
/// push constants.
public enum Shapes {
    public static func count(_ s: [Int]) -> Int { s.reduce(1, *) }

    /// Element strides of a row-major shape.
    public static func strides(_ s: [Int]) -> [Int] {
        var out = [Int](repeating: 1, count: s.count)
        var acc = 1
        for i in stride(from: s.count - 1, through: 0, by: -1) {
            out[i] = acc
            acc *= s[i]
        }
        return out
    }

    /// The shape two shapes broadcast to, or nil when an axis differs and neither is 1.
    public static func broadcast(_ a: [Int], _ b: [Int]) -> [Int]? {
        let n = max(a.count, b.count)
        var out = [Int](repeating: 1, count: n)
        for i in 0..<n {
            let x = i < n - a.count ? 1 : a[i - (n - a.count)]
            let y = i < n - b.count ? 1 : b[i - (n - b.count)]
            guard x == y || x == 1 || y == 1 else { return nil }
            out[i] = x == 1 ? y : x
        }
        return out
    }

    /// Strides that read `shape` as if stretched to `target` (0 along broadcast axes).
    public static func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
        let own = strides(shape)
        let lead = target.count - shape.count
        return (0..<target.count).map { i in
            i < lead ? 0 : (shape[i - lead] == 1 && target[i] != 1 ? 0 : own[i - lead])
        }
    }

    /// An axis that may count from the end (-1: the last), checked against the rank.
    public static func axis(_ axis: Int, rank: Int, _ op: String) throws -> Int {
        let a = axis < 0 ? axis + rank : axis
        guard a >= 0 && a < rank else { throw BackendError(.shapeMismatch, "\(op): axis \(axis) is out of range for rank \(rank)") }
        return a
    }

    /// (outer, length, inner) around `axis`: the loops an axis operation runs.
    public static func around(_ s: [Int], axis: Int) -> (outer: Int, length: Int, inner: Int) {
        (count(Array(s[..<axis])), s[axis], count(Array(s[(axis + 1)...])))
    }

    /// The coordinates of flat index `i` in `shape`.
    static func coordinates(_ i: Int, _ shape: [Int]) -> [Int] {
        var rest = i
        var c = [Int](repeating: 0, count: shape.count)
        for a in stride(from: shape.count - 1, through: 0, by: -1) where shape[a] > 0 {
            c[a] = rest % shape[a]
            rest /= shape[a]
        }
        return c
    }
}
