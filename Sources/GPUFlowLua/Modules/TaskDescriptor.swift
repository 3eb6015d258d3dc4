import GPUFlowCore
import GPUFlowML

/// How a task is submitted, beside what it is: set in the constructor or in `gpu.submit`'s
/// options (which win).
struct SubmitOptions {
    var name: String?
    var priority: TaskPriority?
    var boost: Int?
    var memoryMB: Int?
    var timeoutS: Double?
    var agent: String?

    /// Reads the submission keys every constructor and `gpu.submit` accept.
    static func read(_ a: LuaArgs) throws -> SubmitOptions {
        SubmitOptions(
            name: try a.string("name"), priority: try a.choice("priority"), boost: try a.int("boost", min: -100, max: 100),
            memoryMB: try a.int("memory_mb", min: 0), timeoutS: try a.double("timeout_s", min: 0, exclusiveMin: true),
            agent: try a.string("agent"))
    }

    func merged(over base: SubmitOptions) -> SubmitOptions {
        SubmitOptions(
            name: name ?? base.name, priority: priority ?? base.priority, boost: boost ?? base.boost,
            memoryMB: memoryMB ?? base.memoryMB, timeoutS: timeoutS ?? base.timeoutS, agent: agent ?? base.agent)
    }
}

/// A validated GPU task waiting to be submitted: what `gpu.training{...}` and friends return.
final class TaskDescriptor: LuaDescribable {
    let type: GPUTaskType
    let inputs: TaskInputs
    let options: SubmitOptions

    init(type: GPUTaskType, inputs: TaskInputs, options: SubmitOptions) {
        self.type = type
        self.inputs = inputs
        self.options = options
    }

    var luaDescription: String { "task(\(type.name)\(options.name.map { ", name=\($0)" } ?? ""))" }
}
