import Foundation
import GPUFlowCore

/// A regressor's figures, as scikit-learn defines them: MSE, RMSE (√MSE), MAE and R² (1 − the
/// residual sum of squares over the total about the mean; 1 for a perfect fit of a constant
/// target, 0 for an imperfect one); several outputs are averaged uniformly, each output's
/// figure computed on its own (scikit-learn's `multioutput="uniform_average"`).
public struct RegressionMetrics: Sendable {
    public let mse: Double, rmse: Double, mae: Double, r2: Double

    /// `predicted` and `actual`: rows × `width`, row-major.
    public init(predicted: [Float], actual: [Float], width: Int) {
        let rows = width > 0 ? actual.count / width : 0
        var mse = 0.0, mae = 0.0, r2 = 0.0, rmse = 0.0
        for o in 0..<width {
            var se = 0.0, ae = 0.0, mean = 0.0
            for r in 0..<rows { mean += Double(actual[r * width + o]) }
            mean /= Double(max(rows, 1))
            var total = 0.0
            for r in 0..<rows {
                let y = Double(actual[r * width + o]), d = Double(predicted[r * width + o]) - y
                se += d * d
                ae += abs(d)
                total += (y - mean) * (y - mean)
            }
            let m = se / Double(max(rows, 1))
            mse += m
            rmse += m.squareRoot()
            mae += ae / Double(max(rows, 1))
            r2 += total == 0 ? (se == 0 ? 1 : 0) : 1 - se / total
        }
        let w = Double(max(width, 1))
        self.mse = mse / w
        self.rmse = width == 1 ? (mse / w).squareRoot() : rmse / w
        self.mae = mae / w
        self.r2 = r2 / w
    }

    public var value: TaskValue {
        .table([("mse", .number(mse)), ("rmse", .number(rmse)), ("mae", .number(mae)), ("r2", .number(r2))])
    }
}
