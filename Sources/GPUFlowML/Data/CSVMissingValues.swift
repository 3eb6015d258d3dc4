/// What `missing = "drop"` and `missing = "mean"` do to the NaN placeholders `CSVTableBuilder`
/// left for missing cells (under `missing = "error"` there are none: the first stopped the read).
enum CSVMissingValues {
    /// The table after the policy, and a note for the data set's source ("11 rows dropped").
    static func apply(
        _ policy: CSVOptions.Missing, features: inout [Float], labels: inout [Float], cols: Int,
        categorical: Set<Int>, names: [String], file: String
    ) throws -> String? {
        let rows = labels.count
        switch policy {
        case .error:
            return nil
        case .drop:
            var kept = 0
            for r in 0..<rows {
                let row = features[(r * cols)..<((r + 1) * cols)]
                guard !labels[r].isNaN, !row.contains(where: \.isNaN) else { continue }
                if kept != r {
                    for c in 0..<cols { features[kept * cols + c] = features[r * cols + c] }
                    labels[kept] = labels[r]
                }
                kept += 1
            }
            guard kept > 0 else { throw DataError(file: file, "every row has a missing cell: nothing is left after missing = \"drop\"") }
            features.removeLast((rows - kept) * cols)
            labels.removeLast(rows - kept)
            return rows == kept ? nil : "missing=drop: \(rows - kept) of \(rows) rows dropped"
        case .mean:
            var filled = 0
            for c in 0..<cols {
                var fill: Float
                if categorical.contains(c) {
                    var counts: [Int: Int] = [:]
                    for r in 0..<rows where !features[r * cols + c].isNaN { counts[Int(features[r * cols + c]), default: 0] += 1 }
                    // The most frequent code; the lowest on a tie, so the fill does not depend on hashing.
                    guard let top = counts.max(by: { ($0.value, -$0.key) < ($1.value, -$1.key) }) else {
                        throw DataError(file: file, "column '\(names[c])' has no values at all to fill its missing cells with")
                    }
                    fill = Float(top.key)
                } else {
                    var sum = 0.0, n = 0
                    for r in 0..<rows where !features[r * cols + c].isNaN {
                        sum += Double(features[r * cols + c])
                        n += 1
                    }
                    guard n > 0 else { throw DataError(file: file, "column '\(names[c])' has no values at all to take a mean of") }
                    fill = Float(sum / Double(n))
                }
                for r in 0..<rows where features[r * cols + c].isNaN {
                    features[r * cols + c] = fill
                    filled += 1
                }
            }
            return filled == 0 ? nil : "missing=mean: \(filled) cells filled"
        }
    }
}
