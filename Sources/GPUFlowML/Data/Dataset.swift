import Foundation
import GPUFlowCompute
import GPUFlowCore

/// Samples of float features, each of a shape of its own (a row of a table: [features]; an
/// image: [channels, height, width]) stored flat, with one label per row or several targets
/// per row (multi-label classification, multi-output regression). Immutable: transformations
/// return a new data set, so a task can share it with others without copying or locking.
public final class Dataset: TaskObject, @unchecked Sendable {
    public let kind = "dataset"
    /// A hash of the content, computed when first asked for (records, the model cache, a
    /// script's `ds.id`): loading a large file need not pay for a pass nobody uses.
    public var objectID: String {
        id.get {
            "data-"
                + (targets == nil && sampleShape == [cols]
                    ? Fingerprint.hex(features, labels)
                    : vocabulary.map { v in
                        Fingerprint.hex(
                            features, labels, targets ?? [], sampleShape.map(Float.init),
                            v.tokens.flatMap { $0.unicodeScalars.map { Float($0.value) } + [-1] })
                    } ?? Fingerprint.hex(features, labels, targets ?? [], sampleShape.map(Float.init)))
        }
    }
    private let id = OnceCell<String>()
    /// rows × cols, row-major.
    public let features: [Float]
    public let rows: Int
    /// Floats per sample: the product of `sampleShape`.
    public let cols: Int
    /// One sample's shape; [cols] for a table's rows.
    public let sampleShape: [Int]
    /// Class index (as a float) or regression target, one per row (with `targets`: the first).
    public let labels: [Float]
    /// rows × targetWidth, row-major, when a row has several targets; nil when it has one label.
    public let targets: [Float]?
    /// Targets per row.
    public var targetWidth: Int { targets.map { rows > 0 ? $0.count / rows : 0 } ?? 1 }
    public let featureNames: [String]
    public let labelName: String
    /// Names of the classes when the label column held text, in index order; empty otherwise.
    public let classNames: [String]
    /// The feature columns that held text, with their code tables; empty for numeric data.
    public let categories: [CategoricalColumn]
    /// Where the rows came from ("iris.csv", "blobs(n=300, seed=1)"), for messages and records.
    public let source: String
    /// Set for text (`data.text`): each sample is a window of token ids and its targets the
    /// tokens one position later, class indices into this vocabulary. Such sets are split by
    /// position, never shuffled across the split.
    public let vocabulary: TokenVocabulary?
    /// Tokens between the starts of consecutive windows of a text set (`data.text`'s stride);
    /// nil for other data. A split by position leaves out the windows that would overlap the
    /// next part, so no part's text is inside another's.
    public let windowStride: Int?
    /// The scalings applied since the rows were read, in order (`standardize`, `normalize`),
    /// with their statistics: a model trained on the set keeps them (`ModelSchema`) and applies
    /// them to raw rows at inference.
    public let preprocessing: [PreprocessingStep]
    /// false for rows given to `model:predict` without labels: nothing to score predictions on.
    public let hasLabels: Bool
    /// Token positions per sample of a text set (its context); nil for other data.
    public var positions: Int? { vocabulary == nil ? nil : targetWidth }

    public init(
        features: [Float], rows: Int, cols: Int, labels: [Float], featureNames: [String]? = nil,
        labelName: String = "label", classNames: [String] = [], categories: [CategoricalColumn] = [], source: String,
        sampleShape: [Int]? = nil, targets: [Float]? = nil, vocabulary: TokenVocabulary? = nil, windowStride: Int? = nil,
        preprocessing: [PreprocessingStep] = [], hasLabels: Bool = true
    ) {
        precondition(features.count == rows * cols && labels.count == rows, "dataset shape")
        precondition((sampleShape ?? [cols]).reduce(1, *) == cols, "sample shape")
        precondition(targets.map { rows == 0 ? $0.isEmpty : $0.count % rows == 0 && $0.count >= rows } ?? true, "targets shape")
        self.features = features
        self.rows = rows
        self.cols = cols
        self.sampleShape = sampleShape ?? [cols]
        self.labels = labels
        self.targets = targets
        self.featureNames = featureNames ?? (0..<cols).map { "x\($0 + 1)" }
        self.labelName = labelName
        self.classNames = classNames
        self.categories = categories
        self.source = source
        self.vocabulary = vocabulary
        self.windowStride = windowStride
        self.preprocessing = preprocessing
        self.hasLabels = hasLabels
    }

