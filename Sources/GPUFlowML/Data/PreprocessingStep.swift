/// A scaling a data set went through (`ds:standardize()`, `ds:normalize()`), with the
/// statistics it used: kept by the data set, then by a model trained on it, so the model can
/// scale raw rows the same way when it predicts.
public enum PreprocessingStep: Codable, Sendable, Equatable {
    /// (x − mean) / std per column.
    case standardize(mean: [Float], std: [Float])
    /// (x − low) / (high − low) per column; 0 where the column was constant.
    case normalize(low: [Float], high: [Float])

    public var name: String {
        switch self {
        case .standardize: return "standardize"
        case .normalize: return "normalize"
        }
    }

    /// Whether the statistics are for `columns` columns (a stored step read back).
    public func fits(columns: Int) -> Bool {
        switch self {
        case .standardize(let m, let s): return m.count == columns && s.count == columns && s.allSatisfy { $0 != 0 && $0.isFinite }
        case .normalize(let lo, let hi): return lo.count == columns && hi.count == columns
        }
    }

    /// `features` (rows of `cols`) with the step applied.
    func apply(_ features: [Float], cols: Int) -> [Float] {
        var f = features
        switch self {
        case .standardize(let mean, let std):
            for i in f.indices { let c = i % cols; f[i] = (f[i] - mean[c]) / std[c] }
        case .normalize(let lo, let hi):
            for i in f.indices {
                let c = i % cols, span = hi[c] - lo[c]
                f[i] = span > 0 ? (f[i] - lo[c]) / span : 0
            }
        }
        return f
    }
}
