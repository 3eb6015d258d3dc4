import Foundation
import GPUFlowCompute
import GPUFlowCore

/// Layers for token sequences ([rows, positions] of token ids → [rows, positions, features]),
/// written with the core's ops so every backend runs them and the tape differentiates them:
/// attention is matmuls, a scale, an additive causal mask (a buffer) and a softmax; a block
/// is GPT-2's pre-norm residual pair of attention and a GELU MLP.
extension GraphBuilder {
    /// The current value's positions and features, or an error naming the layer.
    fileprivate func sequence(_ layer: String) throws -> (t: Int, d: Int) {
        let s = cursorShape
        guard s.count == 3 else {
            throw MLError(
                "layer \(layer): takes sequences of shape [positions, features] (after nn.token_embedding), got \(Array(s.dropFirst()))")
        }
        return (s[1], s[2])
    }

    /// Token ids → learned vectors, PyTorch's `nn.Embedding(tokens, dims)` (N(0, 1) at the
    /// start): the first layer of a language model, reading the input's ids directly.
    public mutating func tokenEmbedding(tokens: Int, dims: Int, name given: String? = nil) throws {
        let layer = try layerName("token_embedding", given)
        guard cursor == .input, cursorShape.count == 2 else {
            throw MLError(
                "layer \(layer): reads a sequence of token ids, so it must be the first layer of a model with inputs = {positions}")
        }
        guard tokens > 0, dims > 0 else { throw MLError("layer \(layer): tokens and dims must be at least 1") }
        try reserveWeights(tokens, dims, layer: layer)
        let table = addLayerParameter(layer, "weight", shape: [tokens, dims], values: (0..<(tokens * dims)).map { _ in nextNormal() })
        try addLayerNode(.gather, [table, .input], layer: layer)
    }

    /// A vector per position added to each token's: learned (N(0, 0.02²) at the start, as
    /// GPT-2) or the fixed sines and cosines of "Attention Is All You Need" (a buffer).
    /// `context`: the longest sequence the layer takes (the input's positions when nil); a
    /// longer input is refused here.
    public mutating func positionEmbedding(context given: Int? = nil, learned: Bool = true, name: String? = nil) throws {
        let layer = try layerName("position_embedding", name)
        let (t, d) = try sequence(layer)
        let context = given ?? t
        guard context > 0 else { throw MLError("layer \(layer): context must be at least 1") }
        guard t <= context else {
            throw MLError("layer \(layer): the sequence has \(t) positions, longer than the context of \(context)")
        }
        try reserveWeights(context, d, layer: layer)
        let values: [Float]
        if learned {
            values = (0..<(context * d)).map { _ in nextNormal() * 0.02 }
        } else {
            values = (0..<context).flatMap { p in
                (0..<d).map { i -> Float in
                    let angle = Double(p) / pow(10_000, Double(2 * (i / 2)) / Double(d))
                    return Float(i % 2 == 0 ? sin(angle) : cos(angle))
                }
            }
        }
        var table = addLayerParameter(layer, learned ? "weight" : "sinusoid", shape: [context, d], values: values, buffer: !learned)
        let x = cursor
        if t < context { table = try addLayerNode(.slice(axis: 0, start: 0, count: t), [table], layer: layer) }
        try addLayerNode(.binary(.add), [x, table], layer: layer)
    }

    /// Multi-head self-attention, PyTorch's `nn.MultiheadAttention` with one fused q/k/v
    /// projection and an output projection; `causal`: position i attends to positions ≤ i.
    public mutating func attention(heads: Int, causal: Bool = true, scheme: WeightInit = .auto, name given: String? = nil) throws {
        let layer = try layerName("attention", given)
        let (t, d) = try sequence(layer)
        guard heads > 0, d % heads == 0 else {
            throw MLError("layer \(layer): \(d) features do not split into \(heads) heads of equal size")
        }
        let dh = d / heads
        try linear(outputs: 3 * d, scheme: scheme, name: "\(layer).qkv")
        let split = try addLayerNode(.reshape([-1, t, 3, heads, dh]), [cursor], layer: layer)
        let moved = try addLayerNode(.permute([2, 0, 3, 1, 4]), [split], layer: layer)  // [3, rows, heads, t, dh]
        func part(_ i: Int) throws -> GraphModel.Source {
            let s = try addLayerNode(.slice(axis: 0, start: i, count: 1), [moved], layer: layer)
            return try addLayerNode(.reshape([-1, t, dh]), [s], layer: layer)  // [rows·heads, t, dh]
        }
        // q is scaled by 1/√dh before q·kᵀ rather than the scores after: the same scores, a
        // t/dh times smaller tensor to scale (and to take the gradient through).
        let q = try addLayerNode(.unary(.scale(1 / Float(dh).squareRoot())), [try part(0)], layer: layer)
        let k = try part(1), v = try part(2)
        var scaled = try addLayerNode(.matmul(transA: false, transB: true), [q, k], layer: layer)
        if causal {
            // −1e9 above the diagonal: after the softmax's max is taken off, e^−1e9 is 0.
            let mask = (0..<t).flatMap { i in (0..<t).map { j -> Float in j > i ? -1e9 : 0 } }
            let m = addLayerParameter(layer, "causal_mask", shape: [t, t], values: mask, buffer: true)
            scaled = try addLayerNode(.binary(.add), [scaled, m], layer: layer)
        }
        let p = try addLayerNode(.softmax(axis: -1), [scaled], layer: layer)
        let o = try addLayerNode(.matmul(transA: false, transB: false), [p, v], layer: layer)  // [rows·heads, t, dh]
        let heads4 = try addLayerNode(.reshape([-1, heads, t, dh]), [o], layer: layer)
        let back = try addLayerNode(.permute([0, 2, 1, 3]), [heads4], layer: layer)
        try addLayerNode(.reshape([-1, t, d]), [back], layer: layer)
        try linear(outputs: d, scheme: scheme, name: "\(layer).proj")
    }

    /// GPT-2's block: x + attention(layer_norm(x)), then x + MLP(layer_norm(x)) with a GELU
    /// (tanh form, as GPT-2) between two linear layers of `hidden` (4 × features by default).
    public mutating func transformerBlock(
        heads: Int, hidden: Int? = nil, dropout p: Float = 0, causal: Bool = true, scheme: WeightInit = .auto, name given: String? = nil
    )
        throws
    {
        let layer = try layerName("block", given)
        let (_, d) = try sequence(layer)
        let hidden = hidden ?? 4 * d
        guard hidden > 0 else { throw MLError("layer \(layer): hidden must be at least 1") }
        try residual(name: "\(layer).residual1") { b in
            try b.layerNorm(name: "\(layer).ln1")
            try b.attention(heads: heads, causal: causal, scheme: scheme, name: "\(layer).attn")
            if p > 0 { try b.dropout(p: p, name: "\(layer).drop1") }
        }
        try residual(name: "\(layer).residual2") { b in
            try b.layerNorm(name: "\(layer).ln2")
            try b.linear(outputs: hidden, init: .geluTanh, scheme: scheme, name: "\(layer).fc")
            try b.activation(.geluTanh, name: "\(layer).gelu")
            try b.linear(outputs: d, scheme: scheme, name: "\(layer).out")
            if p > 0 { try b.dropout(p: p, name: "\(layer).drop2") }
        }
    }
}
