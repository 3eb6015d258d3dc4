/// Every op of the graph core at odd sizes, with inputs away from kinks and poles: the list the
/// gradient checks, the parity tests and `gpuflow-bench parity` (scripts/gpu-check on a GPU)
/// share (ggml's test-backend-ops in spirit: one list, every backend against the reference).
public struct OpSample: Sendable, CustomStringConvertible {
    public let label: String
    public let op: Op
    public let inputs: [HostArray]
    /// Inputs with a gradient (indices and masks have none).
    public let differentiable: [Int]
    public var description: String { label }
}

public enum OpSamples {
    /// Deterministic values in [lo, hi) whose magnitude is at least `away` (off kinks at 0).
    public static func values(_ n: Int, seed: UInt64, lo: Float = -2, hi: Float = 2, away: Float = 0) -> [Float] {
        var g = Philox(seed: seed)
        return (0..<n).map { _ in
            var v = lo + (hi - lo) * g.uniform()
            if Swift.abs(v) < away { v = v < 0 ? -away - Swift.abs(v) : away + v }
            return v
        }
    }

    static func a(_ shape: [Int], seed: UInt64, lo: Float = -2, hi: Float = 2, away: Float = 0) -> HostArray {
        HostArray(values(Shapes.count(shape), seed: seed, lo: lo, hi: hi, away: away), shape)
    }

