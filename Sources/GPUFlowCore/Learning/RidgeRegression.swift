import Foundation

/// Ridge regression on standardised features, solved in closed form (the systems are a few
/// features wide). Durations and memory span orders of magnitude, so callers fit it on logs.
public struct RidgeRegression: Sendable, Equatable {
    public let featureNames: [String]
    let means: [Double]
    let scales: [Double]
    let weights: [Double]
    let intercept: Double

    /// nil when there are fewer rows than two, or the system is singular even with the penalty.
    public init?(x: [[Double]], y: [Double], featureNames: [String], lambda: Double = 1e-2) {
        let n = x.count, d = featureNames.count
        guard n >= 2, y.count == n, x.allSatisfy({ $0.count == d }) else { return nil }
        var means = [Double](repeating: 0, count: d), scales = [Double](repeating: 1, count: d)
        for j in 0..<d {
            let col = x.map { $0[j] }
            let m = col.reduce(0, +) / Double(n)
            let v = col.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(n)
            means[j] = m
            scales[j] = v > 1e-12 ? v.squareRoot() : 1
        }
        let ym = y.reduce(0, +) / Double(n)
        // Normal equations (ZᵀZ + λnI) w = Zᵀ(y − ȳ) on standardised Z; the intercept is ȳ.
        var a = [[Double]](repeating: [Double](repeating: 0, count: d + 1), count: d)
        for row in 0..<n {
            let z = (0..<d).map { (x[row][$0] - means[$0]) / scales[$0] }
            for i in 0..<d {
                for j in 0..<d { a[i][j] += z[i] * z[j] }
                a[i][d] += z[i] * (y[row] - ym)
            }
        }
        for i in 0..<d { a[i][i] += lambda * Double(n) }
        guard let w = Self.solve(&a) else { return nil }
        self.featureNames = featureNames
        self.means = means
        self.scales = scales
        self.weights = w
        self.intercept = ym
    }

    public func predict(_ x: [Double]) -> Double {
        var s = intercept
        for j in weights.indices where j < x.count { s += weights[j] * (x[j] - means[j]) / scales[j] }
        return s
    }

    /// Gaussian elimination with partial pivoting on an augmented d×(d+1) matrix.
    static func solve(_ a: inout [[Double]]) -> [Double]? {
        let d = a.count
        for c in 0..<d {
            guard let p = (c..<d).max(by: { abs(a[$0][c]) < abs(a[$1][c]) }), abs(a[p][c]) > 1e-12 else { return nil }
            a.swapAt(c, p)
            for r in 0..<d where r != c {
                let f = a[r][c] / a[c][c]
                if f == 0 { continue }
                for k in c...d { a[r][k] -= f * a[c][k] }
            }
        }
        return (0..<d).map { a[$0][d] / a[$0][$0] }
    }
}
