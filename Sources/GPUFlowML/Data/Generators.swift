import GPUFlowCompute

/// Seeded synthetic data sets, for tests and for examples that must run without files.
public enum Generators {
    /// Gaussian blobs: `centers` classes around centres drawn in [-spread·2, spread·2]^features.
    public static func blobs(samples: Int, features: Int, centers: Int, spread: Float = 1.0, seed: UInt64) throws -> Dataset {
        guard samples > 0, features > 0, centers > 1 else {
            throw DataError("blobs: samples and features must be positive and centers at least 2")
        }
        var rng = Philox(seed: seed)
        let c = (0..<(centers * features)).map { _ in (rng.uniform() * 4 - 2) * 2.5 }
        var x: [Float] = []
        var y: [Float] = []
        for i in 0..<samples {
            let k = i % centers
            for f in 0..<features { x.append(c[k * features + f] + rng.normal() * spread) }
            y.append(Float(k))
        }
        return Dataset(
            features: x, rows: samples, cols: features, labels: y,
            source: "blobs(samples=\(samples), features=\(features), centers=\(centers), seed=\(seed))")
    }

    /// Interleaved 2-D spirals, a classic set that a linear model cannot separate.
    public static func spirals(samples: Int, classes: Int, noise: Float = 0.1, seed: UInt64) throws -> Dataset {
        guard samples > 0, classes > 1 else { throw DataError("spirals: samples must be positive and classes at least 2") }
        var rng = Philox(seed: seed)
        var x: [Float] = []
        var y: [Float] = []
        for i in 0..<samples {
            let k = i % classes
            let t = Float(i / classes) / Float(max(1, samples / classes))
            let r = t
            let angle = Float(k) * 2 * .pi / Float(classes) + t * 4 + rng.normal() * noise
            x.append(r * cosf(angle))
            x.append(r * sinf(angle))
            y.append(Float(k))
        }
        return Dataset(
            features: x, rows: samples, cols: 2, labels: y,
            source: "spirals(samples=\(samples), classes=\(classes), seed=\(seed))")
    }
}

#if canImport(Glibc)
    import Glibc
#endif
