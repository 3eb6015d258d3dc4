/// A flat float buffer owned by one backend. Workloads hold tensors and pass them to kernels;
/// only `Backend.read` brings the numbers back to the host, so a GPU backend can keep them on
/// the device between kernels.
public final class Tensor: @unchecked Sendable {
    public let count: Int
    /// Any rank, row-major.
    public let shape: [Int]
    /// The backend's representation; only the backend that made it may look inside. Views
    /// (`view(shape:)`) share it.
    public let storage: AnyObject
    public let backendName: String
    /// fp32 today; the field lets fp16 and bf16 tensors follow.
    public let dtype: DType
    /// Where the tensor's first element sits in its storage, in elements (0 for every tensor
    /// a backend makes today; a kernel handed a tensor at another offset refuses it).
    public let offset: Int

    public init(shape: [Int], storage: AnyObject, backendName: String, dtype: DType = .f32, offset: Int = 0) {
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.storage = storage
        self.backendName = backendName
        self.dtype = dtype
        self.offset = offset
    }

    /// The backend's own representation, or the foreign-tensor error every backend raises.
    func storage<T>(as type: T.Type, backend: String, _ op: String) throws -> T {
        guard offset == 0, dtype == .f32 else {
            throw BackendError(
                .unsupported, "\(op): a \(dtype.rawValue) tensor at offset \(offset) (kernels take fp32 tensors at offset 0)")
        }
        guard let s = storage as? T else {
            throw BackendError(.foreignTensor, "\(op): tensor belongs to backend \(backendName), not \(backend)")
        }
        return s
    }

    /// The shape check every backend makes, with the same wording everywhere:
    /// "gemm: A has 2 elements, expected 4".
    func require(_ expected: Int, _ op: String, _ role: String) throws {
        guard count == expected else {
            throw BackendError(.shapeMismatch, "\(op): \(role) has \(count) elements, expected \(expected)")
        }
    }
}

public enum Activation: String, CaseIterable, Sendable, Codable {
    case identity, relu, tanh, sigmoid, gelu
}
