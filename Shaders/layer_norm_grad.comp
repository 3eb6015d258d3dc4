#version 450
// layer_norm_grad.comp — per row of c entries, with x̂ = (X − μ)·r and g = DY·γ:
// DX = r/c · (c·g − Σg − x̂·Σ(g·x̂)); also P = DY·x̂, whose column sums are dγ (DY's are dβ),
// summed afterwards by reduce_axis. One workgroup per row.
// Bindings: 0 X, 1 gamma, 2 mean, 3 rstd, 4 DY (readonly), 5 DX, 6 P (writeonly).
// Push constants: c, groupsX, rows.  Specialization: 0 = WG (power of two).
#include "common/rows.glsl"
layout(std430, binding = 0) readonly buffer X_ { float X[]; };
layout(std430, binding = 1) readonly buffer G_ { float G[]; };
layout(std430, binding = 2) readonly buffer M_ { float M[]; };
layout(std430, binding = 3) readonly buffer R_ { float R[]; };
layout(std430, binding = 4) readonly buffer DY_ { float DY[]; };
layout(std430, binding = 5) writeonly buffer DX_ { float DX[]; };
layout(std430, binding = 6) writeonly buffer P_ { float P[]; };
layout(push_constant) uniform Push { uint c; uint groupsX; uint rows; } pc;

void main() {
    uint row = gl_WorkGroupID.y * pc.groupsX + gl_WorkGroupID.x;
    bool live = row < pc.rows;
    uint lid = gl_LocalInvocationID.x;
    uint base = live ? row * pc.c : 0u;
    float mu = live ? M[row] : 0.0, r = live ? R[row] : 0.0;
    float sg = 0.0, sgx = 0.0;
    if (live) for (uint k = lid; k < pc.c; k += WG) {
        float xh = (X[base + k] - mu) * r;
        float g = DY[base + k] * G[k];
        sg += g;
        sgx += g * xh;
    }
    sg = row_combine(sg, false);
    sgx = row_combine(sgx, false);
    if (!live) return;
    for (uint k = lid; k < pc.c; k += WG) {
        float xh = (X[base + k] - mu) * r;
        DX[base + k] = r / float(pc.c) * (float(pc.c) * DY[base + k] * G[k] - sg - xh * sgx);
        P[base + k] = DY[base + k] * xh;
    }
}
