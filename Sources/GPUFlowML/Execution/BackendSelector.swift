import GPUFlowCompute
import GPUFlowCore

/// Turns a requested backend kind into a backend that can run here, and says why.
public enum BackendSelector {
    public struct Choice: Sendable {
        public let backend: Backend
        public let reason: String
    }

    /// Backends this build can create. The Vulkan and SIMD executors are separate issues; until
    /// they land, asking for them by name fails with `.unavailable` and `auto` picks the CPU.
    public static func make(_ kind: BackendKind) throws -> Choice {
        switch kind {
        case .cpu:
            return Choice(backend: CPUBackend(), reason: "cpu requested")
        case .auto:
            return Choice(backend: CPUBackend(), reason: "auto: cpu is the only executor in this build (vulkan and simd not built yet)")
        case .vulkan, .simd:
            throw BackendError(.unavailable, "backend '\(kind.rawValue)' is not available in this build (available: cpu, auto)")
        }
    }

    /// Tries the primary, then the fallback strategy's backends, in order. Each refusal is kept
    /// in the reason so the task result shows how the choice was made.
    public static func choose(primary: BackendKind, fallback: FallbackStrategy) throws -> Choice {
        var order = [primary]
        switch fallback {
        case .fail: break
        case .fallback(let k): order.append(k)
        case .cascade(let ks): order += ks
        }
        var refusals: [String] = []
        for kind in order {
            do {
                let c = try make(kind)
                let why = refusals.isEmpty ? c.reason : refusals.joined(separator: "; ") + "; chose \(kind.rawValue)"
                return Choice(backend: c.backend, reason: why)
            } catch {
                refusals.append("\(kind.rawValue): \(error)")
            }
        }
        throw BackendError(.unavailable, "no backend could run the task: " + refusals.joined(separator: "; "))
    }
}
