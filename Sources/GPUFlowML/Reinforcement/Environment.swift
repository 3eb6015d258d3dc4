import Foundation
import GPUFlowCompute

/// An episodic environment: observations are float vectors, actions are indices.
public protocol Environment {
    var observationSize: Int { get }
    var actionCount: Int { get }
    /// Steps after which an episode ends even if nothing failed.
    var maxSteps: Int { get }
    /// Environments written in a script can fail; built-in ones never throw.
    mutating func reset(_ rng: inout Philox) throws -> [Float]
    mutating func step(_ action: Int, _ rng: inout Philox) throws -> (observation: [Float], reward: Float, done: Bool)
    /// A potential Φ(s) for potential-based reward shaping (γΦ(s′) − Φ(s) keeps the optimal
    /// policy unchanged; Ng, Harada & Russell 1999).
    func potential(_ observation: [Float]) -> Float
}

/// The classic cart-pole of Barto, Sutton & Anderson (1983), with the physics and limits of
/// Gym's CartPole: Euler steps of 20 ms, force ±10 N, fail past 12° or 2.4 m, reward 1 a step.
public struct CartPole: Environment, Sendable {
    public let observationSize = 4
    public let actionCount = 2
    public let maxSteps: Int
    private var state: [Float] = [0, 0, 0, 0]  // x, ẋ, θ, θ̇
    private var steps = 0

    static let gravity: Float = 9.8, massCart: Float = 1.0, massPole: Float = 0.1, halfLength: Float = 0.5
    static let forceMagnitude: Float = 10, tau: Float = 0.02
    static let thetaLimit: Float = 12 * 2 * .pi / 360, xLimit: Float = 2.4

    public init(maxSteps: Int = 200) { self.maxSteps = maxSteps }

    public mutating func reset(_ rng: inout Philox) -> [Float] {
        state = (0..<4).map { _ in rng.uniform() * 0.1 - 0.05 }
        steps = 0
        return state
    }

    public mutating func step(_ action: Int, _ rng: inout Philox) -> (observation: [Float], reward: Float, done: Bool) {
        var (x, xDot, theta, thetaDot) = (state[0], state[1], state[2], state[3])
        let force = action == 1 ? Self.forceMagnitude : -Self.forceMagnitude
        let total = Self.massCart + Self.massPole, poleMassLength = Self.massPole * Self.halfLength
        let cosT = cosf(theta), sinT = sinf(theta)
        let temp = (force + poleMassLength * thetaDot * thetaDot * sinT) / total
        let thetaAcc = (Self.gravity * sinT - cosT * temp) / (Self.halfLength * (4.0 / 3.0 - Self.massPole * cosT * cosT / total))
        let xAcc = temp - poleMassLength * thetaAcc * cosT / total
        x += Self.tau * xDot
        xDot += Self.tau * xAcc
        theta += Self.tau * thetaDot
        thetaDot += Self.tau * thetaAcc
        state = [x, xDot, theta, thetaDot]
        steps += 1
        let failed = abs(x) > Self.xLimit || abs(theta) > Self.thetaLimit
        return (state, 1, failed || steps >= maxSteps)
    }

    public func potential(_ o: [Float]) -> Float { -(abs(o[2]) / Self.thetaLimit + abs(o[0]) / Self.xLimit) }
}

/// A size×size grid: start in one corner, +1 for reaching the opposite one, −0.01 a step.
/// Observations are the one-hot cell.
public struct GridWorld: Environment, Sendable {
    public let size: Int
    public var observationSize: Int { size * size }
    public let actionCount = 4  // up, down, left, right
    public var maxSteps: Int { 4 * size * size }
    private var row = 0, col = 0, steps = 0

    public init(size: Int = 5) { self.size = max(2, size) }

    private func observation() -> [Float] {
        var o = [Float](repeating: 0, count: size * size)
        o[row * size + col] = 1
        return o
    }

    public mutating func reset(_ rng: inout Philox) -> [Float] {
        row = 0; col = 0; steps = 0
        return observation()
    }

    public mutating func step(_ action: Int, _ rng: inout Philox) -> (observation: [Float], reward: Float, done: Bool) {
        switch action {
        case 0: row = max(0, row - 1)
        case 1: row = min(size - 1, row + 1)
        case 2: col = max(0, col - 1)
        default: col = min(size - 1, col + 1)
        }
        steps += 1
        let goal = row == size - 1 && col == size - 1
        return (observation(), goal ? 1 : -0.01, goal || steps >= maxSteps)
    }

    public func potential(_ o: [Float]) -> Float {
        guard let cell = o.firstIndex(of: 1) else { return 0 }
        return -Float((size - 1 - cell / size) + (size - 1 - cell % size)) / Float(2 * (size - 1))
    }
}

/// k arms with means drawn once from N(0, 1); each pull pays its arm's mean plus N(0, 1) noise.
/// One pull is one episode.
public struct MultiArmedBandit: Environment, Sendable {
    public let observationSize = 1
    public let actionCount: Int
    public let maxSteps = 1
    public let means: [Float]

    public init(arms: Int = 10, seed: UInt64) {
        var r = Philox(seed: seed ^ 0xBA4D17)
        actionCount = max(2, arms)
        means = (0..<max(2, arms)).map { _ in r.normal() }
    }

    public mutating func reset(_ rng: inout Philox) -> [Float] { [1] }

    public mutating func step(_ action: Int, _ rng: inout Philox) -> (observation: [Float], reward: Float, done: Bool) {
        ([1], means[action] + rng.normal(), true)
    }

    public func potential(_ o: [Float]) -> Float { 0 }
}
