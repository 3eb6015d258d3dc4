#version 450
// reduce_axis_serial.comp — reduce_axis.comp for short axes: one output per invocation, which
// loops over the n entries itself (the Swift side takes it for n ≤ 64). lavapipe runs a
// workgroup per output at tens of microseconds whatever its work, so a max pool's 4,096 windows
// of 4 took 150 ms as workgroups. The same kinds: 0 sum, 1 mean, 2 max, 3 argmax (first of
// equal maxima); sums run in sequence rather than as a tree, so their last bits may differ.
// Bindings: 0 X (readonly, outer·n·inner), 1 Y (writeonly, outputs = outer·inner).
// Push constants: n, inner, kind, outputs.  Dispatch: ceil(outputs / WG) workgroups of WG (spec 0).
#include "common/elementwise.glsl"
layout(std430, binding = 0) readonly buffer X_ { float X[]; };
layout(std430, binding = 1) writeonly buffer Y_ { float Y[]; };
layout(push_constant) uniform Push { uint n; uint inner; uint kind; uint outputs; } pc;

void main() {
    ELEMENT_INDEX_OR_RETURN(pc.outputs)
    uint base = (i / pc.inner) * pc.n * pc.inner + i % pc.inner;
    bool isMax = pc.kind >= 2u;
    float acc = isMax ? -1.0 / 0.0 : 0.0;
    uint best = 0xFFFFFFFFu;
    for (uint k = 0u; k < pc.n; k++) {
        float v = X[base + k * pc.inner];
        if (isMax) { if (v > acc || best == 0xFFFFFFFFu) { acc = v; best = k; } }
        else acc += v;
    }
    if (pc.kind == 1u) acc /= float(pc.n);
    if (pc.kind == 3u) acc = float(best);
    Y[i] = acc;
}
