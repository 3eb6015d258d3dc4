/// Every compute kernel: its shader, how many storage buffers it binds, the size of its push
/// constants (in 32-bit words; 128 bytes at most, the smallest budget Vulkan guarantees) and
/// the specialization constants chosen from the device's limits.
struct KernelSpec: Sendable {
    let name: String
    /// Distinguishes pipelines of one shader built with different specialization constants.
    let variant: String
    let bindings: Int
    let pushWords: Int
    let specialization: @Sendable (VulkanContext) -> [UInt32]

    init(
        name: String, variant: String = "", bindings: Int, pushWords: Int,
        specialization: @escaping @Sendable (VulkanContext) -> [UInt32]
    ) {
        self.name = name
        self.variant = variant
        self.bindings = bindings
        self.pushWords = pushWords
        self.specialization = specialization
    }

    /// The key a built pipeline is cached under.
    var key: String { variant.isEmpty ? name : "\(name)/\(variant)" }

    static let maxPushBytes = 128

    static let elementwise: @Sendable (VulkanContext) -> [UInt32] = { [$0.elementWorkgroup] }

    /// Threads per workgroup of the reduction (a power of two for its tree) and items per thread.
    static func reductionShape(_ c: VulkanContext) -> (workgroup: UInt32, items: UInt32) {
        var wg: UInt32 = 1
        while wg * 2 <= c.elementWorkgroup { wg *= 2 }
        return (wg, 8)
    }

    /// Outputs per invocation per side of the register-blocked GEMM.
    static let gemmRegisterBlock: UInt32 = 4

    /// GEMM's transposes are specialization constants 3 and 4: four pipelines, no branch per load.
    /// `tile` nil takes the device's choice; a number builds (and caches) that tile's pipeline.
    static func gemm(transA: Bool, transB: Bool, tile: UInt32? = nil) -> KernelSpec {
        KernelSpec(
            name: "gemm", variant: "\(transA ? "t" : "n")\(transB ? "t" : "n")\(tile.map { "/\($0)" } ?? "")", bindings: 3, pushWords: 5
        ) {
            let t = tile ?? $0.gemmTile
            return [t, t, t, transA ? 1 : 0, transB ? 1 : 0, gemmRegisterBlock]
        }
    }
    static let gemm = gemm(transA: false, transB: false)

    /// The one-output-per-invocation GEMM, for products too small to fill 64×64 blocks.
    static func gemmTiled(transA: Bool, transB: Bool, tile: UInt32? = nil) -> KernelSpec {
        KernelSpec(
            name: "gemm_tiled", variant: "\(transA ? "t" : "n")\(transB ? "t" : "n")\(tile.map { "/\($0)" } ?? "")", bindings: 3,
            pushWords: 5
        ) {
            let t = tile ?? $0.gemmTile
            return [t, t, t, transA ? 1 : 0, transB ? 1 : 0]
        }
    }
    static let gemmTiledPlain = gemmTiled(transA: false, transB: false)

    static func gemmBatched(transA: Bool, transB: Bool) -> KernelSpec {
        KernelSpec(name: "gemm_batched", variant: "\(transA ? "t" : "n")\(transB ? "t" : "n")", bindings: 3, pushWords: 8) {
            [$0.gemmTile, $0.gemmTile, $0.gemmTile, transA ? 1 : 0, transB ? 1 : 0]
        }
    }
    static let gemmBatchedPlain = gemmBatched(transA: false, transB: false)
    static let biasAdd = KernelSpec(name: "bias_add", bindings: 2, pushWords: 2, specialization: elementwise)
    static let biasActivation = KernelSpec(name: "bias_activation", bindings: 3, pushWords: 3, specialization: elementwise)
    static let activation = KernelSpec(name: "activation", bindings: 2, pushWords: 2, specialization: elementwise)
    static let activationBackward = KernelSpec(name: "activation_backward", bindings: 3, pushWords: 2, specialization: elementwise)
    static let softmaxXent = KernelSpec(name: "softmax_xent", bindings: 4, pushWords: 2, specialization: elementwise)
    static let mse = KernelSpec(name: "mse", bindings: 4, pushWords: 2, specialization: elementwise)
    static let columnSum = KernelSpec(name: "column_sum", bindings: 2, pushWords: 2, specialization: elementwise)
    static let rowArgmax = KernelSpec(name: "row_argmax", bindings: 2, pushWords: 2, specialization: elementwise)
    static let reduceSum = KernelSpec(name: "reduce_sum", bindings: 2, pushWords: 2) { c in
        let s = reductionShape(c)
        return [s.workgroup, s.items]
    }
    static let scale = KernelSpec(name: "scale", bindings: 1, pushWords: 2, specialization: elementwise)
    static let axpy = KernelSpec(name: "axpy", bindings: 2, pushWords: 2, specialization: elementwise)
    static let copy = KernelSpec(name: "copy", bindings: 2, pushWords: 1, specialization: elementwise)
    static let sgdMomentum = KernelSpec(name: "sgd_momentum", bindings: 3, pushWords: 5, specialization: elementwise)
    static let adam = KernelSpec(name: "adam", bindings: 4, pushWords: 8, specialization: elementwise)
    static let rmsprop = KernelSpec(name: "rmsprop", bindings: 4, pushWords: 6, specialization: elementwise)
    static let philoxUniform = KernelSpec(name: "philox_uniform", bindings: 1, pushWords: 5, specialization: elementwise)

