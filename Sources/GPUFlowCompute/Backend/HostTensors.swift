/// Tensors that are plain host arrays, shared by the CPU reference and the SIMD backend: the
/// array class, byte counting for `tensorBytesPeak`, and the create/read/write/check helpers.
/// A tensor belongs to the backend whose name it carries, so one backend still refuses the
/// other's tensors as foreign, as a device backend would.
final class HostTensors: @unchecked Sendable {
    final class Storage {
        var values: [Float]
        private let meter: TensorMeter
        private let bytes: Int
        init(_ values: [Float], meter: TensorMeter) throws {
            try meter.add(values.count * 4)
            self.values = values
            self.meter = meter
            bytes = values.count * 4
        }
        deinit { meter.remove(bytes) }
    }

    let backend: String
    let meter = TensorMeter()

    init(backend: String) { self.backend = backend }

    func tensor(_ values: [Float], shape: [Int]) throws -> Tensor {
        guard shape.reduce(1, *) == values.count, shape.allSatisfy({ $0 >= 0 }) else {
            throw BackendError(.shapeMismatch, "tensor: shape \(shape) does not hold \(values.count) values")
        }
        return Tensor(shape: shape, storage: try Storage(values, meter: meter), backendName: backend)
    }

    func storage(_ t: Tensor, _ op: String) throws -> Storage {
        guard t.backendName == backend else {
            throw BackendError(.foreignTensor, "\(op): tensor belongs to backend \(t.backendName), not \(backend)")
        }
        return try t.storage(as: Storage.self, backend: backend, op)
    }

    func expect(_ t: Tensor, _ count: Int, _ op: String, _ role: String) throws -> Storage {
        let s = try storage(t, op)
        try t.require(count, op, role)
        return s
    }

    func write(_ t: Tensor, _ values: [Float]) throws {
        let s = try storage(t, "write")
        guard values.count == t.count else {
            throw BackendError(.shapeMismatch, "write: tensor holds \(t.count) values, got \(values.count)")
        }
        s.values = values
    }
}
