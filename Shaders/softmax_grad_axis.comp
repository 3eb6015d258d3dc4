#version 450
// softmax_grad_axis.comp — DX from the (log-)softmax output Y and DY along one axis:
// softmax DX = Y·(DY − Σ DY·Y); log-softmax DX = DY − exp(Y)·Σ DY. One workgroup per row.
// Bindings: 0 Y (readonly), 1 DY (readonly), 2 DX (writeonly).
// Push constants: n, inner, log, groupsX, rows.  Specialization: 0 = WG (power of two).
#include "common/rows.glsl"
layout(std430, binding = 0) readonly buffer Y_ { float Y[]; };
layout(std430, binding = 1) readonly buffer DY_ { float DY[]; };
layout(std430, binding = 2) writeonly buffer DX_ { float DX[]; };
layout(push_constant) uniform Push { uint n; uint inner; uint log_; uint groupsX; uint rows; } pc;

void main() {
    uint row = gl_WorkGroupID.y * pc.groupsX + gl_WorkGroupID.x;
    bool live = row < pc.rows;
    uint lid = gl_LocalInvocationID.x;
    uint base = live ? (row / pc.inner) * pc.n * pc.inner + row % pc.inner : 0u;
    float s = 0.0;
    if (live) for (uint k = lid; k < pc.n; k += WG) {
        uint e = base + k * pc.inner;
        s += pc.log_ != 0u ? DY[e] : DY[e] * Y[e];
    }
    s = row_combine(s, false);
    if (!live) return;
    for (uint k = lid; k < pc.n; k += WG) {
        uint e = base + k * pc.inner;
        DX[e] = pc.log_ != 0u ? DY[e] - exp(Y[e]) * s : Y[e] * (DY[e] - s);
    }
}