    public static let all: [OpSample] = {
        var cases: [OpSample] = []
        func add(_ label: String, _ op: Op, _ inputs: [HostArray], grad: [Int]? = nil) {
            cases.append(OpSample(label: label, op: op, inputs: inputs, differentiable: grad ?? Array(inputs.indices)))
        }
        let unaries: [(UnaryOp, Float, Float, Float)] = [
            (.neg, -2, 2, 0), (.exp, -2, 2, 0), (.log, 0.3, 2, 0), (.sqrt, 0.3, 2, 0), (.abs, -2, 2, 0.2), (.square, -2, 2, 0),
            (.reciprocal, 0.5, 2, 0), (.relu, -2, 2, 0.2), (.leakyRelu(slope: 0.1), -2, 2, 0.2), (.gelu, -3, 3, 0), (.geluTanh, -3, 3, 0),
            (.silu, -3, 3, 0), (.sigmoid, -3, 3, 0), (.tanh, -2, 2, 0), (.scale(-0.7), -2, 2, 0), (.add(0.5), -2, 2, 0),
        ]
        for (i, (f, lo, hi, away)) in unaries.enumerated() {
            add(f.name, .unary(f), [a([3, 7], seed: UInt64(10 + i), lo: lo, hi: hi, away: away)])
        }
        for (i, f) in BinaryOp.allCases.enumerated() where f != .equal {
            let (lo, hi): (Float, Float) = f == .div ? (0.5, 2) : (-2, 2)
            add("\(f.rawValue) [3,5]·[5]", .binary(f), [a([3, 5], seed: UInt64(40 + i)), a([5], seed: UInt64(50 + i), lo: lo, hi: hi)])
            add(
                "\(f.rawValue) [2,1,3]·[4,1]", .binary(f),
                [a([2, 1, 3], seed: UInt64(60 + i)), a([4, 1], seed: UInt64(70 + i), lo: lo, hi: hi)])
        }
        add("equal", .binary(.equal), [HostArray([1, 2, 3, 4, 5, 6], [2, 3]), HostArray([1, 0, 3], [3])], grad: [])
        for r in ReduceOp.allCases {
            add("\(r.rawValue) axis 0 of [3,5]", .reduce(r, axis: 0), [a([3, 5], seed: 80)], grad: r == .argmax ? [] : nil)
            add("\(r.rawValue) axis -1 of [2,3,7]", .reduce(r, axis: -1), [a([2, 3, 7], seed: 81)], grad: r == .argmax ? [] : nil)
            add("\(r.rawValue) axis 1 of [2,3,7]", .reduce(r, axis: 1), [a([2, 3, 7], seed: 82)], grad: r == .argmax ? [] : nil)
            // Past 64 entries Vulkan reduces with a workgroup per output (a tree), below with a loop.
            add("\(r.rawValue) axis 0 of [70,3]", .reduce(r, axis: 0), [a([70, 3], seed: 83)], grad: [])
        }
        add("broadcast [3,1]→[2,3,4]", .broadcast(to: [2, 3, 4]), [a([3, 1], seed: 90)])
        add("sum_to [2,3,4]→[3,1]", .sumTo([3, 1]), [a([2, 3, 4], seed: 91)])
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let lhs = ta ? [5, 3] : [3, 5], rhs = tb ? [7, 5] : [5, 7]
            add(
                "matmul \(ta ? "Aᵀ" : "A")·\(tb ? "Bᵀ" : "B") 3×5×7", .matmul(transA: ta, transB: tb),
                [a(lhs, seed: 100), a(rhs, seed: 101)])
            add(
                "matmul batched \(ta ? "Aᵀ" : "A")·\(tb ? "Bᵀ" : "B")", .matmul(transA: ta, transB: tb),
                [a([2] + lhs, seed: 102), a([2] + rhs, seed: 103)])
            add(
                "matmul shared B \(ta ? "Aᵀ" : "A")·\(tb ? "Bᵀ" : "B")", .matmul(transA: ta, transB: tb),
                [a([2] + lhs, seed: 104), a(rhs, seed: 105)])
        }
        add("reshape [2,3,4]→[6,-1]", .reshape([6, -1]), [a([2, 3, 4], seed: 110)])
        add("permute [2,3,4] (2,0,1)", .permute([2, 0, 1]), [a([2, 3, 4], seed: 111)])
        add("slice axis 1 of [2,5,3]", .slice(axis: 1, start: 1, count: 3), [a([2, 5, 3], seed: 112)])
        add("unslice axis 1 into 6", .unslice(axis: 1, start: 2, size: 6), [a([2, 3, 3], seed: 113)])
        add("concat axis 1", .concat(axis: 1), [a([2, 3], seed: 114), a([2, 2], seed: 115), a([2, 1], seed: 116)])
        add("softmax axis -1", .softmax(axis: -1), [a([3, 7], seed: 120)])
        add("softmax axis 0", .softmax(axis: 0), [a([4, 3], seed: 121)])
        add("log_softmax axis -1", .logSoftmax(axis: -1), [a([3, 7], seed: 122)])
        add("log_softmax axis 1 of [2,3,4]", .logSoftmax(axis: 1), [a([2, 3, 4], seed: 123)])
        add("layer_norm [3,7]", .layerNorm(epsilon: 1e-5), [a([3, 7], seed: 130), a([7], seed: 131), a([7], seed: 132)])
        // Rows longer than one SIMD8 vector, with and without a tail, and the broadcasts a
        // transformer makes (a mask over heads, a row repeated on the left of a subtraction).
        add("softmax axis -1 of [3,19]", .softmax(axis: -1), [a([3, 19], seed: 124, lo: -4, hi: 4)])
        add("log_softmax axis -1 of [2,16]", .logSoftmax(axis: -1), [a([2, 16], seed: 125, lo: -4, hi: 4)])
        add("layer_norm [4,37]", .layerNorm(epsilon: 1e-5), [a([4, 37], seed: 133), a([37], seed: 134), a([37], seed: 135)])
        add("add [2,3,4,4]·[4,4]", .binary(.add), [a([2, 3, 4, 4], seed: 117), a([4, 4], seed: 118)])
        add("sub [1,9]·[3,9]", .binary(.sub), [a([1, 9], seed: 119), a([3, 9], seed: 126)])
        // The backward ops themselves, which the SIMD backend runs with its own loops (their
        // rules' results are checked by finite differences through the forward ops above).
        for (i, f) in [UnaryOp.geluTanh, .silu, .sigmoid, .tanh, .exp, .relu].enumerated() {
            add(
                "\(f.name) slope [3,11]", .unaryGrad(f),
                [a([3, 11], seed: UInt64(160 + i), away: 0.2), a([3, 11], seed: UInt64(170 + i))], grad: [])
        }
        let probabilities = HostArray(ReferenceOps.softmax(a([3, 19], seed: 180), axis: 1, log: false), [3, 19])
        add("softmax_grad axis -1 [3,19]", .softmaxGrad(axis: -1, log: false), [probabilities, a([3, 19], seed: 181)], grad: [])
        let logProbabilities = HostArray(ReferenceOps.softmax(a([3, 19], seed: 182), axis: 1, log: true), [3, 19])
        add("log_softmax_grad axis -1 [3,19]", .softmaxGrad(axis: -1, log: true), [logProbabilities, a([3, 19], seed: 183)], grad: [])
        let normed = a([4, 37], seed: 184),
            stats = ReferenceOps.layerNorm(
                normed, gamma: [Float](repeating: 1, count: 37), beta: [Float](repeating: 0, count: 37), epsilon: 1e-5)
        add(
            "layer_norm_grad [4,37]", .layerNormGrad,
            [normed, a([37], seed: 185), HostArray(stats[1], [4, 1]), HostArray(stats[2], [4, 1]), a([4, 37], seed: 186)], grad: [])
        add("dropout p 0.3", .dropout(p: 0.3, seed: 9, offset: 4), [a([5, 7], seed: 140)])
        add("gather [5,3] by [2,2]", .gather, [a([5, 3], seed: 150), HostArray([0, 2, 2, 4], [2, 2])], grad: [0])
        add("scatter_add into 5 rows", .scatterAdd(rows: 5), [a([4, 3], seed: 151), HostArray([4, 0, 4, 1], [4])], grad: [0])
        // Convolutions: padding, stride with dilation, groups (depthwise), a 1×1 kernel and a
        // window wider than the stride; each with its two gradient ops.
        let convolutions: [(String, Conv2DGeometry?)] = [
            ("3×3 p1", try? Conv2DGeometry(channels: 2, height: 5, width: 6, outputs: 3, kernel: (3, 3), padding: (1, 1))),
            (
                "s2 d2 p2×1",
                try? Conv2DGeometry(
                    channels: 3, height: 7, width: 6, outputs: 2, kernel: (3, 2), stride: (2, 1), padding: (2, 1), dilation: (2, 2))
            ),
            (
                "groups 2",
                try? Conv2DGeometry(
                    channels: 4, height: 5, width: 5, outputs: 6, kernel: (3, 3), stride: (2, 2), padding: (1, 1), groups: 2)
            ),
            ("depthwise", try? Conv2DGeometry(channels: 3, height: 4, width: 5, outputs: 3, kernel: (2, 3), padding: (0, 1), groups: 3)),
            ("1×1 s3", try? Conv2DGeometry(channels: 2, height: 6, width: 7, outputs: 4, kernel: (1, 1), stride: (3, 3))),
        ]
        for (i, (label, geometry)) in convolutions.enumerated() {
            guard let geometry else { continue }
            let s = UInt64(190 + 4 * i), image = [2] + geometry.inputShape, out = [2] + geometry.outputShape
            add("conv2d \(label)", .conv2d(geometry), [a(image, seed: s), a(geometry.weightShape, seed: s + 1)])
            add(
                "conv2d_grad_input \(label)", .conv2dGradInput(geometry), [a(out, seed: s + 2), a(geometry.weightShape, seed: s + 1)],
                grad: [])
            add("conv2d_grad_weight \(label)", .conv2dGradWeight(geometry), [a(image, seed: s), a(out, seed: s + 2)], grad: [])
        }
        return cases
    }()
}
