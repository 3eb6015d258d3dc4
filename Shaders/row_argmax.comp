#version 450
// row_argmax.comp — out[r] = index of the largest X[r, c]; the first one on ties.
// Bindings: 0 X (readonly, rows×cols), 1 out (writeonly, rows).
// Push constants: rows, cols.  Dispatch: ceil(rows / WG) workgroups, one row each.
#include "common/elementwise.glsl"
layout(std430, binding = 0) readonly buffer X_ { float X[]; };
layout(std430, binding = 1) writeonly buffer O_ { float outv[]; };
layout(push_constant) uniform Push { uint rows; uint cols; } pc;

void main() {
    ELEMENT_INDEX_OR_RETURN(pc.rows)
    uint base = i * pc.cols, best = 0u;
    for (uint c = 1u; c < pc.cols; ++c) if (X[base + c] > X[base + best]) best = c;
    outv[i] = float(best);
}
