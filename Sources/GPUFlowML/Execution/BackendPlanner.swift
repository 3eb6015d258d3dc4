import Foundation
import GPUFlowCompute
import GPUFlowCore

/// The backends a task will try, in order, and why that order.
public struct BackendPlan: Sendable {
    public var order: [BackendKind]
    public var reason: String
    /// Adaptive scores by backend name (empty for the fixed strategies).
    public var scores: [(backend: String, score: Double)] = []
}

/// Orders backends for a task: the fixed strategies as written (primary, then fallback or
/// cascade), the adaptive one by the task's selection criteria applied to what the learning
/// engine predicts for work of this size on each backend.
public enum BackendPlanner {
    public static func plan(
        primary: BackendKind, strategy: FallbackStrategy, criteria: SelectionCriteria, shape: WorkloadShape?,
        learning: GPULearningEngine, breakers: CircuitBreakerBoard, device: DeviceSelection, seed: UInt64
    ) -> BackendPlan {
        switch strategy {
        case .fail: return BackendPlan(order: [primary], reason: "\(primary.rawValue) requested, no fallback")
        case .fallback(let k):
            return BackendPlan(order: unique([primary, k]), reason: "\(primary.rawValue) requested, fallback \(k.rawValue)")
        case .cascade(let ks):
            let order = unique([primary] + ks)
            return BackendPlan(
                order: order, reason: "\(primary.rawValue) requested, cascade \(order.dropFirst().map(\.rawValue).joined(separator: " → "))"
            )
        case .adaptive(let a):
            return adaptive(
                primary: primary, a, criteria: criteria, shape: shape, learning: learning, breakers: breakers, device: device,
                seed: seed)
        }
    }

    static func unique(_ ks: [BackendKind]) -> [BackendKind] {
        var seen = Set<BackendKind>()
        return ks.filter { seen.insert($0).inserted }
    }

    /// `auto` as the concrete backend it would be here.
    static func concrete(_ k: BackendKind, device: DeviceSelection) -> BackendKind? {
        guard k == .auto else { return k }
        guard let name = (try? BackendSelector.make(.auto, device: device))?.backend.name else { return nil }
        return BackendKind(rawValue: name)
    }

    static func breakerKey(_ k: BackendKind, device: DeviceSelection) -> String {
        guard k == .vulkan else { return k.rawValue }
        return "vulkan:" + ((try? device.context().info.name) ?? "unavailable")
    }