    /// Number of classes if the labels are class indices (non-negative integers), else nil.
    public var classCount: Int? {
        var top = -1
        for l in labels {
            guard l >= 0, l == l.rounded() else { return nil }
            top = max(top, Int(l))
        }
        return top + 1
    }

    public func row(_ r: Int) -> ArraySlice<Float> { features[(r * cols)..<((r + 1) * cols)] }

    /// Row `r`'s targets (its label alone when it has one).
    public func target(_ r: Int) -> ArraySlice<Float> {
        guard let targets else { return labels[r...r] }
        let w = targetWidth
        return targets[(r * w)..<((r + 1) * w)]
    }

    /// The same data with other features, labels or targets, everything else kept.
    func with(
        features f: [Float]? = nil, rows n: Int? = nil, labels y: [Float]? = nil, targets t: [Float]?? = nil,
        sampleShape shape: [Int]? = nil,
        source s: String, step: PreprocessingStep? = nil, classNames names: [String]? = nil, categories cats: [CategoricalColumn]? = nil
    ) -> Dataset {
        Dataset(
            features: f ?? features, rows: n ?? rows, cols: cols, labels: y ?? labels, featureNames: featureNames, labelName: labelName,
            classNames: names ?? classNames, categories: cats ?? categories, source: s, sampleShape: shape ?? sampleShape,
            targets: t ?? targets,
            vocabulary: vocabulary, windowStride: windowStride, preprocessing: preprocessing + (step.map { [$0] } ?? []),
            hasLabels: hasLabels)
    }

    /// Each sample seen as `shape` (the same floats in the same order: an image's rows of pixels
    /// as [channels, height, width]).
    public func reshaped(_ shape: [Int]) throws -> Dataset {
        guard !shape.isEmpty, shape.allSatisfy({ $0 > 0 }),
            shape.reduce(1, { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }) == cols
        else {
            throw DataError("\(source): a sample of \(cols) values cannot be seen as shape \(shape)")
        }
        return with(sampleShape: shape, source: source)
    }

    /// The rows at `indices`, in that order.
    public func subset(_ indices: [Int], source: String) -> Dataset {
        var f: [Float] = []
        f.reserveCapacity(indices.count * cols)
        for i in indices { f.append(contentsOf: row(i)) }
        let t: [Float]?? = targets.map { _ in .some(indices.flatMap { target($0) }) }
        return with(features: f, rows: indices.count, labels: indices.map { labels[$0] }, targets: t, source: source)
    }

    /// Column means and standard deviations (population; a constant column gets 1 so it maps to 0).
    public func statistics() -> (mean: [Float], std: [Float]) {
        var mean = [Float](repeating: 0, count: cols), sq = [Float](repeating: 0, count: cols)
        for r in 0..<rows { for c in 0..<cols { mean[c] += features[r * cols + c] } }
        for c in 0..<cols { mean[c] /= Float(max(rows, 1)) }
        for r in 0..<rows { for c in 0..<cols { let d = features[r * cols + c] - mean[c]; sq[c] += d * d } }
        let std = sq.map { v -> Float in
            let s = (v / Float(max(rows, 1))).squareRoot(); return s > 1e-12 ? s : 1
        }
        return (mean, std)
    }

    /// Zero mean, unit variance per column, using `stats` (another set's, to avoid leaking test
    /// data into training) or this set's own.
    public func standardized(using stats: (mean: [Float], std: [Float])? = nil) -> Dataset {
        var (mean, std) = stats ?? statistics()
        for c in categories where c.column < cols {  // codes name values, they are not magnitudes
            mean[c.column] = 0
            std[c.column] = 1
        }
        let step = PreprocessingStep.standardize(mean: mean, std: std)
        return with(features: step.apply(features, cols: cols), source: source + " standardized", step: step)
    }

