#version 450
// bias_add.comp — X[r, c] += bias[c] for a rows×cols X.
// Bindings: 0 X (read/write, rows×cols), 1 bias (readonly, cols).
// Push constants: rows, cols.  Dispatch: ceil(rows·cols / WG) workgroups of WG (spec 0).
#include "common/elementwise.glsl"
layout(std430, binding = 0) buffer X_ { float X[]; };
layout(std430, binding = 1) readonly buffer Bias_ { float bias[]; };
layout(push_constant) uniform Push { uint rows; uint cols; } pc;

void main() {
    ELEMENT_INDEX_OR_RETURN(pc.rows * pc.cols)
    X[i] += bias[i % pc.cols];
}
