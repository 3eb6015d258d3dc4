import GPUFlowCompute

/// An MLP's weights living on one backend, with the forward and backward passes written once
/// against the `Backend` protocol.
final class NetworkOnBackend {
    let backend: Backend
    let layers: [MLPModel.Layer]
    var weights: [Tensor]
    var biases: [Tensor]

    /// Activations of one forward pass, kept for the backward pass.
    struct Pass {
        let rows: Int
        let input: Tensor
        var pre: [Tensor] = []
        var post: [Tensor] = []
        var output: Tensor { post.last ?? input }
    }

    /// The same weight tensors, run by another backend of the same device (a cached network
    /// serving a new task: its work is timed and metered on that task's backend).
    init(sharing other: NetworkOnBackend, on backend: Backend) {
        self.backend = backend
        layers = other.layers
        weights = other.weights
        biases = other.biases
    }

    init(_ model: MLPModel, on backend: Backend) throws {
        self.backend = backend
        self.layers = model.layers
        weights = try model.layers.map { try backend.tensor($0.weights, shape: [$0.inputs, $0.outputs]) }
        biases = try model.layers.map { try backend.tensor($0.bias, shape: [$0.outputs]) }
    }

    /// Activation buffers for batches of `rows`, which inference reuses batch after batch: one
    /// allocation (and, on the host, no page faults or zero fill) per run instead of per batch.
    /// Every buffer is overwritten whole by the pass (GEMM with beta 0, then bias+activation).
    struct Workspace {
        let rows: Int
        let pre: [Tensor]
        let post: [Tensor]
    }

    func workspace(rows: Int) throws -> Workspace {
        let pre = try layers.map { try backend.zeros(shape: [rows, $0.outputs]) }
        let post = try zip(layers, pre).map { l, p in l.activation == .identity ? p : try backend.zeros(shape: [rows, l.outputs]) }
        return Workspace(rows: rows, pre: pre, post: post)
    }

    /// The pass over `rows` rows of x; with a workspace of the same row count its buffers hold
    /// the activations (and are overwritten by the next pass), otherwise fresh tensors do.
    func forward(_ x: Tensor, rows: Int, workspace: Workspace? = nil) throws -> Pass {
        var pass = Pass(rows: rows, input: x)
        var current = x
        let reuse = workspace?.rows == rows ? workspace : nil
        for (i, l) in layers.enumerated() {
            let pre = try reuse?.pre[i] ?? backend.zeros(shape: [rows, l.outputs])
            try backend.gemm(
                current, weights[i], pre, m: rows, n: l.outputs, k: l.inputs,
                transA: false, transB: false, alpha: 1, beta: 0)
            let post: Tensor
            if l.activation == .identity {
                try backend.addBias(pre, biases[i], rows: rows, cols: l.outputs)
                post = pre
            } else {
                post = try reuse?.post[i] ?? backend.zeros(shape: [rows, l.outputs])
                try backend.biasActivation(l.activation, pre, biases[i], post, rows: rows, cols: l.outputs)
            }
            pass.pre.append(pre)
            pass.post.append(post)
            current = post
        }
        return pass
    }

    /// Gradients of the loss for every weight and bias, given dLoss/dOutput.
    func backward(_ pass: Pass, outputGrad: Tensor) throws -> (weights: [Tensor], biases: [Tensor]) {
        var gw = [Tensor?](repeating: nil, count: layers.count)
        var gb = [Tensor?](repeating: nil, count: layers.count)
        var grad = outputGrad  // dL/d(post of layer i)
        for i in stride(from: layers.count - 1, through: 0, by: -1) {
            let l = layers[i]
            let dPre: Tensor
            if l.activation == .identity {
                dPre = grad
            } else {
                dPre = try backend.zeros(shape: [pass.rows, l.outputs])
                try backend.activationBackward(l.activation, pass.pre[i], grad, dPre)
            }
            let input = i == 0 ? pass.input : pass.post[i - 1]
            let w = try backend.zeros(shape: [l.inputs, l.outputs])
            try backend.gemm(input, dPre, w, m: l.inputs, n: l.outputs, k: pass.rows, transA: true, transB: false, alpha: 1, beta: 0)
            let b = try backend.zeros(shape: [l.outputs])
            try backend.columnSum(dPre, rows: pass.rows, cols: l.outputs, b)
            gw[i] = w
            gb[i] = b
            if i > 0 {
                let dx = try backend.zeros(shape: [pass.rows, l.inputs])
                try backend.gemm(
                    dPre, weights[i], dx, m: pass.rows, n: l.inputs, k: l.outputs,
                    transA: false, transB: true, alpha: 1, beta: 0)
                grad = dx
            }
        }
        return (gw.compactMap { $0 }, gb.compactMap { $0 })
    }

    /// Reads the weights back into a new host model.
    func export() throws -> MLPModel {
        let values = try backend.read(weights + biases)
        let newLayers = layers.enumerated().map { i, l in
            MLPModel.Layer(
                inputs: l.inputs, outputs: l.outputs, weights: values[i], bias: values[layers.count + i], activation: l.activation)
        }
        return MLPModel(layers: newLayers)
    }
}
