#version 450
// unary.comp — Y = f(X), elementwise; f numbered as in common/unary.glsl, p its constant.
// Bindings: 0 X (readonly), 1 Y (writeonly).  Push constants: count, kind, p.
// Dispatch: ceil(count / WG) workgroups of WG (spec 0).
#include "common/elementwise.glsl"
#include "common/unary.glsl"
layout(std430, binding = 0) readonly buffer X_ { float X[]; };
layout(std430, binding = 1) writeonly buffer Y_ { float Y[]; };
layout(push_constant) uniform Push { uint count; uint kind; float p; } pc;

void main() {
    ELEMENT_INDEX_OR_RETURN(pc.count)
    Y[i] = un_apply(pc.kind, pc.p, X[i]);
}
