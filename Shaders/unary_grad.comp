#version 450
// unary_grad.comp — DX = DY · f'(X), elementwise; f numbered as in common/unary.glsl.
// Bindings: 0 X (readonly), 1 DY (readonly), 2 DX (writeonly).  Push constants: count, kind, p.
// Dispatch: ceil(count / WG) workgroups of WG (spec 0).
#include "common/elementwise.glsl"
#include "common/unary.glsl"
layout(std430, binding = 0) readonly buffer X_ { float X[]; };
layout(std430, binding = 1) readonly buffer DY_ { float DY[]; };
layout(std430, binding = 2) writeonly buffer DX_ { float DX[]; };
layout(push_constant) uniform Push { uint count; uint kind; float p; } pc;

void main() {
    ELEMENT_INDEX_OR_RETURN(pc.count)
    DX[i] = DY[i] * un_derivative(pc.kind, pc.p, X[i]);
}
