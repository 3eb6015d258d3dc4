/// A flat float buffer owned by one backend. Workloads hold tensors and pass them to kernels;
/// only `Backend.read` brings the numbers back to the host, so a GPU backend can keep them on
/// the device between kernels.
public final class Tensor: @unchecked Sendable {
    public let count: Int
    public let shape: [Int]
    /// The backend's representation; only the backend that made it may look inside.
    public let storage: AnyObject
    public let backendName: String

    public init(shape: [Int], storage: AnyObject, backendName: String) {
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.storage = storage
        self.backendName = backendName
    }

    /// The backend's own representation, or the foreign-tensor error every backend raises.
    func storage<T>(as type: T.Type, backend: String, _ op: String) throws -> T {
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

/// The kernels a backend may provide; `Backend.supports` says which it does.
public enum KernelOp: String, CaseIterable, Sendable {
    case gemm, gemmBatched, addBias, biasActivation, activation, activationBackward, softmaxCrossEntropy, mse
    case columnSum, rowArgmax, sum, sumOfSquares, scale, axpy, sgdMomentum, adam
}
