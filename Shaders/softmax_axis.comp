#version 450
// softmax_axis.comp — Y = softmax (or log-softmax when `log` is 1) of X along one axis, for an
// (outer, n, inner) view; one workgroup per row (common/rows.glsl).
// Bindings: 0 X (readonly), 1 Y (writeonly).  Push constants: n, inner, log, groupsX, rows.
// Specialization: 0 = WG (power of two).  Dispatch: (groupsX, ceil(rows / groupsX)).
#include "common/rows.glsl"
layout(std430, binding = 0) readonly buffer X_ { float X[]; };
layout(std430, binding = 1) writeonly buffer Y_ { float Y[]; };
layout(push_constant) uniform Push { uint n; uint inner; uint log_; uint groupsX; uint rows; } pc;

void main() {
    uint row = gl_WorkGroupID.y * pc.groupsX + gl_WorkGroupID.x;
    bool live = row < pc.rows;  // every thread reaches the barriers
    uint lid = gl_LocalInvocationID.x;
    uint base = live ? (row / pc.inner) * pc.n * pc.inner + row % pc.inner : 0u;
    float m = -1.0 / 0.0;
    if (live) for (uint k = lid; k < pc.n; k += WG) m = max(m, X[base + k * pc.inner]);
    m = row_combine(m, true);
    float s = 0.0;
    if (live) for (uint k = lid; k < pc.n; k += WG) s += exp(X[base + k * pc.inner] - m);
    s = row_combine(s, false);
    if (!live) return;
    float ls = log(s);
    for (uint k = lid; k < pc.n; k += WG) {
        float z = X[base + k * pc.inner] - m;
        Y[base + k * pc.inner] = pc.log_ != 0u ? z - ls : exp(z) / s;
    }
}
