import Foundation
import GPUFlowCore

/// How a model's outputs read, and the result fields that follow from them: class
/// predictions with their probabilities and names, or values; and, where the rows have
/// labels, the metrics people report (`ClassificationMetrics`, `RegressionMetrics`).
enum PredictionFields {
    enum Reading: Equatable {
        /// Softmax over the outputs (cross-entropy training).
        case classes
        /// One logit: the sigmoid is the positive class's probability.
        case binary
        /// A sigmoid per output, each label on its own.
        case multiLabel
        case values
    }

    /// From the loss the model learned with (its schema), else from its width and the data.
    static func reading(width: Int, schema: ModelSchema?, data: Dataset) -> Reading {
        let loss = schema?.loss ?? (data.targets == nil && width > 1 ? .cross_entropy : .mse)
        switch loss {
        case .cross_entropy: return width > 1 && data.targets == nil ? .classes : .values
        case .bce_with_logits: return width == 1 && data.targets == nil ? .binary : .multiLabel
        case .mse, .l1, .huber: return .values
        }
    }

    /// Rows of `width` floats as a list of per-row tensors (`r.probabilities[i][k]`).
    static func rows(_ v: [Double], width: Int) -> TaskValue {
        .array(stride(from: 0, to: v.count, by: max(width, 1)).map { i in .floats(v[i..<(i + width)].map { Float($0) }) })
    }

    /// The fields of a batch inference from its raw outputs (rows × width): `predictions`
    /// (class indices, or values), `probabilities`, `labels` (class names), `accuracy` and
    /// `metrics`.
    static func fields(outputs: [Float], width: Int, data: Dataset, schema: ModelSchema?) -> [(String, TaskValue)] {
        let rows = width > 0 ? outputs.count / width : 0
        guard rows == data.rows else { return [] }
        let names = schema.map { $0.classNames.isEmpty ? data.classNames : $0.classNames } ?? data.classNames
        var fields: [(String, TaskValue)] = []
        var probabilities: [Double] = [], predicted: [Int] = [], classes = width
        switch reading(width: width, schema: schema, data: data) {
        case .classes:
            for r in 0..<rows {
                let row = outputs[(r * width)..<((r + 1) * width)].map(Double.init)
                let top = row.max() ?? 0
                let e = row.map { Foundation.exp($0 - top) }
                let sum = e.reduce(0, +)
                probabilities += e.map { $0 / sum }
                var best = 0
                for c in 1..<width where row[c] > row[best] { best = c }
                predicted.append(best)
            }
        case .binary:
            classes = 2
            for v in outputs {
                let p = 1 / (1 + Foundation.exp(-Double(v)))
                probabilities += [1 - p, p]
                predicted.append(v > 0 ? 1 : 0)
            }
        case .multiLabel:
            fields.append(("probabilities", Self.rows(outputs.map { 1 / (1 + Foundation.exp(-Double($0))) }, width: width)))
            return fields
        case .values:
            if width > 1 { fields.append(("outputs", Self.rows(outputs.map(Double.init), width: width))) }
            if data.hasLabels {
                let actual = data.targets ?? data.labels
                if actual.count == outputs.count {
                    fields.append(("metrics", RegressionMetrics(predicted: outputs, actual: actual, width: width).value))
                }
            }
            return fields
        }
        fields.append(("predictions", .floats(predicted.map(Float.init))))
        fields.append(("probabilities", Self.rows(probabilities, width: classes)))
        if names.count == classes { fields.append(("labels", .array(predicted.map { .string(names[$0]) }))) }
        if data.hasLabels, let k = data.classCount, k <= classes {
            let m = ClassificationMetrics(
                labels: data.labels.map { Int($0) }, predicted: predicted,
                probabilities: stride(from: 0, to: probabilities.count, by: classes).map { Array(probabilities[$0..<($0 + classes)]) },
                classes: classes)
            fields.append(("accuracy", .number(m.accuracy)))
            fields.append(("metrics", m.value(classNames: names)))
        }
        return fields
    }
}
