import Foundation
import GPUFlowCompute
import GPUFlowTesting
import Testing

@testable import GPUFlowML

/// Classification and regression metrics against scikit-learn's on the same predictions
/// (scikit-learn from PyPI in .test-venv), including the corners: a class never predicted
/// (precision 0), a class absent from the labels (ROC-AUC unavailable), ties in the scores,
/// a binary problem, a probability of 0 for the true class (log loss clipped), several outputs.
@Suite struct MetricsTests {
    static let ready = TestVenv.has("sklearn", "numpy")

    static let script = """
        import json, sys
        import numpy as np
        from sklearn import metrics as m
        cases = json.load(sys.stdin)
        out = []
        for c in cases:
            if c["kind"] == "classification":
                y, p, proba = np.array(c["labels"]), np.array(c["predicted"]), np.array(c["probabilities"], dtype=np.float64)
                k = proba.shape[1]
                r = {"accuracy": m.accuracy_score(y, p)}
                for avg in ("macro", "weighted"):
                    r["precision_" + avg] = m.precision_score(y, p, average=avg, zero_division=0)
                    r["recall_" + avg] = m.recall_score(y, p, average=avg, zero_division=0)
                    r["f1_" + avg] = m.f1_score(y, p, average=avg, zero_division=0)
                r["per_class_f1"] = list(m.f1_score(y, p, average=None, labels=list(range(k)), zero_division=0))
                r["log_loss"] = m.log_loss(y, proba, labels=list(range(k)))
                if len(set(y.tolist())) == k:
                    r["roc_auc"] = m.roc_auc_score(y, proba[:, 1]) if k == 2 else m.roc_auc_score(y, proba, multi_class="ovr", average="macro")
                r["confusion"] = m.confusion_matrix(y, p, labels=list(range(k))).tolist()
            else:
                y, p = np.array(c["actual"]).reshape(-1, c["width"]), np.array(c["predicted"]).reshape(-1, c["width"])
                r = {"mse": m.mean_squared_error(y, p), "mae": m.mean_absolute_error(y, p), "r2": m.r2_score(y, p),
                     "rmse": m.root_mean_squared_error(y, p)}
            out.append(r)
        print(json.dumps(out))
        """

    /// Seeded cases: labels, the model's probabilities (rounded to float32 as gpuflow's are) and its predictions.
    static func classification(rows: Int, classes: Int, seed: UInt64, dropClass: Int? = nil, ties: Bool = false) -> (
        [Int], [Int], [[Double]]
    ) {
        var rng = Philox(seed: seed)
        var labels: [Int] = [], probs: [[Double]] = []
        for _ in 0..<rows {
            var y = Int(rng.uniform() * Float(classes)) % classes
            if y == dropClass { y = (y + 1) % classes }
            labels.append(y)
            var row = (0..<classes).map { c -> Double in Double(rng.uniform()) + (c == y ? 0.8 : 0) }
            if ties { row = row.map { ($0 * 4).rounded() / 4 + 0.01 } }
            let s = row.reduce(0, +)
            probs.append(row.map { Double(Float($0 / s)) })
        }
        probs[0] = (0..<classes).map { $0 == labels[0] ? 0 : 1 / Double(classes - 1) }  // the true class at 0
        // Class classes-1 never predicted: its precision is 0 (zero_division = 0).
        let predicted = probs.map { row -> Int in
            var best = 0
            for c in 0..<(classes - 1) where row[c] > row[best] { best = c }
            return best
        }
        return (labels, predicted, probs)
    }

