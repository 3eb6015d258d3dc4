#version 450
// column_sum.comp — out[c] = Σ_r X[r, c], summed in row order (deterministic, no atomics).
// Bindings: 0 X (readonly, rows×cols), 1 out (writeonly, cols).
// Push constants: rows, cols.  Dispatch: ceil(cols / WG) workgroups, one column each.
// Each invocation loops `rows` times: the Swift wrapper keeps rows below lavapipe's cut.
#include "common/elementwise.glsl"
layout(std430, binding = 0) readonly buffer X_ { float X[]; };
layout(std430, binding = 1) writeonly buffer O_ { float outv[]; };
layout(push_constant) uniform Push { uint rows; uint cols; } pc;

void main() {
    ELEMENT_INDEX_OR_RETURN(pc.cols)
    float acc = 0.0;
    for (uint r = 0u; r < pc.rows; ++r) acc += X[r * pc.cols + i];
    outv[i] = acc;
}
