#version 450
// copy.comp — Y = X, one element per invocation: the device memory bandwidth probe (each
// element read once and written once) and a plain device-side copy.
// Bindings: 0 X (read), 1 Y (write).  Push constants: count.  Dispatch: ceil(count / WG).
#include "common/elementwise.glsl"
layout(std430, binding = 0) readonly buffer X_ { float X[]; };
layout(std430, binding = 1) writeonly buffer Y_ { float Y[]; };
layout(push_constant) uniform Push { uint count; } pc;

void main() {
    ELEMENT_INDEX_OR_RETURN(pc.count)
    Y[i] = X[i];
}
