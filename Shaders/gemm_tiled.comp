#version 450
// gemm_tiled.comp — D = alpha · op(A) · op(B) + beta · D, row-major, one output per invocation
// from TILE×TILE shared-memory tiles. Chosen for small products (a dimension under 64, as in
// mini-batch training of small layers), where gemm.comp's 64×64 blocks would be mostly padding.
//
// Bindings: 0 A (readonly, M×K, or K×M when transA), 1 B (readonly, K×N, or N×K when transB),
//           2 D (read/write, M×N).
// Push constants: M, N, K, alpha, beta.
// Specialization: 0 = 1 = TILE (workgroup is TILE×TILE; default 16), 2 = TILE for the arrays,
//                 3 = TRANS_A, 4 = TRANS_B: each transpose variant is its own pipeline, so the
//                 loads carry no per-element branch.
// Dispatch: (ceil(N / TILE), ceil(M / TILE), 1).
// Each invocation loops K times in all (K/TILE tiles × TILE steps): lavapipe cuts loops after
// 65,535 iterations, so K must stay below that (the Swift wrapper checks).
layout(local_size_x_id = 0, local_size_y_id = 1) in;
layout(constant_id = 2) const uint TILE = 16;
layout(constant_id = 3) const bool TRANS_A = false;
layout(constant_id = 4) const bool TRANS_B = false;

layout(std430, binding = 0) readonly buffer A_ { float A[]; };
layout(std430, binding = 1) readonly buffer B_ { float B[]; };
layout(std430, binding = 2) buffer D_ { float D[]; };

layout(push_constant) uniform Push {
    uint M; uint N; uint K; float alpha; float beta;
} pc;

shared float tileA[TILE][TILE];
shared float tileB[TILE][TILE];

float loadA(uint row, uint k) {
    if (row >= pc.M || k >= pc.K) return 0.0;
    return TRANS_A ? A[k * pc.M + row] : A[row * pc.K + k];
}

float loadB(uint k, uint col) {
    if (k >= pc.K || col >= pc.N) return 0.0;
    return TRANS_B ? B[col * pc.K + k] : B[k * pc.N + col];
}

void main() {
    uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    uint row = gl_WorkGroupID.y * TILE + ty;
    uint col = gl_WorkGroupID.x * TILE + tx;
    float acc = 0.0;
    for (uint t = 0u; t < pc.K; t += TILE) {
        tileA[ty][tx] = loadA(row, t + tx);
        tileB[ty][tx] = loadB(t + ty, col);
        barrier();
        for (uint p = 0u; p < TILE; ++p) acc += tileA[ty][p] * tileB[p][tx];
        barrier();
    }
    if (row < pc.M && col < pc.N) {
        uint idx = row * pc.N + col;
        D[idx] = pc.alpha * acc + (pc.beta == 0.0 ? 0.0 : pc.beta * D[idx]);
    }
}
