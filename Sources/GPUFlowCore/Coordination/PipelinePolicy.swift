/// Pipeline: agents are stages in order, linked by bounded channels (`gpu.stage()` hands each
/// stage its input and output, named and sized by `CoordinationSpec.PipelineStages.links`); a
/// full channel holds its producer back, so admission adds no rule and the queue keeps
/// submission order.
public struct PipelinePolicy: CoordinationPolicy {
    public let stages: CoordinationSpec.PipelineStages
    public init(stages: CoordinationSpec.PipelineStages) { self.stages = stages }
    public func rulesOrder(deviceWorkQueued: Bool) -> Bool { false }
}
