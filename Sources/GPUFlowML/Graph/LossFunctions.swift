import GPUFlowCompute
import GPUFlowCore

/// The losses without a kernel of their own, written with the graph core's ops on a small
/// tape: per-row losses and the gradient of their mean with respect to the output, the pair the
/// trainers take from the loss kernels (which cross-entropy and MSE keep, for their numbers).
/// The formulas are PyTorch's (reduction "mean" over the outputs of a row):
///   l1: |x − y|;  huber: ½d² if |d| ≤ δ else δ(|d| − ½δ);  bce_with_logits: max(x, 0) − x·y +
///   log(1 + e^−|x|);  cross-entropy with smoothing: −Σ q·log softmax(x), q the smoothed target.
enum LossFunctions {
    static func rowsAndGradient(_ kind: LossKind, options: LossOptions, output: Tensor, target: Tensor, backend b: Backend) throws
        -> (Tensor, Tensor)
    {
        let tape = Tape(backend: b)
        let x = tape.leaf(output, gradient: true), y = tape.leaf(target)
        let rows = output.shape[0]
        let perElement: Tape.Value
        var meanOverOutputs = true
        switch kind {
        case .l1:
            perElement = try tape(.unary(.abs), try tape(.binary(.sub), x, y))
        case .huber:
            let d = try tape(.binary(.sub), x, y)
            let a = try tape(.unary(.abs), d)
            let delta = Float(options.huberDelta)
            let q = try tape(.binary(.minimum), a, tape.leaf(try b.filled(delta, shape: [1])))
            let quadratic = try tape(.unary(.scale(0.5)), try tape(.unary(.square), q))
            perElement = try tape(.binary(.add), quadratic, try tape(.unary(.scale(delta)), try tape(.binary(.sub), a, q)))
        case .bce_with_logits:
            let relu = try tape(.unary(.relu), x)
            let xy = try tape(.binary(.mul), x, y)
            let soft = try tape(
                .unary(.log), try tape(.unary(.add(1)), try tape(.unary(.exp), try tape(.unary(.neg), try tape(.unary(.abs), x)))))
            perElement = try tape(.binary(.add), try tape(.binary(.sub), relu, xy), soft)
        case .cross_entropy:
            let logp = try tape(.logSoftmax(axis: -1), x)
            perElement = try tape(.unary(.neg), try tape(.binary(.mul), y, logp))
            meanOverOutputs = false  // a sum over the classes
        case .mse:
            perElement = try tape(.unary(.square), try tape(.binary(.sub), x, y))
        }
        let perRow = try tape(.reduce(meanOverOutputs ? .mean : .sum, axis: -1), perElement)
        let mean = try tape(.reduce(.mean, axis: 0), perRow)
        let grads = try tape.gradients(of: mean)
        guard let g = grads[x] else { throw BackendError(.unsupported, "\(kind.rawValue): no gradient reached the output") }
        return (tape.tensor(perRow).view(shape: [rows]), g)
    }
}
