/// Elementwise functions of one tensor. Activations are among them; `scale` and `add` take a
/// constant, which backward rules and means need.
public enum UnaryOp: Hashable, Codable, Sendable {
    case neg, exp, log, sqrt, abs, square, reciprocal
    case relu, gelu, geluTanh, silu, sigmoid, tanh
    case leakyRelu(slope: Float)
    case scale(Float)
    case add(Float)

    /// The name used in model files, messages and the parity table.
    public var name: String {
        switch self {
        case .neg: return "neg"
        case .exp: return "exp"
        case .log: return "log"
        case .sqrt: return "sqrt"
        case .abs: return "abs"
        case .square: return "square"
        case .reciprocal: return "reciprocal"
        case .relu: return "relu"
        case .gelu: return "gelu"
        case .geluTanh: return "gelu_tanh"
        case .silu: return "silu"
        case .sigmoid: return "sigmoid"
        case .tanh: return "tanh"
        case .leakyRelu: return "leaky_relu"
        case .scale: return "scale"
        case .add: return "add_scalar"
        }
    }
}

/// Elementwise functions of two tensors whose shapes broadcast (NumPy's rules: aligned from
/// the last axis, a size-1 axis stretches).
public enum BinaryOp: String, Hashable, Codable, Sendable, CaseIterable {
    case add, sub, mul, div, maximum, minimum
    /// 1 where a == b, else 0 (the mask a max reduction's gradient flows through).
    case equal
}

public enum ReduceOp: String, Hashable, Codable, Sendable, CaseIterable {
    case sum, mean, max
    /// The index (as a float) of the first largest element.
    case argmax
}

/// One operation of the graph core. Each has a CPU reference (`ReferenceOps`), a shape rule
/// (`outputShapes`), and runs through `Backend.run`; a backend's `supports(op)` says whether it
/// has its own kernel. Inputs and outputs are listed with each case.
public enum Op: Hashable, Codable, Sendable {
    /// x → y.
    case unary(UnaryOp)
    /// x, dy → dx = dy · f'(x).
    case unaryGrad(UnaryOp)
    /// a, b → a ∘ b, broadcast.
    case binary(BinaryOp)
    /// x → the reduction along `axis`, which stays as size 1.
    case reduce(ReduceOp, axis: Int)
    /// x → x stretched to `shape` (broadcasting rules).
    case broadcast(to: [Int])
    /// x → x summed down to `shape` (the gradient of a broadcast).
    case sumTo([Int])
    /// a [..., m, k], b [..., k, n] → [..., m, n]; batch axes equal, or b of rank 2 shared.
    /// Transposes swap the last two axes of an operand.
    case matmul(transA: Bool, transB: Bool)
    /// x → the same elements in `shape` (one axis may be -1).
    case reshape([Int])
    /// x → axes reordered: output axis i is input axis perm[i].
    case permute([Int])
    /// x → `count` entries of `axis` from `start`.
    case slice(axis: Int, start: Int, count: Int)
    /// dy → zeros of `size` along `axis` with dy placed at `start` (the gradient of a slice).
    case unslice(axis: Int, start: Int, size: Int)
    /// x₁, x₂, … → joined along `axis`.
    case concat(axis: Int)
    /// x → softmax along `axis`.
    case softmax(axis: Int)
    /// x → log-softmax along `axis`.
    case logSoftmax(axis: Int)
    /// y, dy → dx, where y is the (log-)softmax's output.
    case softmaxGrad(axis: Int, log: Bool)
    /// x [..., C], gamma [C], beta [C] → y, mean [...,1], rstd [...,1] (normalized over the last axis).
    case layerNorm(epsilon: Float)
    /// x, gamma, mean, rstd, dy → dx, dgamma, dbeta.
    case layerNormGrad
    /// x → y, mask: each element kept with probability 1 − p and scaled by 1 / (1 − p); the
    /// mask holds that scale or 0. Uniforms are Philox(seed) words from `offset` blocks in.
    case dropout(p: Float, seed: UInt64, offset: UInt64)
    /// table [V, D], indices [...] (integers stored as floats) → [..., D].
    case gather
    /// values [..., D], indices [...] → [rows, D], rows of values summed into their index.
    case scatterAdd(rows: Int)
    /// x [..., C], bias [C] → y = f(x + bias), pre = x + bias: a dense layer's bias and
    /// activation through the fused kernel every backend has (the MLP's path, bit for bit).
    case biasActivation(Activation)
    /// pre, dy → dx = dy · f'(pre), dbias = Σ over rows of dx.
    case biasActivationGrad(Activation)
    /// x [rows, C, H, W], weight (`Conv2DGeometry.weightShape`) → y [rows, O, OH, OW]
    /// (PyTorch's conv2d, a cross-correlation, without bias).
    case conv2d(Conv2DGeometry)
    /// dy [rows, O, OH, OW], weight → dx [rows, C, H, W].
    case conv2dGradInput(Conv2DGeometry)
    /// x [rows, C, H, W], dy [rows, O, OH, OW] → dweight.
    case conv2dGradWeight(Conv2DGeometry)

    /// The convolution's geometry, for the three convolution ops.
    public var convolution: Conv2DGeometry? {
        switch self {
        case .conv2d(let g), .conv2dGradInput(let g), .conv2dGradWeight(let g): return g
        default: return nil
        }
    }

    /// The fused dense-layer ops, which run through every backend's own kernels.
    public var isDenseKernel: Bool {
        switch self {
        case .biasActivation, .biasActivationGrad: return true
        default: return false
        }
    }

    public var name: String {
        switch self {
        case .unary(let u): return u.name
        case .unaryGrad(let u): return u.name + "_grad"
        case .binary(let b): return b.rawValue
        case .reduce(let r, _): return "reduce_" + r.rawValue
        case .broadcast: return "broadcast"
        case .sumTo: return "sum_to"
        case .matmul: return "matmul"
        case .reshape: return "reshape"
        case .permute: return "permute"
        case .slice: return "slice"
        case .unslice: return "unslice"
        case .concat: return "concat"
        case .softmax: return "softmax"
        case .logSoftmax: return "log_softmax"
        case .softmaxGrad: return "softmax_grad"
        case .layerNorm: return "layer_norm"
        case .layerNormGrad: return "layer_norm_grad"
        case .dropout: return "dropout"
        case .gather: return "gather"
        case .scatterAdd: return "scatter_add"
        case .biasActivation(let f): return "bias_" + f.rawValue
        case .biasActivationGrad(let f): return "bias_" + f.rawValue + "_grad"
        case .conv2d: return "conv2d"
        case .conv2dGradInput: return "conv2d_grad_input"
        case .conv2dGradWeight: return "conv2d_grad_weight"
        }
    }
}
