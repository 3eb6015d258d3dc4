#version 450
// rmsprop.comp — PyTorch's RMSprop (not centered): g += wd·p; s = α·s + (1 − α)·g²;
// u = g / (√s + ε); with momentum μ > 0, b = μ·b + u and p −= lr·b, else p −= lr·u.
// Bindings: 0 P (read/write), 1 G (readonly), 2 S square average (read/write),
//           3 B momentum buffer (read/write; untouched when μ is 0).
// Push constants: count, lr, alpha, epsilon, weight_decay, momentum.
// Dispatch: ceil(count / WG).
#include "common/elementwise.glsl"
layout(std430, binding = 0) buffer P_ { float P[]; };
layout(std430, binding = 1) readonly buffer G_ { float G[]; };
layout(std430, binding = 2) buffer S_ { float S[]; };
layout(std430, binding = 3) buffer B_ { float B[]; };
layout(push_constant) uniform Push {
    uint count; float lr; float alpha; float epsilon; float weight_decay; float momentum;
} pc;

void main() {
    ELEMENT_INDEX_OR_RETURN(pc.count)
    float g = pc.weight_decay != 0.0 ? G[i] + pc.weight_decay * P[i] : G[i];
    float s = pc.alpha * S[i] + (1.0 - pc.alpha) * g * g;
    S[i] = s;
    float u = g / (sqrt(s) + pc.epsilon);
    if (pc.momentum > 0.0) {
        float b = pc.momentum * B[i] + u;
        B[i] = b;
        P[i] -= pc.lr * b;
    } else {
        P[i] -= pc.lr * u;
    }
}
