#version 450
// bias_activation.comp — X[r, c] += bias[c]; Y[r, c] = f(X[r, c]): a dense layer's bias and
// activation in one pass, so a forward layer is two dispatches (GEMM, this) instead of three.
// X keeps the pre-activation, which the backward pass needs.
// Bindings: 0 X (read/write, rows×cols), 1 bias (readonly, cols), 2 Y (writeonly, rows×cols).
// Push constants: rows, cols, kind (numbered as in common/activation.glsl).
// Dispatch: ceil(rows·cols / WG) workgroups of WG (spec 0).
#include "common/elementwise.glsl"
#include "common/activation.glsl"
layout(std430, binding = 0) buffer X_ { float X[]; };
layout(std430, binding = 1) readonly buffer Bias_ { float bias[]; };
layout(std430, binding = 2) writeonly buffer Y_ { float Y[]; };
layout(push_constant) uniform Push { uint rows; uint cols; uint kind; } pc;

void main() {
    ELEMENT_INDEX_OR_RETURN(pc.rows * pc.cols)
    float pre = X[i] + bias[i % pc.cols];
    X[i] = pre;
    Y[i] = act_apply(pc.kind, pre);
}
