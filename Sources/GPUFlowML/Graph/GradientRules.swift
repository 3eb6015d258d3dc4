import GPUFlowCompute

/// One backward rule per op, written with the ops themselves, so a rule runs on whatever
/// backend the forward pass ran on. `nil` in a result: no gradient for that input (indices,
/// a comparison's operands).
enum GradientRules {
    /// Ops whose outputs carry no gradient to their inputs: comparisons, argmax, and the
    /// gradient ops themselves (second derivatives are not offered).
    static func differentiable(_ op: Op) -> Bool {
        switch op {
        case .binary(.equal), .reduce(.argmax, _), .unaryGrad, .softmaxGrad, .layerNormGrad, .biasActivationGrad, .conv2dGradInput,
            .conv2dGradWeight:
            return false
        default: return true
        }
    }

    /// `needed`: which inputs' gradients are wanted; a rule may skip the others (a first
    /// layer's matmul computes none for the batch).
    static func gradients(
        _ op: Op, inputs x: [Tensor], outputs y: [Tensor], outputGradients dy: [Tensor?], needed: [Bool], backend b: Backend
    ) throws -> [Tensor?] {
        func run(_ op: Op, _ t: Tensor...) throws -> Tensor { try b.run(op, t)[0] }
        // The first output's gradient; ops with statistics outputs (layer norm, dropout's mask)
        // take gradients only through their first.
        guard let g = dy[0] else { return x.map { _ in nil } }
        switch op {
        case .unary(let f):
            return [try run(.unaryGrad(f), x[0], g)]
        case .binary(let f):
            let (a, c) = (x[0], x[1])
            let down = { (t: Tensor, to: Tensor) throws -> Tensor in t.shape == to.shape ? t : try run(.sumTo(to.shape), t) }
            // Only the operands that want one: an attention's mask is a buffer, and summing the
            // scores' gradient down to it was 3 % of a transformer's step.
            let wants = { (i: Int) in i < needed.count ? needed[i] : true }
            switch f {
            case .add: return [wants(0) ? try down(g, a) : nil, wants(1) ? try down(g, c) : nil]
            case .sub: return [wants(0) ? try down(g, a) : nil, wants(1) ? try down(try run(.unary(.neg), g), c) : nil]
            case .mul:
                return [
                    wants(0) ? try down(try run(.binary(.mul), g, c), a) : nil, wants(1) ? try down(try run(.binary(.mul), g, a), c) : nil,
                ]
            case .div:
                let ga = try run(.binary(.div), g, c)
                let gc = wants(1) ? try run(.unary(.neg), try run(.binary(.div), try run(.binary(.mul), ga, a), c)) : nil
                return [wants(0) ? try down(ga, a) : nil, try gc.map { try down($0, c) }]
            case .maximum, .minimum:
                // The gradient goes to whichever operand the output equals (the first on ties).
                let fromA = try run(.binary(.equal), y[0], a)
                let fromC = try run(.unary(.add(1)), try run(.unary(.neg), fromA))
                return [try down(try run(.binary(.mul), g, fromA), a), try down(try run(.binary(.mul), g, fromC), c)]
            case .equal:
                return [nil, nil]
            }
        case .reduce(let r, let axis):
            let shape = x[0].shape
            switch r {
            case .sum: return [try run(.broadcast(to: shape), g)]
            case .mean:
                let a = try Shapes.axis(axis, rank: shape.count, op.name)
                return [try run(.broadcast(to: shape), try run(.unary(.scale(1 / Float(shape[a]))), g))]
            case .max:
                let mask = try run(.binary(.equal), x[0], try run(.broadcast(to: shape), y[0]))
                return [try run(.binary(.mul), mask, try run(.broadcast(to: shape), g))]
            case .argmax: return [nil]
            }
        case .broadcast:
            return [try run(.sumTo(x[0].shape), g)]
        case .sumTo:
            return [try run(.broadcast(to: x[0].shape), g)]
        case .matmul(let ta, let tb):
            let (a, c) = (x[0], x[1])
            let da: Tensor?
            if !needed[0] {
                da = nil
            } else if !ta {
                da = try run(.matmul(transA: false, transB: !tb), g, c)
            } else if c.shape.count == 2 && a.shape.count > 2 {
                // Aᵀ per batch against a shared B: dA' = dC·B'ᵀ, then each batch transposed.
                let t = try run(.matmul(transA: false, transB: !tb), g, c)
                var perm = Array(0..<t.shape.count)
                perm.swapAt(perm.count - 1, perm.count - 2)
                da = try run(.permute(perm), t)
            } else {
                da = try run(.matmul(transA: tb, transB: true), c, g)
            }
            let dc: Tensor?
            if !needed[1] {
                dc = nil
            } else if c.shape.count == 2 && a.shape.count > 2 {
                // A shared right operand: its gradient sums every batch's.
                let k = ta ? a.shape[a.shape.count - 2] : a.shape[a.shape.count - 1]
                let m = ta ? a.shape[a.shape.count - 1] : a.shape[a.shape.count - 2]
                let rows = a.shape.dropLast(2).reduce(1, *)
                if !ta {
                    let a2 = a.view(shape: [rows * m, k]), g2 = g.view(shape: [rows * m, g.shape[g.shape.count - 1]])
                    dc = tb ? try run(.matmul(transA: true, transB: false), g2, a2) : try run(.matmul(transA: true, transB: false), a2, g2)
                } else {
                    let per = tb ? try run(.matmul(transA: true, transB: true), g, a) : try run(.matmul(transA: false, transB: false), a, g)
                    dc = try run(.sumTo(c.shape), per)
                }
            } else {
                dc = tb ? try run(.matmul(transA: true, transB: ta), g, a) : try run(.matmul(transA: !ta, transB: false), a, g)
            }
            return [da, dc]
        case .reshape:
            return [g.view(shape: x[0].shape)]
        case .permute(let perm):
            var inverse = [Int](repeating: 0, count: perm.count)
            for (i, p) in perm.enumerated() { inverse[p] = i }
            return [try run(.permute(inverse), g)]
        case .slice(let axis, let start, _):
            let a = try Shapes.axis(axis, rank: x[0].shape.count, op.name)
            return [try run(.unslice(axis: a, start: start, size: x[0].shape[a]), g)]
        case .unslice(let axis, let start, _):
            let a = try Shapes.axis(axis, rank: x[0].shape.count, op.name)
            return [try run(.slice(axis: a, start: start, count: x[0].shape[a]), g)]
        case .concat(let axis):
            let a = try Shapes.axis(axis, rank: x[0].shape.count, op.name)
            var start = 0
            return try x.map { t in
                defer { start += t.shape[a] }
                return try run(.slice(axis: a, start: start, count: t.shape[a]), g)
            }
        case .softmax(let axis):
            return [try run(.softmaxGrad(axis: axis, log: false), y[0], g)]
        case .logSoftmax(let axis):
            return [try run(.softmaxGrad(axis: axis, log: true), y[0], g)]
        case .layerNorm:
            let d = try b.run(.layerNormGrad, [x[0], x[1], y[1], y[2], g])
            return [d[0], d[1], d[2]]
        case .dropout:
            return [try run(.binary(.mul), g, y[1])]
        case .biasActivation(let f):
            let d = try b.run(.biasActivationGrad(f), [y[1], g])
            return [d[0], d[1]]
        case .gather:
            return [try run(.scatterAdd(rows: x[0].shape[0]), g, x[1]), nil]
        case .scatterAdd:
            return [try run(.gather, g, x[1]), nil]
        case .conv2d(let geometry):
            // A first layer's image needs no gradient.
            let dx = needed[0] ? try run(.conv2dGradInput(geometry), g, x[1]) : nil
            let dw = needed.count < 2 || needed[1] ? try run(.conv2dGradWeight(geometry), x[0], g) : nil
            return [dx, dw]
        case .unaryGrad, .softmaxGrad, .layerNormGrad, .biasActivationGrad, .conv2dGradInput, .conv2dGradWeight:
            throw BackendError(.unsupported, "\(op.name): second derivatives are not offered")
        }
    }
}
