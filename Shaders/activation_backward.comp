#version 450
// activation_backward.comp — dX = dY · f'(X), where X is the pre-activation.
// Bindings: 0 X (readonly), 1 dY (readonly), 2 dX (writeonly).  Push constants: count, kind.
// Dispatch: ceil(count / WG) workgroups of WG (spec 0).
#include "common/elementwise.glsl"
#include "common/activation.glsl"
layout(std430, binding = 0) readonly buffer X_ { float X[]; };
layout(std430, binding = 1) readonly buffer DY_ { float dY[]; };
layout(std430, binding = 2) writeonly buffer DX_ { float dX[]; };
layout(push_constant) uniform Push { uint count; uint kind; } pc;

void main() {
    ELEMENT_INDEX_OR_RETURN(pc.count)
    dX[i] = dY[i] * act_derivative(pc.kind, X[i]);
}
