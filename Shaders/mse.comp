#version 450
// mse.comp — losses[r] = Σ_c (P − T)² / cols, grad = 2 (P − T) / (rows · cols).
// Bindings: 0 P (readonly), 1 T (readonly), 2 losses (writeonly, rows), 3 grad (writeonly).
// Push constants: rows, cols.  Dispatch: ceil(rows / WG) workgroups, one row each.
#include "common/elementwise.glsl"
layout(std430, binding = 0) readonly buffer P_ { float P[]; };
layout(std430, binding = 1) readonly buffer T_ { float T[]; };
layout(std430, binding = 2) writeonly buffer Loss_ { float losses[]; };
layout(std430, binding = 3) writeonly buffer G_ { float grad[]; };
layout(push_constant) uniform Push { uint rows; uint cols; } pc;

void main() {
    ELEMENT_INDEX_OR_RETURN(pc.rows)
    float acc = 0.0;
    for (uint c = 0u; c < pc.cols; ++c) {
        uint k = i * pc.cols + c;
        float d = P[k] - T[k];
        acc += d * d;
        grad[k] = 2.0 * d / float(pc.rows * pc.cols);
    }
    losses[i] = acc / float(pc.cols);
}
