#version 450
// sgd_momentum.comp — PyTorch's SGD: g = G + wd·P (when wd ≠ 0); V = μ·V + g;
// P −= lr·(nesterov ? g + μ·V : V).
// Bindings: 0 P (read/write), 1 G (readonly), 2 V (read/write).
// Push constants: count, lr, momentum, wd, nesterov.  Dispatch: ceil(count / WG).
#include "common/elementwise.glsl"
layout(std430, binding = 0) buffer P_ { float P[]; };
layout(std430, binding = 1) readonly buffer G_ { float G[]; };
layout(std430, binding = 2) buffer V_ { float V[]; };
layout(push_constant) uniform Push { uint count; float lr; float momentum; float wd; uint nesterov; } pc;

void main() {
    ELEMENT_INDEX_OR_RETURN(pc.count)
    float g = pc.wd != 0.0 ? G[i] + pc.wd * P[i] : G[i];
    float v = pc.momentum * V[i] + g;
    V[i] = v;
    P[i] -= pc.lr * (pc.nesterov != 0u ? g + pc.momentum * v : v);
}