    static let unary = KernelSpec(name: "unary", bindings: 2, pushWords: 3, specialization: elementwise)
    static let unaryGrad = KernelSpec(name: "unary_grad", bindings: 3, pushWords: 3, specialization: elementwise)
    static let binary = KernelSpec(name: "binary", bindings: 3, pushWords: 21, specialization: elementwise)
    static let stridedCopy = KernelSpec(name: "strided_copy", bindings: 2, pushWords: 22, specialization: elementwise)
    static let gatherRows = KernelSpec(name: "gather_rows", bindings: 3, pushWords: 2, specialization: elementwise)
    static let scatterAddRows = KernelSpec(name: "scatter_add_rows", bindings: 3, pushWords: 3, specialization: elementwise)
    static let dropout = KernelSpec(name: "dropout", bindings: 3, pushWords: 6, specialization: elementwise)
    /// One workgroup per row or output, a power of two for the shared-memory tree.
    static let rowWorkgroup: @Sendable (VulkanContext) -> [UInt32] = { [reductionShape($0).workgroup] }
    static let reduceAxis = KernelSpec(name: "reduce_axis", bindings: 2, pushWords: 5, specialization: rowWorkgroup)
    static let reduceAxisSerial = KernelSpec(name: "reduce_axis_serial", bindings: 2, pushWords: 4, specialization: elementwise)
    static let softmaxAxis = KernelSpec(name: "softmax_axis", bindings: 2, pushWords: 5, specialization: rowWorkgroup)
    static let softmaxGradAxis = KernelSpec(name: "softmax_grad_axis", bindings: 3, pushWords: 5, specialization: rowWorkgroup)
    static let layerNorm = KernelSpec(name: "layer_norm", bindings: 6, pushWords: 4, specialization: rowWorkgroup)
    static let layerNormGrad = KernelSpec(name: "layer_norm_grad", bindings: 7, pushWords: 3, specialization: rowWorkgroup)

    static let conv2d = KernelSpec(name: "conv2d", bindings: 3, pushWords: 18, specialization: elementwise)
    static let conv2dGradInput = KernelSpec(name: "conv2d_grad_input", bindings: 3, pushWords: 18, specialization: elementwise)
    static let conv2dGradWeight = KernelSpec(name: "conv2d_grad_weight", bindings: 3, pushWords: 18, specialization: elementwise)

    static let all: [KernelSpec] = [
        gemm, gemmTiledPlain, gemmBatchedPlain, biasAdd, biasActivation, activation, activationBackward, softmaxXent, mse, columnSum,
        rowArgmax,
        reduceSum, scale, axpy, copy, sgdMomentum, adam, rmsprop, philoxUniform, unary, unaryGrad, binary, stridedCopy,
        gatherRows, scatterAddRows, dropout, reduceAxis, reduceAxisSerial, softmaxAxis, softmaxGradAxis, layerNorm, layerNormGrad,
        conv2d, conv2dGradInput, conv2dGradWeight,
    ]
}
