/// One place kernels run: the CPU reference, SIMD (OpenBLAS) and Vulkan. Workloads are written
/// once against this protocol; what only some backends do is a capability protocol
/// (`BackendCapabilities.swift`).
///
/// Kernels are "enqueue" operations: an implementation may defer them (a GPU records a
/// sequence) as long as `read` returns the result of every kernel enqueued before it.
/// Shapes are row-major. Every kernel throws `BackendError.shapeMismatch` when the tensors it
/// is given do not have the element counts its arguments imply, and `.foreignTensor` for a
/// tensor made by another backend.
public protocol Backend: AnyObject, Sendable {
    /// "cpu", "simd", "vulkan".
    var name: String { get }
    /// A human description of the device, for logs and run records.
    var deviceDescription: String { get }
    /// What tells two backends' tensors apart: tensors made under one identity cannot be used
    /// under another (a device context, or the host).
    var deviceIdentity: String { get }
    /// The driver, for run records; nil for a host backend.
    var driverDescription: String? { get }
    /// A backend of the same kind on the same device, with a meter of its own (what a cache
    /// allocates through, so no task's agent is charged for what outlives its task).
    func sibling() throws -> Backend
    /// Whether this backend has its own kernel for a graph op (an op it declines still runs,
    /// through `runOnHost`: the CPU reference on the tensors' values).
    func supports(_ op: Op) -> Bool
    /// Whether ops of these input shapes run on this backend's kernels (a device may refuse a
    /// rank its kernels do not take); the default is `supports(op)`.
    func supports(_ op: Op, shapes: [[Int]]) -> Bool
    /// Runs a graph op; the outputs are new tensors of this backend (shapes: `Op.outputShapes`).
    func run(_ op: Op, _ inputs: [Tensor]) throws -> [Tensor]

    func tensor(_ values: [Float], shape: [Int]) throws -> Tensor
    func zeros(shape: [Int]) throws -> Tensor
    func read(_ t: Tensor) throws -> [Float]
    /// (optional) Several tensors at once: a device backend brings them back in one submission.
    func read(_ tensors: [Tensor]) throws -> [[Float]]
    func write(_ t: Tensor, _ values: [Float]) throws

    /// C = alpha · op(A) · op(B) + beta · C, where op(A) is m×k and op(B) is k×n.
    func gemm(
        _ a: Tensor, _ b: Tensor, _ c: Tensor, m: Int, n: Int, k: Int,
        transA: Bool, transB: Bool, alpha: Float, beta: Float) throws
    /// For b in 0..<batch: C_b = alpha · op(A_b) · op(B_b) + beta · C_b, where operand b starts
    /// at b·stride elements (stride 0 shares one operand across the batch).
    func gemmBatched(
        _ a: Tensor, _ b: Tensor, _ c: Tensor, batch: Int, m: Int, n: Int, k: Int,
        strideA: Int, strideB: Int, strideC: Int, transA: Bool, transB: Bool, alpha: Float, beta: Float) throws
    /// x[r, c] += bias[c] for an rows×cols x.
    func addBias(_ x: Tensor, _ bias: Tensor, rows: Int, cols: Int) throws
    /// x[r, c] += bias[c], then y = f(x): a dense layer's bias and activation fused, so the
    /// layer reads its output once more instead of twice. x keeps the pre-activation.
    func biasActivation(_ f: Activation, _ x: Tensor, _ bias: Tensor, _ y: Tensor, rows: Int, cols: Int) throws
    /// y = f(x), elementwise.
    func activation(_ f: Activation, _ x: Tensor, _ y: Tensor) throws
    /// dx = dy · f'(x), where x is the pre-activation.
    func activationBackward(_ f: Activation, _ x: Tensor, _ dy: Tensor, _ dx: Tensor) throws
    /// Row-wise softmax of rows×cols logits against integer class labels (stored as floats):
    /// losses[r] = −log p[r, label], grad = (p − onehot) / rows.
    func softmaxCrossEntropy(
        _ logits: Tensor, _ labels: Tensor, rows: Int, cols: Int,
        losses: Tensor, grad: Tensor) throws
    /// losses[r] = Σ_c (pred − target)² / cols, grad = 2 (pred − target) / (rows · cols).
    func mse(_ pred: Tensor, _ target: Tensor, rows: Int, cols: Int, losses: Tensor, grad: Tensor) throws
    /// out[c] = Σ_r x[r, c].
    func columnSum(_ x: Tensor, rows: Int, cols: Int, _ out: Tensor) throws
    /// out[r] = index of the largest x[r, c] (first one on ties).
    func rowArgmax(_ x: Tensor, rows: Int, cols: Int, _ out: Tensor) throws
    func sum(_ x: Tensor) throws -> Float
    func sumOfSquares(_ x: Tensor) throws -> Float
    /// x *= alpha.
    func scale(_ x: Tensor, _ alpha: Float) throws
    /// y += alpha · x.
    func axpy(_ alpha: Float, _ x: Tensor, _ y: Tensor) throws
    /// y = x (on the device: the bandwidth probe's kernel).
    func copy(_ x: Tensor, into y: Tensor) throws
    /// PyTorch's SGD: g += wd·p; v = μ·v + g; p −= lr·(nesterov ? g + μ·v : v).
    func sgdMomentum(
        param: Tensor, grad: Tensor, velocity: Tensor, learningRate: Float, momentum: Float, weightDecay: Float,
        nesterov: Bool) throws
    /// Adam with bias correction at step t (1-based); weightDecay > 0 gives AdamW's decoupled decay.
    func adam(
        param: Tensor, grad: Tensor, m: Tensor, v: Tensor, step: Int, learningRate: Float,
        beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float) throws
    /// PyTorch's RMSprop: g += wd·p; s = α·s + (1 − α)·g²; u = g / (√s + ε); with momentum
    /// b = μ·b + u and p −= lr·b, else p −= lr·u (`buffer` is left alone when μ is 0).
    func rmsprop(
        param: Tensor, grad: Tensor, square: Tensor, buffer: Tensor, learningRate: Float, alpha: Float, epsilon: Float,
        weightDecay: Float, momentum: Float) throws

