/// A built-in environment by name and parameters, as scripts choose one.
public enum EnvironmentSpec: Sendable, Equatable {
    case cartpole(maxSteps: Int)
    case gridworld(size: Int)
    case bandit(arms: Int, seed: UInt64)

    public static let names = "cartpole | gridworld | bandit"

    public func make() -> any Environment {
        switch self {
        case .cartpole(let m): return CartPole(maxSteps: m)
        case .gridworld(let s): return GridWorld(size: s)
        case .bandit(let a, let s): return MultiArmedBandit(arms: a, seed: s)
        }
    }

    public var name: String {
        switch self {
        case .cartpole: return "cartpole"
        case .gridworld: return "gridworld"
        case .bandit: return "bandit"
        }
    }
}
