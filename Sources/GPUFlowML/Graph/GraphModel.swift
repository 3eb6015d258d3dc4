import Foundation
import GPUFlowCompute
import GPUFlowCore

/// A model as a graph of the core's ops over named parameters: serializable (JSON, sorted
/// keys, so equal models have equal bytes and hash), immutable, and run on any backend by
/// `GraphRunner`. Layers (`GraphBuilder`) only add nodes and parameters; the ops do the work.
public struct GraphModel: Codable, Sendable, Equatable {
    /// Where a node's input comes from.
    public enum Source: Codable, Sendable, Hashable {
        /// The batch: [rows] + `inputShape`.
        case input
        case parameter(String)
        /// Output `output` of node `node` (earlier in `nodes`).
        case node(Int, output: Int)
    }

    public struct Node: Codable, Sendable, Equatable {
        public var op: Op
        public var inputs: [Source]
        /// The layer this node belongs to ("linear1", "norm2"): freezing and messages use it.
        public var layer: String
        /// Only while training (dropout): at inference the node passes its input through.
        public var trainingOnly: Bool
        /// A batch statistic (batch norm's mean or variance per channel): while training the
        /// node computes it and its running average is kept in a buffer; at inference the node
        /// is that buffer.
        public var running: RunningStatistic?
    }

    /// running ← (1 − momentum) · running + momentum · statistic · (n / (n − 1) when
    /// `unbiased`, n the values per channel of the batch): PyTorch's BatchNorm rule.
    public struct RunningStatistic: Codable, Sendable, Equatable {
        public var parameter: String
        public var momentum: Float
        public var unbiased: Bool
    }

    public struct Parameter: Codable, Sendable, Equatable {
        public var name: String
        public var shape: [Int]
        public var values: [Float]
        /// The layer whose parameter this is.
        public var layer: String
        /// true: a constant the layer needs (a causal mask, batch norm's running statistics), never trained,
        /// mutated or frozen; nil: a trainable parameter.
        public var buffer: Bool?

        public var trainable: Bool { buffer != true }
    }

    public var format = 1
    /// One sample's shape (a row of features: [features]).
    public var inputShape: [Int]
    public var nodes: [Node]
    public var parameters: [Parameter]
    public var output: Source
    /// A language model's tokens, set when it is first trained on text (nil otherwise, and
    /// then absent from the JSON, so other models keep their bytes and hash).
    public var vocabulary: TokenVocabulary?
    /// What the model was trained on (columns, scalings, categories, classes, loss), set by
    /// training; nil (and absent from the JSON) before, so untrained models keep their hash.
    public var schema: ModelSchema?

    /// Whether the model reads token ids (its input indexes a token embedding directly) and so
    /// predicts at every position.
    public var isSequenceModel: Bool {
        nodes.contains { $0.op == .gather && $0.inputs.count == 2 && $0.inputs[1] == .input }
    }

    /// The first attention layer built without a causal mask (its q·kᵀ scores, a product of
    /// two computed tensors, go to the softmax unmasked): its positions read later ones, so a
    /// generation, which pads a short prompt on the right, would read the padding.
    public var nonCausalAttentionLayer: String? {
        let masked = Set(parameters.filter { $0.name == "\($0.layer).causal_mask" }.map(\.layer))
        return nodes.first { n in
            guard n.op == .matmul(transA: false, transB: true), n.inputs.count == 2, !masked.contains(n.layer) else { return false }
            return n.inputs.allSatisfy { if case .node = $0 { return true } else { return false } }
        }?.layer
    }

    /// The output's shape for a batch of `rows` (every node's shape checked on the way).
    public func outputShape(rows: Int) throws -> [Int] { try shapes(rows: rows).output }

    /// The values every node computes for a batch of `rows`, summed: what a pass's tape holds
    /// (attention's heads × t² scores and a language model's t × vocabulary logits among them),
    /// for the admission estimate. Views (reshape) hold none of their own. Computed at the
    /// batch itself, since a graph's shapes may fit one batch size and not another.
    public func values(rows: Int) throws -> Int {
        let all = try shapes(rows: rows).nodes
        var total = 0
        for (node, outs) in zip(nodes, all) {
            if case .reshape = node.op { continue }
            for shape in outs {
                let n = shape.reduce(1) { a, b in a.multipliedReportingOverflow(by: b).overflow ? Int.max / 4 : a * b }
                total = total > Int.max / 4 - n ? Int.max / 4 : total + n
            }
        }
        return total
    }

    private func shapes(rows: Int) throws -> (nodes: [[[Int]]], output: [Int]) {
        var shapes: [[[Int]]] = []
        let params = Dictionary(parameters.map { ($0.name, $0.shape) }, uniquingKeysWith: { a, _ in a })
        func shape(_ s: Source) throws -> [Int] {
            switch s {
            case .input: return [rows] + inputShape
            case .parameter(let p):
                guard let sh = params[p] else { throw MLError("model graph: no parameter '\(p)'") }
                return sh
            case .node(let n, let o):
                guard n < shapes.count, o < shapes[n].count else {
                    throw MLError("model graph: node \(n) output \(o) is used before it exists")
                }
                return shapes[n][o]
            }
        }
        for (i, n) in nodes.enumerated() {
            do {
                shapes.append(try n.op.outputShapes(try n.inputs.map(shape)))
            } catch let e as BackendError {
                throw MLError("layer \(n.layer) (node \(i), \(n.op.name)): \(e.message)")
            }
        }
        return (shapes, try shape(output))
    }

    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.values.count } }

    /// The graph with other parameter values (a trained copy), in the same order.
    public func with(values: [[Float]]) -> GraphModel {
        var m = self
        for i in m.parameters.indices where i < values.count { m.parameters[i].values = values[i] }
        return m
    }

    /// SHA-256 of the canonical JSON: the model's identity in records and caches.
    public var contentHash: String {
        var h = Hasher256()
        h.add((try? StableJSON.encode(self)) ?? Data())
        return h.hex
    }
}