    /// (optional) Per-kernel device time measured so far; the default is none.
    var kernelTimings: [KernelTiming] { get }
    /// (optional) Host↔device copies so far; the default is nil (no device to copy to).
    var transferStats: TransferStats? { get }
    /// (optional) The most bytes of tensors this backend held at once; nil where not counted.
    var tensorBytesPeak: Int? { get }
    /// (optional) The meter its tensors are counted by, where an agent's quota attaches.
    var tensorMeter: TensorMeter? { get }
    /// (optional) The algorithm `run` computes this convolution with; the default is direct.
    func convolutionAlgorithm(_ g: Conv2DGeometry) -> Conv2DAlgorithm
    /// (optional) The convolution ops by direct loops on this backend's own kernels; the
    /// default is the CPU reference (`runOnHost`).
    func convolveDirect(_ op: Op, _ inputs: [Tensor]) throws -> [Tensor]
}

extension Backend {
    /// Plain momentum without weight decay.
    public func sgdMomentum(param: Tensor, grad: Tensor, velocity: Tensor, learningRate: Float, momentum: Float) throws {
        try sgdMomentum(
            param: param, grad: grad, velocity: velocity, learningRate: learningRate, momentum: momentum, weightDecay: 0, nesterov: false)
    }

    public func read(_ tensors: [Tensor]) throws -> [[Float]] { try tensors.map { try read($0) } }
    public var kernelTimings: [KernelTiming] { [] }
    public var transferStats: TransferStats? { nil }
    public var tensorBytesPeak: Int? { nil }
    public var tensorMeter: TensorMeter? { nil }
    public func convolutionAlgorithm(_ g: Conv2DGeometry) -> Conv2DAlgorithm { .direct }
    public func convolveDirect(_ op: Op, _ inputs: [Tensor]) throws -> [Tensor] { try runOnHost(op, inputs) }

    /// A convolution op by the given algorithm, or by the one this backend prefers for it: how
    /// every backend's `run` computes the three convolution ops, and how `gpuflow-bench conv`
    /// sets the two side by side.
    public func convolve(_ op: Op, _ inputs: [Tensor], algorithm: Conv2DAlgorithm? = nil) throws -> [Tensor] {
        guard let g = op.convolution else { throw BackendError(.unsupported, "\(op.name) is not a convolution") }
        _ = try op.outputShapes(inputs.map(\.shape))
        switch algorithm ?? convolutionAlgorithm(g) {
        case .direct: return try convolveDirect(op, inputs)
        case .im2col: return try Conv2DLowering.run(op, inputs, on: self)
        }
    }

    /// A tensor of the given shape filled with one value.
    public func filled(_ value: Float, shape: [Int]) throws -> Tensor {
        try tensor([Float](repeating: value, count: shape.reduce(1, *)), shape: shape)
    }
}
