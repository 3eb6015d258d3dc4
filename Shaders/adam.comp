#version 450
// adam.comp — Adam with bias correction (c1 = 1 − β1^t, c2 = 1 − β2^t computed on the host);
// weight_decay > 0 gives AdamW's decoupled decay.
// Bindings: 0 P (read/write), 1 G (readonly), 2 M (read/write), 3 V (read/write).
// Push constants: count, lr, beta1, beta2, epsilon, weight_decay, c1, c2.
// Dispatch: ceil(count / WG).
#include "common/elementwise.glsl"
layout(std430, binding = 0) buffer P_ { float P[]; };
layout(std430, binding = 1) readonly buffer G_ { float G[]; };
layout(std430, binding = 2) buffer M_ { float M[]; };
layout(std430, binding = 3) buffer V_ { float V[]; };
layout(push_constant) uniform Push {
    uint count; float lr; float beta1; float beta2; float epsilon; float weight_decay; float c1; float c2;
} pc;

void main() {
    ELEMENT_INDEX_OR_RETURN(pc.count)
    float g = G[i];
    float m = pc.beta1 * M[i] + (1.0 - pc.beta1) * g;
    float v = pc.beta2 * V[i] + (1.0 - pc.beta2) * g * g;
    M[i] = m;
    V[i] = v;
    float mh = m / pc.c1, vh = v / pc.c2;
    P[i] -= pc.lr * (mh / (sqrt(vh) + pc.epsilon) + pc.weight_decay * P[i]);
}
