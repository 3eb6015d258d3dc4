import CVulkan
import Foundation

/// The Backend protocol on a Vulkan device: every kernel is a SPIR-V compute shader
/// (Shaders/*.comp), recorded into one command sequence and submitted when the host needs a
/// result. One backend per task (its own sequence); the device context is shared.
public final class VulkanBackend: Backend, DeviceMemoryPooling, GEMMTileTuning, @unchecked Sendable {
    public let context: VulkanContext
    let sequence: VulkanSequence
    public let name = "vulkan"
    public var deviceDescription: String { "\(context.info.name) (\(context.info.type), \(context.info.driverName))" }

    /// Loop iterations one shader invocation may run. lavapipe silently cuts loops after 65,535
    /// iterations per invocation; staying well below keeps results right on every driver.
    static let maxLoop = 60_000

    /// The GEMM workgroup side (TILE×TILE invocations) this backend uses; nil takes the device's
    /// choice. The optimizer searches it; each value is its own pipeline.
    public var gemmTile: UInt32? {
        didSet {
            if let t = gemmTile, ![4, 8, 16].contains(t) || t * t > context.info.maxWorkgroupInvocations { gemmTile = oldValue }
        }
    }

    /// Injected faults for tests of the fallback path; nil in normal runs.
    let faults: FaultInjector?

    public init(context: VulkanContext, faults: FaultInjector? = nil) throws {
        self.context = context
        self.faults = faults
        sequence = try VulkanSequence(context: context)
    }

    /// One device context, not only one device name: tensors of another context cannot be used.
    public var deviceIdentity: String { "vulkan/\(ObjectIdentifier(context))" }
    public var driverDescription: String? {
        "\(context.info.driverName) \(context.info.driverInfo) (Vulkan \(context.info.apiVersion))"
    }
    public func sibling() throws -> Backend { try VulkanBackend(context: context) }
    public var deviceContext: VulkanContext { context }
    public var gemmTiles: [Int] { [4, 8, 16].filter { $0 * $0 <= Int(context.info.maxWorkgroupInvocations) } }

    public var kernelTimings: [KernelTiming] { sequence.timings.values.sorted { $0.totalNS > $1.totalNS } }
    public var transferStats: TransferStats? {
        var t = transfers
        t.uploadDeviceSeconds = sequence.copies[.upload].map { $0.ns / 1e9 }
        t.downloadDeviceSeconds = sequence.copies[.download].map { $0.ns / 1e9 }
        return t
    }
    private let meter = TensorMeter()
    public var tensorBytesPeak: Int? { meter.peakBytes }
    public var tensorMeter: TensorMeter? { meter }
    private var transfers = TransferStats()

    /// Submits this backend's recorded work, then compacts the device's tensor pool.
    public func defragment() throws -> DefragmentationResult {
        try sequence.flush()
        return try context.defragment()
    }

    /// Dispatches recorded and submissions made so far, for tests and monitoring.
    public var recordedDispatches: Int { sequence.recordedDispatches }
    public var submissions: Int { sequence.submissions }

    // MARK: tensors

