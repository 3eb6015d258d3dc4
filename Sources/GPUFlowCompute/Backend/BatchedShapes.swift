/// The size check of a strided-batched GEMM, shared by every backend: each operand's last
/// batch member must end inside its tensor.
enum BatchedShapes {
    static func check(
        _ a: Tensor, _ b: Tensor, _ c: Tensor, batch: Int, m: Int, n: Int, k: Int,
        strideA: Int, strideB: Int, strideC: Int
    ) throws {
        guard batch >= 1, m >= 1, n >= 1, k >= 1, strideA >= 0, strideB >= 0, strideC >= m * n || batch == 1 else {
            throw BackendError(
                .shapeMismatch,
                "gemmBatched: batch \(batch), m \(m), n \(n), k \(k) with strides \(strideA), \(strideB), \(strideC) is not a valid batch")
        }
        for (t, size, stride, role) in [(a, m * k, strideA, "A"), (b, k * n, strideB, "B"), (c, m * n, strideC, "C")] {
            let needed = (batch - 1) * stride + size
            guard t.count >= needed else {
                throw BackendError(.shapeMismatch, "gemmBatched: \(role) has \(t.count) elements, the batch needs \(needed)")
            }
        }
    }
}