    /// Each column scaled to [0, 1] by its minimum and maximum (another set's, or this set's own);
    /// a constant column maps to 0.
    public func normalized(using other: Dataset? = nil) -> Dataset {
        let ref = other ?? self
        var lo = [Float](repeating: .infinity, count: cols), hi = [Float](repeating: -.infinity, count: cols)
        for r in 0..<ref.rows {
            for c in 0..<cols { lo[c] = min(lo[c], ref.features[r * cols + c]); hi[c] = max(hi[c], ref.features[r * cols + c]) }
        }
        for c in categories where c.column < cols {  // codes stay codes
            lo[c.column] = 0
            hi[c.column] = 1
        }
        let step = PreprocessingStep.normalize(low: lo, high: hi)
        return with(features: step.apply(features, cols: cols), source: source + " normalized", step: step)
    }

    /// A seeded shuffle split into named parts by fraction; the last part takes the remainder.
    /// Classification sets are split per class (stratified) so small sets keep their balance.
    /// Text windows are split by position instead: each part a run of consecutive windows.
    public func split(_ parts: [(String, Double)], seed: UInt64) -> [(String, Dataset)] {
        if vocabulary != nil {
            // Window i spans tokens i·stride … i·stride + context (its inputs and targets). Before
            // the next part starts, the windows reaching past its first window's first token are
            // left out: with stride < context they would train on the next part's text (the one
            // token two adjacent windows share at stride = context is the usual boundary).
            let context = positions ?? 0, stride = max(1, windowStride ?? context)
            let gap = max(0, (context + stride - 1) / stride - 1)
            var start = 0
            return parts.enumerated().map { i, part in
                let last = i == parts.count - 1
                let n = last ? rows - start : Int((Double(rows) * part.1).rounded())
                let end = min(rows, start + max(0, n))
                defer { start = end }
                let kept = last ? end : max(start, end - gap)
                return (part.0, subset(Array(start..<kept), source: "\(source) [\(part.0)]"))
            }
        }
        var rng = Philox(seed: seed)
        var groups: [[Int]]
        if let k = classCount, k > 1 {
            groups = Array(repeating: [], count: k)
            for r in 0..<rows { groups[Int(labels[r])].append(r) }
        } else {
            groups = [Array(0..<rows)]
        }
        var assigned = [[Int]](repeating: [], count: parts.count)
        for g in groups {
            let order = rng.permutation(g.count).map { g[$0] }
            var start = 0
            for (i, part) in parts.enumerated() {
                let n = i == parts.count - 1 ? order.count - start : Int((Double(order.count) * part.1).rounded())
                let end = min(order.count, start + max(0, n))
                assigned[i].append(contentsOf: order[start..<end])
                start = end
            }
        }
        return parts.enumerated().map { i, part in
            let shuffled = rng.permutation(assigned[i].count).map { assigned[i][$0] }
            return (part.0, subset(shuffled, source: "\(source) [\(part.0)]"))
        }
    }
}

/// FNV-1a over float bits: a short, stable content id for models and data sets.
public enum Fingerprint {
    public static func hash(_ arrays: [Float]...) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for a in arrays {
            for v in a {
                var bits = v.bitPattern
                for _ in 0..<4 {
                    h = (h ^ UInt64(bits & 0xFF)) &* 0x100_0000_01b3
                    bits >>= 8
                }
            }
            h = (h ^ 0xFF) &* 0x100_0000_01b3
        }
        return h
    }

    public static func hex(_ arrays: [Float]...) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for a in arrays { h = (h ^ hash(a)) &* 0x100_0000_01b3 }
        let s = String(h, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}

extension Dataset {
    /// The training rows and the validation rows a trainer holds out (`share` of them; none at
    /// 0), drawn by the run's seed, the same way for every kind of model.
    public func holdingOut(_ share: Double, seed: UInt64) -> (train: Dataset, validation: Dataset?) {
        guard share > 0 else { return (self, nil) }
        let parts = split([("train", 1 - share), ("validation", share)], seed: seed ^ 0x5A5A)
        return (parts[0].1, parts[1].1)
    }
}
