import GPUFlowCore

/// A training run that cannot go on: the loss or the weights became NaN or ±Inf.
///
/// Not a `DataError`: the data was fine, the run went wrong, so a script awaiting
/// the task fails with exit code 1 (a failed task), where a bad file gives 2. The task's name is
/// added by the task's failure message ("task NAME (#ID) failed: ...").
public struct TrainingError: KindedError, CustomStringConvertible, Sendable {
    private enum Reason: Sendable {
        case diverged(epoch: Int, batch: Int?, what: String, learningRate: Double?, clipped: Double?)
    }

    private let reason: Reason

    public var kind: ErrorKind { .script }

    /// `what`: what became non-finite ("the loss is NaN", "layer 2's weights hold inf").
    public static func diverged(epoch: Int, batch: Int? = nil, what: String, learningRate: Double?, gradientClip: Double?) -> TrainingError
    {
        TrainingError(reason: .diverged(epoch: epoch, batch: batch, what: what, learningRate: learningRate, clipped: gradientClip))
    }

    public var epoch: Int {
        switch reason {
        case .diverged(let epoch, _, _, _, _): return epoch
        }
    }

    public var description: String {
        switch reason {
        case .diverged(let epoch, let batch, let what, let rate, let clip):
            let at = "epoch \(epoch)" + (batch.map { ", batch \($0)" } ?? "")
            let lower = rate.map { "lower the learning rate (it is \($0))" } ?? "lower the learning rate"
            let clipHint = clip.map { "clip gradients harder (gradient_clip is \($0))" } ?? "clip gradients (gradient_clip = 1)"
            return "training diverged in \(at): \(what), so the weights are no longer numbers; \(lower) or \(clipHint)"
        }
    }
}
