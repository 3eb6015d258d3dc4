#version 450
// gemm.comp — D = alpha · op(A) · op(B) + beta · D, row-major, register-blocked.
//
// Each workgroup of TILE×TILE invocations computes a (TILE·TM)×(TILE·TM) block of D; each
// invocation computes TM×TM outputs held in registers, so every value read from workgroup memory
// is used TM times (the simple one-output-per-invocation tiling used each value once).
// Bindings: 0 A (readonly, M×K, or K×M when TRANS_A), 1 B (readonly, K×N, or N×K when TRANS_B),
//           2 D (read/write, M×N).
// Push constants: M, N, K, alpha, beta.
// Specialization: 0 = 1 = TILE (workgroup TILE×TILE, default 16), 2 = TILE for the arrays,
//                 3 = TRANS_A, 4 = TRANS_B (each transpose variant is its own pipeline),
//                 5 = TM (outputs per invocation per side, default 4).
// Dispatch: (ceil(N / (TILE·TM)), ceil(M / (TILE·TM)), 1).
// Loop iterations per invocation ≈ K · (1 + 1/BK): lavapipe cuts loops after 65,535, so the
// Swift wrapper keeps K ≤ 32,768.
layout(local_size_x_id = 0, local_size_y_id = 1) in;
layout(constant_id = 2) const uint TILE = 16;
layout(constant_id = 3) const bool TRANS_A = false;
layout(constant_id = 4) const bool TRANS_B = false;
layout(constant_id = 5) const uint TM = 4;
const uint BK = 16;                 // depth of one K step held in workgroup memory

layout(std430, binding = 0) readonly buffer A_ { float A[]; };
layout(std430, binding = 1) readonly buffer B_ { float B[]; };
layout(std430, binding = 2) buffer D_ { float D[]; };

layout(push_constant) uniform Push { uint M; uint N; uint K; float alpha; float beta; } pc;

// A is stored transposed (k-major) so an invocation's TM rows are adjacent in memory.
shared float As[BK][TILE * TM];
shared float Bs[BK][TILE * TM];

float loadA(uint row, uint k) {
    if (row >= pc.M || k >= pc.K) return 0.0;
    return TRANS_A ? A[k * pc.M + row] : A[row * pc.K + k];
}

float loadB(uint k, uint col) {
    if (k >= pc.K || col >= pc.N) return 0.0;
    return TRANS_B ? B[col * pc.K + k] : B[k * pc.N + col];
}

void main() {
    const uint BM = TILE * TM;
    uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    uint tid = ty * TILE + tx, threads = TILE * TILE;
    uint rowBase = gl_WorkGroupID.y * BM, colBase = gl_WorkGroupID.x * BM;
    float acc[TM][TM];
    for (uint i = 0u; i < TM; ++i) for (uint j = 0u; j < TM; ++j) acc[i][j] = 0.0;
    for (uint t = 0u; t < pc.K; t += BK) {
        for (uint e = tid; e < BM * BK; e += threads) {
            uint m = e / BK, k = e % BK;
            As[k][m] = loadA(rowBase + m, t + k);
            uint kb = e / BM, n = e % BM;
            Bs[kb][n] = loadB(t + kb, colBase + n);
        }
        barrier();
        for (uint k = 0u; k < BK; ++k) {
            float a[TM], b[TM];
            for (uint i = 0u; i < TM; ++i) a[i] = As[k][ty * TM + i];
            for (uint j = 0u; j < TM; ++j) b[j] = Bs[k][tx * TM + j];
            for (uint i = 0u; i < TM; ++i) for (uint j = 0u; j < TM; ++j) acc[i][j] += a[i] * b[j];
        }
        barrier();
    }
    for (uint i = 0u; i < TM; ++i) {
        uint row = rowBase + ty * TM + i;
        if (row >= pc.M) continue;
        for (uint j = 0u; j < TM; ++j) {
            uint col = colBase + tx * TM + j;
            if (col >= pc.N) continue;
            uint idx = row * pc.N + col;
            D[idx] = pc.alpha * acc[i][j] + (pc.beta == 0.0 ? 0.0 : pc.beta * D[idx]);
        }
    }
}
