#version 450
// sgd_momentum.comp — PyTorch's form: V = μ·V + G; P −= lr·V.
// Bindings: 0 P (read/write), 1 G (readonly), 2 V (read/write).
// Push constants: count, lr, momentum.  Dispatch: ceil(count / WG).
#include "common/elementwise.glsl"
layout(std430, binding = 0) buffer P_ { float P[]; };
layout(std430, binding = 1) readonly buffer G_ { float G[]; };
layout(std430, binding = 2) buffer V_ { float V[]; };
layout(push_constant) uniform Push { uint count; float lr; float momentum; } pc;

void main() {
    ELEMENT_INDEX_OR_RETURN(pc.count)
    float v = pc.momentum * V[i] + G[i];
    V[i] = v;
    P[i] -= pc.lr * v;
}
