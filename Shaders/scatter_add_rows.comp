#version 450
// scatter_add_rows.comp — Y[r, d] = Σ over i with idx[i] = r of V[i, d], in index order
// (deterministic, no float atomics, which core Vulkan lacks). One invocation per output,
// looping over the n indices: the Swift side keeps n below lavapipe's 65,535-iteration cut.
// Bindings: 0 V (readonly, n·D), 1 idx (readonly, n), 2 Y (writeonly, rows·D).
// Push constants: count (rows·D), D, n.  Dispatch: ceil(count / WG) workgroups of WG (spec 0).
#include "common/elementwise.glsl"
layout(std430, binding = 0) readonly buffer V_ { float V[]; };
layout(std430, binding = 1) readonly buffer I_ { float idx[]; };
layout(std430, binding = 2) writeonly buffer Y_ { float Y[]; };
layout(push_constant) uniform Push { uint count; uint d; uint n; } pc;

void main() {
    ELEMENT_INDEX_OR_RETURN(pc.count)
    uint r = i / pc.d, c = i % pc.d;
    float acc = 0.0;
    for (uint k = 0u; k < pc.n; ++k) if (uint(idx[k]) == r) acc += V[k * pc.d + c];
    Y[i] = acc;
}
