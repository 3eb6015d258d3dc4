import Foundation

/// The collaborative pattern's decision when agents' requests exceed what is free: each
/// contender's bid or votes come from its task's priority, how long it has waited and its
/// predicted benefit (1 / predicted seconds), and the declared rule picks who proceeds.
public enum Negotiation {
    public struct Contender: Sendable, Equatable {
        public let agent: String
        public let taskID: Int
        /// 0 (low) … 3 (critical).
        public let priority: Int
        public let waitS: Double
        /// Predicted run time (the learning engine's, else the declared estimate, else 1 s).
        public let predictedS: Double
        public let memoryMB: Int
        /// GPU (step) time the agent has used so far, for the fairness rule.
        public let usedS: Double
        public init(agent: String, taskID: Int, priority: Int, waitS: Double, predictedS: Double, memoryMB: Int, usedS: Double) {
            self.agent = agent
            self.taskID = taskID
            self.priority = priority
            self.waitS = waitS
            self.predictedS = predictedS
            self.memoryMB = memoryMB
            self.usedS = usedS
        }
        /// The value of running this task now: priority, urgency from waiting, benefit per second.
        public var bid: Double { Double(priority + 1) * (1 + waitS) / max(predictedS, 1e-3) }
    }

    public struct Outcome: Sendable, Equatable {
        /// Contenders in the order they may proceed.
        public let order: [Contender]
        public let reason: String
    }

    public static func decide(
        _ cs: [Contender], negotiation: NegotiationRule,
        conflict: ConflictRule, maxStarvationS: Double?, seed: UInt64
    ) -> Outcome {
        guard cs.count > 1 else { return Outcome(order: cs, reason: "one contender") }
        let scores: [Double]
        let how: String
        switch negotiation {
        case .auction:
            scores = cs.map(\.bid)
            how = "auction: bids " + cs.map { String(format: "%@ %.3g", $0.agent, $0.bid) }.joined(separator: ", ")
        case .market:
            // The scarce good is memory: the price a contender pays per MB decides.
            scores = cs.map { $0.bid / Double(max($0.memoryMB, 1)) }
            how = "market: value per MB " + zip(cs, scores).map { String(format: "%@ %.3g", $0.0.agent, $0.1) }.joined(separator: ", ")
        case .voting:
            // Every agent ranks every contender (higher priority, then shorter predicted work
            // first: what each voter's own next task waits behind); Borda count.
            let ranked = cs.indices.sorted { a, b in
                cs[a].priority != cs[b].priority ? cs[a].priority > cs[b].priority : cs[a].predictedS < cs[b].predictedS
            }
            var borda = [Double](repeating: 0, count: cs.count)
            // Each of the n voters agrees here.
            for (place, i) in ranked.enumerated() { borda[i] = Double(cs.count - 1 - place) * Double(cs.count) }
            scores = borda
            how = "voting: Borda points " + zip(cs, borda).map { String(format: "%@ %.0f", $0.0.agent, $0.1) }.joined(separator: ", ")
        case .consensus:
            // Acceptable to all: no other contender would then wait past the starvation bound.
            let limit = maxStarvationS ?? .infinity
            scores = cs.map { c in
                let ok = cs.allSatisfy { o in o.agent == c.agent || o.waitS + c.predictedS <= limit }
                return ok ? 1 : 0
            }
            let accepted = zip(cs, scores).filter { $0.1 > 0 }.map(\.0.agent)
            how =
                accepted.isEmpty
                ? "consensus: no contender acceptable to all" : "consensus: acceptable to all: \(accepted.joined(separator: ", "))"
        }
        // Ties (and consensus among several) fall to the conflict rule.
        var rng = SplitMix(seed: seed)
        let tieBreak: [Double] = cs.map { c in
            switch conflict {
            case .priority: return Double(c.priority) + c.waitS * 1e-6
            case .fairness: return -c.usedS
            case .performance: return -c.predictedS
            case .random: return Double(rng.uniform())
            }
        }
        let order = cs.indices.sorted { a, b in
            if scores[a] != scores[b] { return scores[a] > scores[b] }
            if tieBreak[a] != tieBreak[b] { return tieBreak[a] > tieBreak[b] }
            return cs[a].taskID < cs[b].taskID
        }
        let tied = scores.filter { $0 == scores[order[0]] }.count > 1
        let reason = how + (tied ? "; tie broken by \(conflict.rawValue)" : "") + "; \(cs[order[0]].agent) proceeds"
        return Outcome(order: order.map { cs[$0] }, reason: reason)
    }
}

/// A small seeded generator for the random rule (Philox lives in GPUFlowCompute, above the core).
struct SplitMix {
    private var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    /// SplitMix64, enough for choosing among a handful of contenders reproducibly.
    mutating func uniform() -> Float {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Float((z ^ (z >> 31)) >> 40) / Float(1 << 24)
    }
}
