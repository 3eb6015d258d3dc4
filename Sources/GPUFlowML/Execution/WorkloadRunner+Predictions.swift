import Foundation
import GPUFlowCompute
import GPUFlowCore

/// What a batch inference adds to its measurements, for graphs and MLPs alike: how the
/// outputs read (`PredictionFields`) and, on request, a layer's outputs row by row.
extension WorkloadRunner {
    /// `fields` with `extra`'s entries, an entry of the same key replaced in place.
    static func merged(_ fields: [(String, TaskValue)], _ extra: [(String, TaskValue)]) -> [(String, TaskValue)] {
        var out = fields
        for (k, v) in extra {
            if let i = out.firstIndex(where: { $0.0 == k }) { out[i].1 = v } else { out.append((k, v)) }
        }
        return out
    }

    /// The outputs of `layer` for every row of `data` (`embeddings`): the graph cut after the
    /// layer's last node, run on `backend` with dropout off.
    static func layerOutputs(_ graph: GraphModel, layer: String, data: Dataset, batchSize: Int, backend: Backend, cancel: CancellationToken)
        throws -> TaskValue
    {
        let cut = try graph.cut(after: layer)
        let width = try cut.outputShape(rows: 1).dropFirst().reduce(1, *)
        let runner = try GraphRunner(cut, on: backend)
        var values: [Float] = []
        var offset = 0
        while offset < data.rows {
            try cancel.check()
            let n = min(batchSize, data.rows - offset)
            let x = try backend.tensor(
                Array(data.features[(offset * data.cols)..<((offset + n) * data.cols)]), shape: [n] + data.sampleShape)
            values += try backend.read(try runner.predict(x))
            offset += n
        }
        return PredictionFields.rows(values.map(Double.init), width: width)
    }
}

extension GraphModel {
    /// The graph whose output is layer `layer`'s last node (a layer named "block1" includes
    /// the layers inside it, "block1.attn" and so on).
    public func cut(after layer: String) throws -> GraphModel {
        guard let last = nodes.lastIndex(where: { $0.layer == layer || $0.layer.hasPrefix(layer + ".") }) else {
            var seen = Set<String>()
            let names = nodes.map(\.layer).filter { seen.insert($0).inserted }
            throw MLError("inference: the model has no layer '\(layer)' (its layers: \(names.joined(separator: ", ")))")
        }
        var m = self
        m.output = .node(last, output: 0)
        return m
    }
}