    public func tensor(_ values: [Float], shape: [Int]) throws -> Tensor {
        guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) == values.count else {
            throw BackendError(.shapeMismatch, "tensor: shape \(shape) does not hold \(values.count) values")
        }
        // Vulkan has no empty buffers; an empty tensor still owns one float nobody reads.
        let b = try VulkanBuffer(context: context, bytes: max(4, values.count * 4), meter: meter)
        try upload(values, into: b)
        return Tensor(shape: shape, storage: b, backendName: name)
    }

    public func zeros(shape: [Int]) throws -> Tensor {
        let count = shape.reduce(1, *)
        guard shape.allSatisfy({ $0 >= 0 }) else { throw BackendError(.shapeMismatch, "zeros: negative dimension in \(shape)") }
        let b = try VulkanBuffer(context: context, bytes: max(4, count * 4), meter: meter)
        if let host = b.mapped {
            host.initializeMemory(as: UInt8.self, repeating: 0, count: b.size)
        } else {
            try sequence.fillZero(b)
        }
        return Tensor(shape: shape, storage: b, backendName: name)
    }

    public func read(_ t: Tensor) throws -> [Float] { try read([t])[0] }

    /// On the staged path every tensor is copied into a staging buffer by commands recorded
    /// after the kernels, and one submission brings them all back.
    public func read(_ tensors: [Tensor]) throws -> [[Float]] {
        let buffers = try tensors.map { try buffer($0, "read") }
        var sources: [VulkanBuffer] = []
        for (t, b) in zip(tensors, buffers) {
            if b.mapped != nil {
                sources.append(b)
            } else {
                let staging = try VulkanBuffer(context: context, bytes: b.size, role: .staging)
                try sequence.copy(from: b, to: staging, bytes: max(4, t.count * 4), kind: .download)
                sources.append(staging)
            }
        }
        try sequence.flush()
        let start = DispatchTime.now().uptimeNanoseconds
        let out = zip(tensors, sources).map { t, b -> [Float] in
            guard let host = b.mapped else { return [] }
            return Array(UnsafeBufferPointer(start: host.assumingMemoryBound(to: Float.self), count: t.count))
        }
        transfers.downloads += tensors.count
        transfers.downloadBytes += tensors.reduce(0) { $0 + $1.count * 4 }
        transfers.downloadSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return out
    }

    public func write(_ t: Tensor, _ values: [Float]) throws {
        let b = try buffer(t, "write")
        guard values.count == t.count else {
            throw BackendError(.shapeMismatch, "write: tensor holds \(t.count) values, got \(values.count)")
        }
        try upload(values, into: b)
    }

    /// Mapped path: a copy into the buffer's memory, after the recorded kernels that use it have
    /// run. Staged path: a copy into a staging buffer and a recorded transfer, ordered with the
    /// kernels inside the sequence, so nothing waits.
    private func upload(_ values: [Float], into b: VulkanBuffer) throws {
        let start = DispatchTime.now().uptimeNanoseconds
        let target: VulkanBuffer
        if b.mapped != nil {
            if sequence.isPending(b) { try sequence.flush() }  // recorded kernels still read or write it
            target = b
        } else {
            target = try VulkanBuffer(context: context, bytes: b.size, role: .staging)
        }
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress, let host = target.mapped { host.copyMemory(from: base, byteCount: values.count * 4) }
        }
        if target !== b { try sequence.copy(from: target, to: b, bytes: max(4, values.count * 4), kind: .upload) }
        transfers.uploads += 1
        transfers.uploadBytes += values.count * 4
        transfers.uploadSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    func buffer(_ t: Tensor, _ op: String) throws -> VulkanBuffer {
        let b = try t.storage(as: VulkanBuffer.self, backend: name, op)
        guard b.context === context else {
            throw BackendError(.foreignTensor, "\(op): tensor lives on another Vulkan device")
        }
        return b
    }

    func buffer(_ t: Tensor, _ count: Int, _ op: String, _ role: String) throws -> VulkanBuffer {
        let b = try buffer(t, op)
        try t.require(count, op, role)
        return b
    }

    func loop(_ n: Int, _ op: String, _ what: String) throws {
        guard n <= Self.maxLoop else {
            throw BackendError(
                .unsupported, "\(op): \(what) = \(n) exceeds the \(Self.maxLoop) loop iterations one shader invocation may run")
        }
    }

    func groups(_ count: Int, _ op: String) throws -> (UInt32, UInt32, UInt32) {
        let wg = Int(context.elementWorkgroup)
        let n = (count + wg - 1) / wg
        guard n <= 65_535 else {
            throw BackendError(.unsupported, "\(op): \(count) elements need more than 65,535 workgroups")
        }
        return (UInt32(n), 1, 1)
    }

    func run(_ spec: KernelSpec, _ buffers: [VulkanBuffer], _ push: [UInt32], _ groups: (UInt32, UInt32, UInt32)) throws {
        try faults?.beforeDispatch(spec.name)
        try sequence.dispatch(context.kernel(spec), buffers, push: push, groups: groups)
    }

    func u(_ v: Int) -> UInt32 { UInt32(truncatingIfNeeded: v) }
    func f(_ v: Float) -> UInt32 { v.bitPattern }

    // MARK: kernels

    public func gemm(
        _ a: Tensor, _ b: Tensor, _ c: Tensor, m: Int, n: Int, k: Int,
        transA: Bool, transB: Bool, alpha: Float, beta: Float
    ) throws {
        let ba = try buffer(a, m * k, "gemm", "A"), bb = try buffer(b, k * n, "gemm", "B"), bc = try buffer(c, m * n, "gemm", "C")
        guard k <= 32_768 else {  // ≈ K·(1 + 1/16) loop iterations per invocation
            throw BackendError(.unsupported, "gemm: K = \(k) exceeds the 32,768 one register-blocked invocation may loop over")
        }
        // Register-blocked when both output dimensions fill a block; else one output per invocation.
        let side = gemmTile ?? context.gemmTile
        let block = Int(side * KernelSpec.gemmRegisterBlock)
        let blocked = m >= block && n >= block
        let tile = blocked ? block : Int(side)
        let spec =
            blocked
            ? KernelSpec.gemm(transA: transA, transB: transB, tile: gemmTile)
            : KernelSpec.gemmTiled(transA: transA, transB: transB, tile: gemmTile)
        try run(spec, [ba, bb, bc], [u(m), u(n), u(k), f(alpha), f(beta)], (u((n + tile - 1) / tile), u((m + tile - 1) / tile), 1))
    }

    public func gemmBatched(
        _ a: Tensor, _ b: Tensor, _ c: Tensor, batch: Int, m: Int, n: Int, k: Int,
        strideA: Int, strideB: Int, strideC: Int, transA: Bool, transB: Bool, alpha: Float, beta: Float
    ) throws {
        try BatchedShapes.check(a, b, c, batch: batch, m: m, n: n, k: k, strideA: strideA, strideB: strideB, strideC: strideC)
        let ba = try buffer(a, "gemmBatched"), bb = try buffer(b, "gemmBatched"), bc = try buffer(c, "gemmBatched")
        try loop(k, "gemmBatched", "K")
        guard batch <= 65_535 else { throw BackendError(.unsupported, "gemmBatched: batch \(batch) exceeds 65,535 workgroups in z") }
        let tile = Int(context.gemmTile)
        try run(
            .gemmBatched(transA: transA, transB: transB), [ba, bb, bc],
            [u(m), u(n), u(k), u(strideA), u(strideB), u(strideC), f(alpha), f(beta)],
            (u((n + tile - 1) / tile), u((m + tile - 1) / tile), u(batch)))
    }

    public func addBias(_ x: Tensor, _ bias: Tensor, rows: Int, cols: Int) throws {
        let bx = try buffer(x, rows * cols, "addBias", "x"), bb = try buffer(bias, cols, "addBias", "bias")
        try run(.biasAdd, [bx, bb], [u(rows), u(cols)], groups(rows * cols, "addBias"))
    }

    public func biasActivation(_ fn: Activation, _ x: Tensor, _ bias: Tensor, _ y: Tensor, rows: Int, cols: Int) throws {
        let bx = try buffer(x, rows * cols, "biasActivation", "x"), bb = try buffer(bias, cols, "biasActivation", "bias")
        let by = try buffer(y, rows * cols, "biasActivation", "y")
        try run(.biasActivation, [bx, bb, by], [u(rows), u(cols), activationIndex(fn)], groups(rows * cols, "biasActivation"))
    }

    private func activationIndex(_ f: Activation) -> UInt32 {
        switch f {
        case .identity: return 0
        case .relu: return 1
        case .tanh: return 2
        case .sigmoid: return 3
        case .gelu: return 4
        }
    }

    public func activation(_ fn: Activation, _ x: Tensor, _ y: Tensor) throws {
        let bx = try buffer(x, "activation"), by = try buffer(y, x.count, "activation", "y")
        try run(.activation, [bx, by], [u(x.count), activationIndex(fn)], groups(x.count, "activation"))
    }

    public func activationBackward(_ fn: Activation, _ x: Tensor, _ dy: Tensor, _ dx: Tensor) throws {
        let bx = try buffer(x, "activationBackward")
        let bdy = try buffer(dy, x.count, "activationBackward", "dy"), bdx = try buffer(dx, x.count, "activationBackward", "dx")
        try run(.activationBackward, [bx, bdy, bdx], [u(x.count), activationIndex(fn)], groups(x.count, "activationBackward"))
    }

    public func softmaxCrossEntropy(
        _ logits: Tensor, _ labels: Tensor, rows: Int, cols: Int,
        losses: Tensor, grad: Tensor
    ) throws {
        let bl = try buffer(logits, rows * cols, "softmaxCrossEntropy", "logits")
        let by = try buffer(labels, rows, "softmaxCrossEntropy", "labels")
        let bloss = try buffer(losses, rows, "softmaxCrossEntropy", "losses")
        let bg = try buffer(grad, rows * cols, "softmaxCrossEntropy", "grad")
        try loop(3 * cols, "softmaxCrossEntropy", "3 × cols")
        // On the mapped path labels are checked on the host, as the CPU reference does; they are
        // almost always a fresh upload, so this reads without waiting for the device. On the staged
        // path a label outside 0..<cols shows as a NaN loss, which the trainer refuses.
        if let host = by.mapped {
            if sequence.isPending(by) { try sequence.flush() }
            try ClassLabels.check(UnsafeBufferPointer(start: host.assumingMemoryBound(to: Float.self), count: rows), cols: cols)
        }
        try run(.softmaxXent, [bl, by, bloss, bg], [u(rows), u(cols)], groups(rows, "softmaxCrossEntropy"))
    }

    public func mse(_ pred: Tensor, _ target: Tensor, rows: Int, cols: Int, losses: Tensor, grad: Tensor) throws {
        let bp = try buffer(pred, rows * cols, "mse", "pred"), bt = try buffer(target, rows * cols, "mse", "target")
        let bl = try buffer(losses, rows, "mse", "losses"), bg = try buffer(grad, rows * cols, "mse", "grad")
        try loop(cols, "mse", "cols")
        try run(.mse, [bp, bt, bl, bg], [u(rows), u(cols)], groups(rows, "mse"))
    }

    public func columnSum(_ x: Tensor, rows: Int, cols: Int, _ out: Tensor) throws {
        let bx = try buffer(x, rows * cols, "columnSum", "x"), bo = try buffer(out, cols, "columnSum", "out")
        try loop(rows, "columnSum", "rows")
        try run(.columnSum, [bx, bo], [u(rows), u(cols)], groups(cols, "columnSum"))
    }

    public func rowArgmax(_ x: Tensor, rows: Int, cols: Int, _ out: Tensor) throws {
        let bx = try buffer(x, rows * cols, "rowArgmax", "x"), bo = try buffer(out, rows, "rowArgmax", "out")
        try loop(cols, "rowArgmax", "cols")
        try run(.rowArgmax, [bx, bo], [u(rows), u(cols)], groups(rows, "rowArgmax"))
    }

    public func sum(_ x: Tensor) throws -> Float { try reduce(x, square: false) }

    public func sumOfSquares(_ x: Tensor) throws -> Float { try reduce(x, square: true) }

    /// Tree reduction in passes over partial sums, in a fixed order: repeatable bit for bit.
    private func reduce(_ x: Tensor, square: Bool) throws -> Float {
        var current = try buffer(x, "sum")
        var count = x.count
        if count == 0 { return 0 }
        let shape = KernelSpec.reductionShape(context)
        let perGroup = Int(shape.workgroup * shape.items)
        var first = true
        repeat {
            let groupsNeeded = (count + perGroup - 1) / perGroup
            guard groupsNeeded <= 65_535 else { throw BackendError(.unsupported, "sum: \(count) elements is too many for one pass") }
            let partial = try VulkanBuffer(context: context, bytes: groupsNeeded * 4)
            try run(.reduceSum, [current, partial], [u(count), square && first ? 1 : 0], (u(groupsNeeded), 1, 1))
            current = partial
            count = groupsNeeded
            first = false
        } while count > 1
        let result = Tensor(shape: [1], storage: current, backendName: name)
        return try read(result).first ?? 0
    }

    public func scale(_ x: Tensor, _ alpha: Float) throws {
        let bx = try buffer(x, "scale")
        try run(.scale, [bx], [u(x.count), f(alpha)], groups(x.count, "scale"))
    }

    public func axpy(_ alpha: Float, _ x: Tensor, _ y: Tensor) throws {
        let bx = try buffer(x, "axpy"), by = try buffer(y, x.count, "axpy", "y")
        try run(.axpy, [bx, by], [u(x.count), f(alpha)], groups(x.count, "axpy"))
    }

    public func copy(_ x: Tensor, into y: Tensor) throws {
        let bx = try buffer(x, "copy"), by = try buffer(y, x.count, "copy", "y")
        try run(.copy, [bx, by], [u(x.count)], groups(x.count, "copy"))
    }

    public func sgdMomentum(
        param: Tensor, grad: Tensor, velocity: Tensor, learningRate: Float, momentum: Float, weightDecay: Float,
        nesterov: Bool
    ) throws {
        let bp = try buffer(param, "sgdMomentum")
        let bg = try buffer(grad, param.count, "sgdMomentum", "grad"), bv = try buffer(velocity, param.count, "sgdMomentum", "velocity")
        try run(
            .sgdMomentum, [bp, bg, bv], [u(param.count), f(learningRate), f(momentum), f(weightDecay), nesterov ? 1 : 0],
            groups(param.count, "sgdMomentum"))
    }

    public func adam(
        param: Tensor, grad: Tensor, m: Tensor, v: Tensor, step: Int, learningRate: Float,
        beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float
    ) throws {
        let bp = try buffer(param, "adam")
        let bg = try buffer(grad, param.count, "adam", "grad")
        let bm = try buffer(m, param.count, "adam", "m"), bv = try buffer(v, param.count, "adam", "v")
        let c1 = 1 - pow(beta1, Float(step)), c2 = 1 - pow(beta2, Float(step))
        try run(
            .adam, [bp, bg, bm, bv],
            [u(param.count), f(learningRate), f(beta1), f(beta2), f(epsilon), f(weightDecay), f(c1), f(c2)],
            groups(param.count, "adam"))
    }

    public func rmsprop(
        param: Tensor, grad: Tensor, square: Tensor, buffer momentumBuffer: Tensor, learningRate: Float, alpha: Float,
        epsilon: Float, weightDecay: Float, momentum: Float
    ) throws {
        let bp = try buffer(param, "rmsprop"), bg = try buffer(grad, param.count, "rmsprop", "grad")
        let bs = try buffer(square, param.count, "rmsprop", "square")
        let bb = try buffer(momentumBuffer, param.count, "rmsprop", "buffer")
        try run(
            .rmsprop, [bp, bg, bs, bb],
            [u(param.count), f(learningRate), f(alpha), f(epsilon), f(weightDecay), f(momentum)], groups(param.count, "rmsprop"))
    }

    /// Fills `x` with Philox4x32-10 uniforms in [0, 1): element i is word i of Philox's stream
    /// for `seed`, starting `offset` 128-bit blocks in — the same numbers as Swift's `Philox`.
    public func fillUniform(_ x: Tensor, seed: UInt64, offset: UInt64 = 0) throws {
        let bx = try buffer(x, "fillUniform")
        try run(
            .philoxUniform, [bx],
            [
                u(x.count), UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32),
                UInt32(truncatingIfNeeded: offset), UInt32(truncatingIfNeeded: offset >> 32),
            ],
            groups(x.count, "fillUniform"))
    }
}
