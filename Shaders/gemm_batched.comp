#version 450
// gemm_batched.comp — D_b = alpha · op(A_b) · op(B_b) + beta · D_b for b in 0..<batch, row-major,
// one output per invocation from TILE×TILE shared-memory tiles. Operand b starts at b·stride
// (a stride of 0 shares one operand across the batch, e.g. a column of ones for biases).
// Used to evaluate a whole evolutionary population in one dispatch per layer.
//
// Bindings: 0 A (readonly), 1 B (readonly), 2 D (read/write).
// Push constants: M, N, K, strideA, strideB, strideD, alpha, beta.
// Specialization: 0 = 1 = TILE (workgroup TILE×TILE), 2 = TILE for the arrays, 3 = TRANS_A, 4 = TRANS_B.
// Dispatch: (ceil(N / TILE), ceil(M / TILE), batch).
// Each invocation loops about K times: the Swift wrapper keeps K ≤ 32,768 for lavapipe.
layout(local_size_x_id = 0, local_size_y_id = 1) in;
layout(constant_id = 2) const uint TILE = 16;
layout(constant_id = 3) const bool TRANS_A = false;
layout(constant_id = 4) const bool TRANS_B = false;

layout(std430, binding = 0) readonly buffer A_ { float A[]; };
layout(std430, binding = 1) readonly buffer B_ { float B[]; };
layout(std430, binding = 2) buffer D_ { float D[]; };

layout(push_constant) uniform Push {
    uint M; uint N; uint K; uint strideA; uint strideB; uint strideD; float alpha; float beta;
} pc;

shared float tileA[TILE][TILE];
shared float tileB[TILE][TILE];

float loadA(uint base, uint row, uint k) {
    if (row >= pc.M || k >= pc.K) return 0.0;
    return TRANS_A ? A[base + k * pc.M + row] : A[base + row * pc.K + k];
}

float loadB(uint base, uint k, uint col) {
    if (k >= pc.K || col >= pc.N) return 0.0;
    return TRANS_B ? B[base + col * pc.K + k] : B[base + k * pc.N + col];
}

void main() {
    uint b = gl_WorkGroupID.z;
    uint baseA = b * pc.strideA, baseB = b * pc.strideB, baseD = b * pc.strideD;
    uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    uint row = gl_WorkGroupID.y * TILE + ty;
    uint col = gl_WorkGroupID.x * TILE + tx;
    float acc = 0.0;
    for (uint t = 0u; t < pc.K; t += TILE) {
        tileA[ty][tx] = loadA(baseA, row, t + tx);
        tileB[ty][tx] = loadB(baseB, t + ty, col);
        barrier();
        for (uint p = 0u; p < TILE; ++p) acc += tileA[ty][p] * tileB[p][tx];
        barrier();
    }
    if (row < pc.M && col < pc.N) {
        uint idx = baseD + row * pc.N + col;
        D[idx] = pc.alpha * acc + (pc.beta == 0.0 ? 0.0 : pc.beta * D[idx]);
    }
}