    private static func adaptive(
        primary: BackendKind, _ a: AdaptiveSelection, criteria: SelectionCriteria, shape: WorkloadShape?,
        learning: GPULearningEngine, breakers: CircuitBreakerBoard, device: DeviceSelection,
        seed: UInt64
    ) -> BackendPlan {
        var notes: [String] = []
        var candidates: [BackendKind] = []
        for k in unique([primary] + a.candidates) {
            guard let c = concrete(k, device: device) else { notes.append("\(k.rawValue): no backend here"); continue }
            if c == .vulkan, (try? device.context()) == nil { notes.append("vulkan: no usable device"); continue }
            if breakers.breaker(breakerKey(c, device: device)).state == .open, breakers.remainingCooldown(breakerKey(c, device: device)) > 0
            {
                notes.append("\(c.rawValue): circuit open"); continue
            }
            if !candidates.contains(c) { candidates.append(c) }
        }
        let first = concrete(primary, device: device) ?? primary
        guard let shape, candidates.count > 1, learning.enabled else {
            let why = !learning.enabled ? "learning disabled" : shape == nil ? "no workload sizes to predict from" : "one candidate"
            return BackendPlan(
                order: candidates.isEmpty ? [primary] : candidates,
                reason: "adaptive: \(why); \(candidates.first?.rawValue ?? primary.rawValue) first" + suffix(notes))
        }
        let kind = shape.kind
        let predictions = Dictionary(
            uniqueKeysWithValues: candidates.map {
                ($0, learning.predictDuration(kind: kind, backend: $0.rawValue, features: shape.features))
            })
        // Every candidate gets tried before predictions decide (two runs each), in the stated order.
        if let unexplored = candidates.first(where: { (predictions[$0]??.evidence ?? 0) < 2 }) {
            let n = predictions[unexplored]??.evidence ?? 0
            return BackendPlan(
                order: [unexplored] + candidates.filter { $0 != unexplored },
                reason: "adaptive: exploring \(unexplored.rawValue), which has \(n) run\(n == 1 ? "" : "s") of \(kind) work so far"
                    + suffix(notes))
        }
        let times = candidates.compactMap { predictions[$0]??.value }
        let memories = Dictionary(
            uniqueKeysWithValues: candidates.map {
                ($0, learning.predictMemory(kind: kind, backend: $0.rawValue, features: shape.features)?.value)
            })
        let powers = Dictionary(uniqueKeysWithValues: candidates.map { ($0, learning.meanPowerW(kind: kind, backend: $0.rawValue)) })
        let bias = learning.backendBias(kind: kind)
        let useMemory = criteria.memory > 0 && memories.values.allSatisfy { $0 != nil }
        let usePower = criteria.power > 0 && powers.values.allSatisfy { $0 != nil }
        if criteria.power > 0 && !usePower { notes.append("power unavailable (no energy meter for every backend), its weight dropped") }
        if criteria.memory > 0 && !useMemory { notes.append("memory unpredicted for some backend, its weight dropped") }
        let minTime = times.min() ?? 1
        let minMemory = memories.values.compactMap { $0 }.min() ?? 1
        let minPower = powers.values.compactMap { $0 }.min() ?? 1
        var scored: [(kind: BackendKind, score: Double, detail: String)] = []
        for c in candidates {
            var total = 0.0, weight = 0.0
            let t = predictions[c]??.value ?? .infinity
            total += criteria.performance * minTime / t
            weight += criteria.performance
            if useMemory, let m = memories[c] ?? nil { total += criteria.memory * minMemory / max(m, 1); weight += criteria.memory }
            if usePower, let p = powers[c] ?? nil { total += criteria.power * minPower / max(p, 1e-9); weight += criteria.power }
            let rate = learning.successRate(backend: c.rawValue, window: criteria.historyWindow)
            let halfOpen = breakers.breaker(breakerKey(c, device: device)).state != .closed
            total += criteria.availability * (rate?.rate ?? 1) * (halfOpen ? 0.5 : 1)
            weight += criteria.availability
            let b = bias[c.rawValue] ?? 0
            let score = (weight > 0 ? total / weight : 0) + b
            var detail = String(format: "%@ %.2f (predicted %.4f s from %d runs", c.rawValue, score, t, predictions[c]??.evidence ?? 0)
            if let r = rate { detail += String(format: ", %.0f%% of last %d runs ok", r.rate * 100, r.runs) }
            if b != 0 { detail += String(format: ", feedback %+.2f", b) }
            scored.append((c, score, detail + ")"))
        }
        scored.sort { $0.score > $1.score }
        var chosen = scored[0].kind
        var why: String
        if chosen != first, let p = scored.first(where: { $0.kind == first }), scored[0].score <= p.score * (1 + a.threshold) {
            chosen = first
            why = String(
                format: "adaptive: staying on %@ — the best alternative beats it by no more than the %.0f%% threshold",
                first.rawValue, a.threshold * 100)
        } else {
            why = "adaptive: \(chosen.rawValue) scores best"
        }
        // ε-greedy exploration, reproducible for the same seed and history.
        var rng = Philox(seed: seed ^ UInt64(learning.executionCount) &* 0x9E37_79B9_7F4A_7C15)
        if a.exploration > 0, candidates.count > 1, Double(rng.uniform()) < a.exploration {
            let others = candidates.filter { $0 != chosen }
            chosen = others[rng.below(others.count)]
            why = String(format: "adaptive: exploring %@ (ε = %.2f)", chosen.rawValue, a.exploration)
        }
        let order = [chosen] + scored.map(\.kind).filter { $0 != chosen }
        return BackendPlan(
            order: order, reason: why + "; scores " + scored.map(\.detail).joined(separator: ", ") + suffix(notes),
            scores: scored.map { ($0.kind.rawValue, $0.score) })
    }

    private static func suffix(_ notes: [String]) -> String { notes.isEmpty ? "" : " [" + notes.joined(separator: "; ") + "]" }
}
