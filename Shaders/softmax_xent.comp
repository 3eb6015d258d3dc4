#version 450
// softmax_xent.comp — row-wise softmax cross-entropy against integer labels (stored as floats):
// losses[r] = −log p[r, label], grad[r, c] = (p[r, c] − [c == label]) / rows.
// Bindings: 0 logits (readonly, rows×cols), 1 labels (readonly, rows), 2 losses (writeonly, rows),
//           3 grad (writeonly, rows×cols).
// Push constants: rows, cols.  Dispatch: ceil(rows / WG) workgroups of WG (spec 0), one row each.
// Each invocation loops 3·cols times: cols must stay far below lavapipe's 65,535-iteration cut.
// A label outside 0..cols−1 yields a NaN loss, which the Swift side checks for.
#include "common/elementwise.glsl"
layout(std430, binding = 0) readonly buffer L_ { float logits[]; };
layout(std430, binding = 1) readonly buffer Y_ { float labels[]; };
layout(std430, binding = 2) writeonly buffer Loss_ { float losses[]; };
layout(std430, binding = 3) writeonly buffer G_ { float grad[]; };
layout(push_constant) uniform Push { uint rows; uint cols; } pc;

void main() {
    ELEMENT_INDEX_OR_RETURN(pc.rows)
    uint base = i * pc.cols;
    float label_f = labels[i];
    int label = int(label_f);
    float mx = logits[base];
    for (uint c = 1u; c < pc.cols; ++c) mx = max(mx, logits[base + c]);
    float total = 0.0;
    for (uint c = 0u; c < pc.cols; ++c) total += exp(logits[base + c] - mx);
    float logTotal = log(total);
    bool valid = label >= 0 && uint(label) < pc.cols && float(label) == label_f;
    losses[i] = valid ? -(logits[base + uint(label)] - mx - logTotal) : uintBitsToFloat(0x7fc00000u);
    for (uint c = 0u; c < pc.cols; ++c) {
        float p = exp(logits[base + c] - mx - logTotal);
        grad[base + c] = (p - (int(c) == label ? 1.0 : 0.0)) / float(pc.rows);
    }
}
