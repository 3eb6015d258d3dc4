extension Op {
    /// The inputs an op takes (nil: any number, at least one).
    public var inputCount: Int? {
        switch self {
        case .unary, .reduce, .broadcast, .sumTo, .reshape, .permute, .slice, .unslice, .softmax, .logSoftmax, .dropout: return 1
        case .unaryGrad, .binary, .matmul, .softmaxGrad, .gather, .scatterAdd, .biasActivation, .biasActivationGrad,
            .conv2d, .conv2dGradInput, .conv2dGradWeight:
            return 2
        case .layerNorm: return 3
        case .layerNormGrad: return 5
        case .concat: return nil
        }
    }

    /// The shapes of the op's outputs for inputs of these shapes; throws a shape mismatch that
    /// names the op and what does not fit. Every backend and the graph builder call this, so a
    /// model whose shapes do not fit is refused when it is built, not in the middle of a step.
    public func outputShapes(_ inputs: [[Int]]) throws -> [[Int]] {
        if let n = inputCount, inputs.count != n { throw fail("takes \(n) input\(n == 1 ? "" : "s"), got \(inputs.count)") }
        if inputs.isEmpty { throw fail("takes at least one input") }
        if let bad = inputs.first(where: { $0.contains { $0 < 0 } }) { throw fail("negative size in shape \(bad)") }
        let x = inputs[0]
        switch self {
        case .unary:
            return [x]
        case .unaryGrad, .softmaxGrad:
            guard inputs[1] == x else { throw fail("the gradient's shape \(inputs[1]) differs from the input's \(x)") }
            if case .softmaxGrad(let axis, _) = self { _ = try Shapes.axis(axis, rank: x.count, name) }
            return [x]
        case .binary:
            guard let s = Shapes.broadcast(x, inputs[1]) else { throw fail("shapes \(x) and \(inputs[1]) do not broadcast") }
            return [s]
        case .reduce(_, let axis):
            let a = try Shapes.axis(axis, rank: x.count, name)
            guard x[a] > 0 else { throw fail("axis \(axis) of \(x) is empty") }
            var s = x
            s[a] = 1
            return [s]
        case .broadcast(let target):
            guard Shapes.broadcast(x, target) == target else { throw fail("shape \(x) does not broadcast to \(target)") }
            return [target]
        case .sumTo(let target):
            guard Shapes.broadcast(target, x) == x else { throw fail("shape \(x) does not sum down to \(target)") }
            return [target]
        case .matmul(let ta, let tb):
            let b = inputs[1]
            guard x.count >= 2, b.count >= 2 else { throw fail("operands need rank 2 or more, got \(x) and \(b)") }
            let (m, k) = ta ? (x[x.count - 1], x[x.count - 2]) : (x[x.count - 2], x[x.count - 1])
            let (kb, n) = tb ? (b[b.count - 1], b[b.count - 2]) : (b[b.count - 2], b[b.count - 1])
            guard k == kb else { throw fail("inner sizes differ: \(x)\(ta ? "ᵀ" : "") · \(b)\(tb ? "ᵀ" : "") (\(k) vs \(kb))") }
            let batchA = Array(x.dropLast(2)), batchB = Array(b.dropLast(2))
            guard batchB.isEmpty || batchA == batchB else { throw fail("batch axes \(batchA) and \(batchB) differ") }
            return [batchA + [m, n]]
        case .reshape(let target):
            let known = target.filter { $0 != -1 }
            guard target.filter({ $0 == -1 }).count <= 1, known.allSatisfy({ $0 >= 0 }) else {
                throw fail("shape \(target) may hold one -1 and sizes ≥ 0")
            }
            var s = target
            if let i = target.firstIndex(of: -1) {
                let rest = Shapes.count(known)
                guard rest > 0, Shapes.count(x) % rest == 0 else { throw fail("\(Shapes.count(x)) elements do not fill \(target)") }
                s[i] = Shapes.count(x) / rest
            }
            guard Shapes.count(s) == Shapes.count(x) else { throw fail("\(x) (\(Shapes.count(x)) elements) cannot become \(target)") }
            return [s]
        case .permute(let perm):
            guard perm.sorted() == Array(0..<x.count) else { throw fail("\(perm) is not a permutation of the \(x.count) axes of \(x)") }
            return [perm.map { x[$0] }]
        case .slice(let axis, let start, let count):
            let a = try Shapes.axis(axis, rank: x.count, name)
            guard start >= 0, count >= 0, start + count <= x[a] else {
                throw fail("entries \(start)..<\(start + count) of axis \(axis) (size \(x[a]))")
            }
            var s = x
            s[a] = count
            return [s]
        case .unslice(let axis, let start, let size):
            let a = try Shapes.axis(axis, rank: x.count, name)
            guard start >= 0, start + x[a] <= size else { throw fail("\(x[a]) entries at \(start) do not fit in \(size)") }
            var s = x
            s[a] = size
            return [s]
        case .concat(let axis):
            let a = try Shapes.axis(axis, rank: x.count, name)
            var total = 0
            for s in inputs {
                guard s.count == x.count, s.indices.allSatisfy({ $0 == a || s[$0] == x[$0] }) else {
                    throw fail("shapes \(inputs) differ outside axis \(axis)")
                }
                total += s[a]
            }
            var s = x
            s[a] = total
            return [s]
        case .softmax(let axis), .logSoftmax(let axis):
            let a = try Shapes.axis(axis, rank: x.count, name)
            guard x[a] > 0 else { throw fail("axis \(axis) of \(x) is empty") }
            return [x]
        case .layerNorm:
            guard let c = x.last, c > 0 else { throw fail("needs a non-empty last axis, got \(x)") }
            guard inputs[1] == [c], inputs[2] == [c] else {
                throw fail("gamma \(inputs[1]) and beta \(inputs[2]) must be [\(c)] for input \(x)")
            }
            let stats = Array(x.dropLast()) + [1]
            return [x, stats, stats]
        case .layerNormGrad:
            guard let c = x.last else { throw fail("needs a last axis") }
            let stats = Array(x.dropLast()) + [1]
            guard inputs[1] == [c], inputs[2] == stats, inputs[3] == stats, inputs[4] == x else {
                throw fail("expects x \(x), gamma [\(c)], mean and rstd \(stats), dy \(x); got \(inputs)")
            }
            return [x, [c], [c]]
        case .dropout(let p, _, _):
            guard p >= 0 && p < 1 else { throw fail("p = \(p) must be in [0, 1)") }
            return [x, x]
        case .gather:
            guard x.count == 2 else { throw fail("the table must be [rows, dims], got \(x)") }
            return [inputs[1] + [x[1]]]
        case .biasActivation:
            guard let c = x.last, inputs[1] == [c] else { throw fail("bias \(inputs[1]) must be [\(x.last ?? 0)] for input \(x)") }
            return [x, x]
        case .biasActivationGrad:
            guard let c = x.last, inputs[1] == x else { throw fail("dy \(inputs[1]) must have the pre-activation's shape \(x)") }
            return [x, [c]]
        case .scatterAdd(let rows):
            let idx = inputs[1]
            guard rows > 0, x.count == idx.count + 1, Array(x.dropLast()) == idx else {
                throw fail("values \(x) must be the indices' shape \(idx) plus one axis")
            }
            return [[rows, x[x.count - 1]]]
        case .conv2d(let g), .conv2dGradInput(let g), .conv2dGradWeight(let g):
            // Inputs in op order: the image or dy first, then the weight or dy.
            let (first, second, out): ([Int], [Int], [Int])
            switch self {
            case .conv2d: (first, second, out) = (g.inputShape, g.weightShape, g.outputShape)
            case .conv2dGradInput: (first, second, out) = (g.outputShape, g.weightShape, g.inputShape)
            default: (first, second, out) = (g.inputShape, g.outputShape, g.weightShape)
            }
            guard x.count == 4, Array(x.dropFirst()) == first else { throw fail("expects [rows] + \(first) for \(g.summary), got \(x)") }
            let y = inputs[1]
            if case .conv2dGradWeight = self {
                guard y.count == 4, y[0] == x[0], Array(y.dropFirst()) == second else {
                    throw fail("expects dy [\(x[0])] + \(second) for \(g.summary), got \(y)")
                }
                return [out]
            }
            guard y == second else { throw fail("expects a weight \(second) for \(g.summary), got \(y)") }
            return [[x[0]] + out]
        }
    }

    private func fail(_ what: String) -> BackendError { BackendError(.shapeMismatch, "\(name): \(what)") }
}
