#version 450
// axpy.comp — Y += alpha · X.
// Bindings: 0 X (readonly), 1 Y (read/write).  Push constants: count, alpha.
// Dispatch: ceil(count / WG).
#include "common/elementwise.glsl"
layout(std430, binding = 0) readonly buffer X_ { float X[]; };
layout(std430, binding = 1) buffer Y_ { float Y[]; };
layout(push_constant) uniform Push { uint count; float alpha; } pc;

void main() {
    ELEMENT_INDEX_OR_RETURN(pc.count)
    Y[i] += pc.alpha * X[i];
}
