import Foundation
import GPUFlowCore

/// The figures a classifier is reported with, defined as scikit-learn defines them (and
/// checked against it in a test): accuracy; precision, recall and F1 per class and averaged
/// over the classes that occur in the labels or the predictions (macro: unweighted; weighted:
/// by each class's support), a class with no predictions (or no rows) counting 0; ROC-AUC
/// (binary: of the positive class's probability; more classes: one-vs-rest, macro), only when
/// every class occurs among the labels; log loss with probabilities clipped to [ε, 1 − ε]
/// (ε = 2.22e-16, float64's; rows are not renormalized, as scikit-learn 1.9 does not); the confusion matrix, rows the true class, columns the predicted.
public struct ClassificationMetrics: Sendable {
    public let classes: Int
    public let accuracy: Double
    public let precision: [Double], recall: [Double], f1: [Double]
    public let support: [Int]
    public let precisionMacro: Double, recallMacro: Double, f1Macro: Double
    public let precisionWeighted: Double, recallWeighted: Double, f1Weighted: Double
    public let rocAUC: Double?
    public let logLoss: Double?
    /// confusion[true][predicted].
    public let confusion: [[Int]]

    /// `labels` and `predicted` are class indices in 0..<classes; `probabilities` rows of
    /// `classes` values (nil: no ROC-AUC or log loss).
    public init(labels: [Int], predicted: [Int], probabilities: [[Double]]?, classes: Int) {
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: classes), count: classes)
        for (y, p) in zip(labels, predicted) where y >= 0 && y < classes && p >= 0 && p < classes { confusion[y][p] += 1 }
        let n = labels.count
        let support = (0..<classes).map { c in confusion[c].reduce(0, +) }
        let predictedCount = (0..<classes).map { c in confusion.reduce(0) { $0 + $1[c] } }
        let precision = (0..<classes).map { c in predictedCount[c] == 0 ? 0 : Double(confusion[c][c]) / Double(predictedCount[c]) }
        let recall = (0..<classes).map { c in support[c] == 0 ? 0 : Double(confusion[c][c]) / Double(support[c]) }
        let f1 = (0..<classes).map { c -> Double in
            let d = 2 * confusion[c][c] + (predictedCount[c] - confusion[c][c]) + (support[c] - confusion[c][c])
            return d == 0 ? 0 : Double(2 * confusion[c][c]) / Double(d)
        }
        let present = (0..<classes).filter { support[$0] > 0 || predictedCount[$0] > 0 }
        func macro(_ v: [Double]) -> Double { present.isEmpty ? 0 : present.reduce(0) { $0 + v[$1] } / Double(present.count) }
        func weighted(_ v: [Double]) -> Double { n == 0 ? 0 : (0..<classes).reduce(0) { $0 + v[$1] * Double(support[$1]) } / Double(n) }
        var logLoss: Double?, rocAUC: Double?
        if let probabilities, probabilities.count == n, n > 0 {
            let eps = Double.ulpOfOne
            var total = 0.0
            for (y, row) in zip(labels, probabilities) {
                let p = y >= 0 && y < row.count ? row[y] : 0
                total -= Foundation.log(Swift.min(Swift.max(p, eps), 1 - eps))
            }
            logLoss = total / Double(n)
            if support.allSatisfy({ $0 > 0 }), classes >= 2 {
                if classes == 2 {
                    rocAUC = Self.auc(positives: labels.map { $0 == 1 }, scores: probabilities.map { $0[1] })
                } else {
                    let each = (0..<classes).compactMap { c in
                        Self.auc(positives: labels.map { $0 == c }, scores: probabilities.map { $0[c] })
                    }
                    rocAUC = each.count == classes ? each.reduce(0, +) / Double(classes) : nil
                }
            }
        }
        self.classes = classes
        self.confusion = confusion
        self.support = support
        self.precision = precision
        self.recall = recall
        self.f1 = f1
        accuracy = n == 0 ? 0 : Double((0..<classes).reduce(0) { $0 + confusion[$1][$1] }) / Double(n)
        (precisionMacro, recallMacro, f1Macro) = (macro(precision), macro(recall), macro(f1))
        (precisionWeighted, recallWeighted, f1Weighted) = (weighted(precision), weighted(recall), weighted(f1))
        self.logLoss = logLoss
        self.rocAUC = rocAUC
    }

    /// The area under the ROC curve: the chance that a positive scores above a negative, ties
    /// counting a half (the Mann–Whitney statistic, equal to the trapezoidal area).
    static func auc(positives: [Bool], scores: [Double]) -> Double? {
        let pos = positives.filter { $0 }.count, neg = positives.count - pos
        guard pos > 0, neg > 0 else { return nil }
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        var rankSum = 0.0
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && scores[order[j + 1]] == scores[order[i]] { j += 1 }
            let rank = Double(i + j) / 2 + 1  // the tied run's average rank
            for k in i...j where positives[order[k]] { rankSum += rank }
            i = j + 1
        }
        return (rankSum - Double(pos) * Double(pos + 1) / 2) / (Double(pos) * Double(neg))
    }

    /// As a result table: the averages at the top, `per_class` by class name, the confusion
    /// matrix as rows.
    public func value(classNames: [String]) -> TaskValue {
        func name(_ c: Int) -> String { c < classNames.count ? classNames[c] : String(c) }
        var fields: [(String, TaskValue)] = [
            ("accuracy", .number(accuracy)),
            ("precision_macro", .number(precisionMacro)), ("recall_macro", .number(recallMacro)), ("f1_macro", .number(f1Macro)),
            ("precision_weighted", .number(precisionWeighted)), ("recall_weighted", .number(recallWeighted)),
            ("f1_weighted", .number(f1Weighted)),
        ]
        if let a = rocAUC { fields.append(("roc_auc", .number(a))) }
        if let l = logLoss { fields.append(("log_loss", .number(l))) }
        fields.append(
            (
                "per_class",
                .table(
                    (0..<classes).map { c in
                        (
                            name(c),
                            .table([
                                ("precision", .number(precision[c])), ("recall", .number(recall[c])), ("f1", .number(f1[c])),
                                ("support", .integer(support[c])),
                            ])
                        )
                    })
            ))
        fields.append(("confusion_matrix", .array(confusion.map { .array($0.map(TaskValue.integer)) })))
        fields.append(("classes", .array((0..<classes).map { .string(name($0)) })))
        return .table(fields)
    }
}
