#version 450
// layer_norm.comp — over the last axis (c entries) of each row: Y = (X − μ)·r·γ + β with
// r = 1/√(σ² + ε); also writes μ and r for the backward pass. One workgroup per row.
// Bindings: 0 X (readonly), 1 gamma (readonly, c), 2 beta (readonly, c), 3 Y (writeonly),
// 4 mean (writeonly, rows), 5 rstd (writeonly, rows).
// Push constants: c, eps, groupsX, rows.  Specialization: 0 = WG (power of two).
#include "common/rows.glsl"
layout(std430, binding = 0) readonly buffer X_ { float X[]; };
layout(std430, binding = 1) readonly buffer G_ { float G[]; };
layout(std430, binding = 2) readonly buffer B_ { float Bt[]; };
layout(std430, binding = 3) writeonly buffer Y_ { float Y[]; };
layout(std430, binding = 4) writeonly buffer M_ { float M[]; };
layout(std430, binding = 5) writeonly buffer R_ { float R[]; };
layout(push_constant) uniform Push { uint c; float eps; uint groupsX; uint rows; } pc;

void main() {
    uint row = gl_WorkGroupID.y * pc.groupsX + gl_WorkGroupID.x;
    bool live = row < pc.rows;
    uint lid = gl_LocalInvocationID.x;
    uint base = live ? row * pc.c : 0u;
    float s = 0.0;
    if (live) for (uint k = lid; k < pc.c; k += WG) s += X[base + k];
    float mu = row_combine(s, false) / float(pc.c);
    float v = 0.0;
    if (live) for (uint k = lid; k < pc.c; k += WG) { float d = X[base + k] - mu; v += d * d; }
    float r = 1.0 / sqrt(row_combine(v, false) / float(pc.c) + pc.eps);
    if (!live) return;
    for (uint k = lid; k < pc.c; k += WG) Y[base + k] = (X[base + k] - mu) * r * G[k] + Bt[k];
    if (lid == 0u) { M[row] = mu; R[row] = r; }
}