    @Test(.enabled(if: ready, "scikit-learn is not in .test-venv (scripts/test installs it from PyPI)"))
    func theFiguresAreScikitLearns() throws {
        var cases: [[String: Any]] = []
        var mine: [ClassificationMetrics] = []
        for (rows, k, seed, drop, ties) in [(60, 3, 1, nil, false), (41, 2, 2, nil, true), (50, 4, 3, 2, false), (33, 5, 4, nil, true)]
            as [(Int, Int, UInt64, Int?, Bool)]
        {
            let (y, p, proba) = Self.classification(rows: rows, classes: k, seed: seed, dropClass: drop, ties: ties)
            cases.append(["kind": "classification", "labels": y, "predicted": p, "probabilities": proba])
            mine.append(ClassificationMetrics(labels: y, predicted: p, probabilities: proba, classes: k))
        }
        var regressions: [RegressionMetrics] = []
        for (rows, width, seed) in [(40, 1, 5), (30, 3, 6)] as [(Int, Int, UInt64)] {
            let actual = OpSamples.values(rows * width, seed: seed)
            let predicted = zip(actual, OpSamples.values(rows * width, seed: seed + 10)).map { $0 + 0.3 * $1 }
            cases.append(["kind": "regression", "actual": actual.map(Double.init), "predicted": predicted.map(Double.init), "width": width])
            regressions.append(RegressionMetrics(predicted: predicted, actual: actual, width: width))
        }
        let input = String(decoding: try JSONSerialization.data(withJSONObject: cases), as: UTF8.self)
        let r = try TestVenv.run(["-c", Self.script], input: input)
        try #require(r.status == 0, "\(r.stderr)")
        let sk = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        func near(_ a: Double?, _ b: Any?, _ what: String) {
            guard let a, let b = b as? Double else {
                #expect(a == nil && b == nil, "\(what): gpuflow \(String(describing: a)), scikit-learn \(String(describing: b))")
                return
            }
            #expect(abs(a - b) <= 1e-9 * max(1, abs(b)), "\(what): gpuflow \(a), scikit-learn \(b)")
        }
        for (i, m) in mine.enumerated() {
            let s = sk[i]
            near(m.accuracy, s["accuracy"], "case \(i) accuracy")
            near(m.precisionMacro, s["precision_macro"], "case \(i) precision_macro")
            near(m.recallMacro, s["recall_macro"], "case \(i) recall_macro")
            near(m.f1Macro, s["f1_macro"], "case \(i) f1_macro")
            near(m.precisionWeighted, s["precision_weighted"], "case \(i) precision_weighted")
            near(m.recallWeighted, s["recall_weighted"], "case \(i) recall_weighted")
            near(m.f1Weighted, s["f1_weighted"], "case \(i) f1_weighted")
            near(m.logLoss, s["log_loss"], "case \(i) log_loss")
            near(m.rocAUC, s["roc_auc"], "case \(i) roc_auc")
            #expect((s["per_class_f1"] as? [Double])?.count == m.f1.count)
            for (c, f) in m.f1.enumerated() { near(f, (s["per_class_f1"] as? [Double])?[c], "case \(i) f1 of class \(c)") }
            #expect(s["confusion"] as? [[Int]] == m.confusion, "case \(i) confusion matrix")
        }
        #expect(mine[2].rocAUC == nil, "a class absent from the labels leaves ROC-AUC unavailable")
        for (j, m) in regressions.enumerated() {
            let s = sk[mine.count + j]
            near(m.mse, s["mse"], "regression \(j) mse")
            near(m.rmse, s["rmse"], "regression \(j) rmse")
            near(m.mae, s["mae"], "regression \(j) mae")
            near(m.r2, s["r2"], "regression \(j) r2")
        }
    }

    @Test func perfectAndConstantCases() {
        let m = ClassificationMetrics(
            labels: [0, 1, 1, 0], predicted: [0, 1, 1, 0], probabilities: [[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.7, 0.3]], classes: 2)
        #expect(m.accuracy == 1 && m.f1Macro == 1 && m.rocAUC == 1 && m.confusion == [[2, 0], [0, 2]])
        #expect(ClassificationMetrics.auc(positives: [true, false, true, false], scores: [0.5, 0.5, 0.5, 0.5]) == 0.5)
        let r = RegressionMetrics(predicted: [1, 1, 1], actual: [1, 1, 1], width: 1)
        #expect(r.mse == 0 && r.r2 == 1)
        #expect(
            RegressionMetrics(predicted: [1, 2, 3], actual: [2, 2, 2], width: 1).r2 == 0,
            "a constant target fitted imperfectly: 0, as scikit-learn")
    }
}
