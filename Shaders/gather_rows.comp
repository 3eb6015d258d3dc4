#version 450
// gather_rows.comp — Y[i, d] = T[idx[i], d]: the rows of a [rows, D] table named by indices
// (integers stored as floats, checked by the Swift side on the mapped path).
// Bindings: 0 T (readonly, rows·D), 1 idx (readonly, n), 2 Y (writeonly, n·D).
// Push constants: count (n·D), D.  Dispatch: ceil(count / WG) workgroups of WG (spec 0).
#include "common/elementwise.glsl"
layout(std430, binding = 0) readonly buffer T_ { float T[]; };
layout(std430, binding = 1) readonly buffer I_ { float idx[]; };
layout(std430, binding = 2) writeonly buffer Y_ { float Y[]; };
layout(push_constant) uniform Push { uint count; uint d; } pc;

void main() {
    ELEMENT_INDEX_OR_RETURN(pc.count)
    uint r = uint(idx[i / pc.d]);
    Y[i] = T[r * pc.d + i % pc.d];
}
