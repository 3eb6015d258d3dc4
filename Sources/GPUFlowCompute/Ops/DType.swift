/// The element type of a tensor. Only fp32 runs today; the field exists so fp16 and bf16
/// tensors can follow without another change to every signature.
public enum DType: String, Codable, Sendable, CaseIterable {
    case f32

    public var bytes: Int {
        switch self {
        case .f32: return 4
        }
    }

    /// The name the safetensors format uses.
    public var safetensorsName: String {
        switch self {
        case .f32: return "F32"
        }
    }
}
