import Foundation
import GPUFlowCore

/// What a trained model takes and gives, saved with it: its feature columns, the scalings its
/// training rows went through (with their statistics), the code tables of its categorical
/// columns, its class names and the loss it learned with (how its outputs read: softmax
/// probabilities, sigmoids, or values). With these a saved model predicts on raw rows.
public struct ModelSchema: Codable, Sendable, Equatable {
    public var featureNames: [String]
    public var labelName: String
    /// Class names in index order; empty when the labels were numbers.
    public var classNames: [String]
    public var categories: [CategoricalColumn]
    public var preprocessing: [PreprocessingStep]
    public var loss: LossKind

    public init(data: Dataset, loss: LossKind) {
        featureNames = data.featureNames
        labelName = data.labelName
        classNames = data.classNames
        categories = data.categories
        preprocessing = data.preprocessing
        self.loss = loss
    }

    /// `data` as the model reads it. Categorical codes and class labels are matched by name to
    /// the model's (a CSV read later numbers its values in its own order of appearance); a
    /// data set with no scaling of its own is raw, and gets the model's; one that was scaled
    /// (with the training set's statistics, or its own) is taken as prepared.
    public func prepare(_ data: Dataset) throws -> Dataset {
        guard data.vocabulary == nil, data.cols == featureNames.count else { return data }
        var features = data.features
        var changed = false
        for c in data.categories {
            guard let mine = categories.first(where: { $0.column == c.column }) else {
                throw DataError("\(data.source): column '\(c.name)' holds text, but the model read it as numbers")
            }
            guard c.values != mine.values else { continue }
            let index = Dictionary(mine.values.enumerated().map { ($1, Float($0)) }, uniquingKeysWith: { a, _ in a })
            let recode = try c.values.map { v -> Float in
                guard let k = index[v] else {
                    throw DataError(
                        "\(data.source): column '\(c.name)' has the value '\(v)', which the model never saw (it knows \(mine.values.map { "'\($0)'" }.joined(separator: ", ")))"
                    )
                }
                return k
            }
            for r in 0..<data.rows {
                let i = r * data.cols + c.column
                features[i] = recode[Int(features[i])]
            }
            changed = true
        }
        var labels = data.labels
        if !classNames.isEmpty, !data.classNames.isEmpty, data.classNames != classNames, data.targets == nil {
            let index = Dictionary(classNames.enumerated().map { ($1, Float($0)) }, uniquingKeysWith: { a, _ in a })
            let recode = try data.classNames.map { n -> Float in
                guard let k = index[n] else {
                    throw DataError("\(data.source): class '\(n)' is not one the model knows (\(classNames.joined(separator: ", ")))")
                }
                return k
            }
            labels = labels.map { recode[Int($0)] }
            changed = true
        }
        let raw = data.preprocessing.isEmpty && !preprocessing.isEmpty
        if raw { for step in preprocessing { features = step.apply(features, cols: data.cols) } }
        guard changed || raw else { return data }
        return data.with(
            features: features, labels: labels, source: data.source, classNames: data.classNames.isEmpty ? [] : classNames,
            categories: categories, steps: raw ? preprocessing : nil)
    }

    /// Raw rows given by a script (a Lua table or tensor): each row a list of values in column
    /// order or a map by column name; text in a categorical column is looked up in its table.
    /// The model's scalings are applied, so the set is ready for the model.
    public func rows(_ rows: [[RawCell]], source: String) throws -> Dataset {
        let cols = featureNames.count
        var features: [Float] = []
        features.reserveCapacity(rows.count * cols)
        let tables = Dictionary(categories.map { ($0.column, $0) }, uniquingKeysWith: { a, _ in a })
        for (r, row) in rows.enumerated() {
            guard row.count == cols else {
                throw DataError(
                    "\(source): row \(r + 1) has \(row.count) values; the model takes \(cols) (\(featureNames.joined(separator: ", ")))")
            }
            for (c, cell) in row.enumerated() {
                switch cell {
                case .number(let v):
                    guard v.isFinite, abs(v) <= Double(Float.greatestFiniteMagnitude) else {
                        throw DataError("\(source): row \(r + 1), column '\(featureNames[c])' is \(v)")
                    }
                    if let t = tables[c], v != v.rounded() || v < 0 || Int(v) >= t.values.count {
                        throw DataError(
                            "\(source): row \(r + 1), column '\(featureNames[c])' is \(v), not one of its \(t.values.count) codes or values"
                        )
                    }
                    features.append(Float(v))
                case .text(let s):
                    guard let t = tables[c] else {
                        throw DataError("\(source): row \(r + 1), column '\(featureNames[c])' is '\(s)'; the column holds numbers")
                    }
                    guard let k = t.values.firstIndex(of: s) else {
                        throw DataError(
                            "\(source): row \(r + 1), column '\(featureNames[c])' has the value '\(s)', which the model never saw (it knows \(t.values.map { "'\($0)'" }.joined(separator: ", ")))"
                        )
                    }
                    features.append(Float(k))
                }
            }
        }
        for step in preprocessing { features = step.apply(features, cols: cols) }
        return Dataset(
            features: features, rows: rows.count, cols: cols, labels: [Float](repeating: 0, count: rows.count), featureNames: featureNames,
            labelName: labelName, categories: categories, source: source, preprocessing: preprocessing, hasLabels: false)
    }

    /// One cell of a raw row.
    public enum RawCell: Sendable {
        case number(Double)
        case text(String)
    }
}

extension Dataset {
    /// The same rows marked as carrying other scalings (`steps`), with other class names and code tables.
    func with(
        features f: [Float], labels y: [Float], source s: String, classNames names: [String], categories cats: [CategoricalColumn],
        steps: [PreprocessingStep]?
    ) -> Dataset {
        Dataset(
            features: f, rows: rows, cols: cols, labels: y, featureNames: featureNames, labelName: labelName, classNames: names,
            categories: cats,
            source: s, sampleShape: sampleShape, targets: targets, vocabulary: vocabulary, windowStride: windowStride,
            preprocessing: steps ?? preprocessing, hasLabels: hasLabels)
    }
}
