/// An environment by name, with its sizes and a factory for fresh instances: a built-in one,
/// or one a script defines (GPUFlowLua builds those).
public struct EnvironmentSpec: Sendable {
    public let name: String
    public let observationSize: Int
    public let actionCount: Int
    public let make: @Sendable () throws -> any Environment

    public init(name: String, observationSize: Int, actionCount: Int, make: @escaping @Sendable () throws -> any Environment) {
        self.name = name
        self.observationSize = observationSize
        self.actionCount = actionCount
        self.make = make
    }

    public static let names = "cartpole | gridworld | bandit, or a table with new = function() ... end"

    public static func cartpole(maxSteps: Int) -> EnvironmentSpec {
        EnvironmentSpec(name: "cartpole", observationSize: 4, actionCount: 2) { CartPole(maxSteps: maxSteps) }
    }

    public static func gridworld(size: Int) -> EnvironmentSpec {
        let g = GridWorld(size: size)
        return EnvironmentSpec(name: "gridworld", observationSize: g.observationSize, actionCount: g.actionCount) { GridWorld(size: size) }
    }

    public static func bandit(arms: Int, seed: UInt64) -> EnvironmentSpec {
        let b = MultiArmedBandit(arms: arms, seed: seed)
        return EnvironmentSpec(name: "bandit", observationSize: 1, actionCount: b.actionCount) { b }
    }
}
