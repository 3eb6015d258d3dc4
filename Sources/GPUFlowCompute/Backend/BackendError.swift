/// A backend failure the orchestrator and the fallback logic can act on.
public struct BackendError: Error, CustomStringConvertible, Sendable {
    public enum Code: Sendable, Equatable {
        case shapeMismatch
        case foreignTensor
        case unsupported
        case outOfMemory
        /// An agent's tensors would pass its memory partition or limit: its fault, not the device's.
        case quotaExceeded
        case deviceLost
        case unavailable
        case invalidShader
        case vulkan(Int32)
    }
    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String {
        if case .vulkan(let r) = code { return "\(message) (VkResult \(r))" }
        return message
    }
}
