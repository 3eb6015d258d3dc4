#version 450
// scale.comp — X *= alpha.
// Bindings: 0 X (read/write).  Push constants: count, alpha.  Dispatch: ceil(count / WG).
#include "common/elementwise.glsl"
layout(std430, binding = 0) buffer X_ { float X[]; };
layout(push_constant) uniform Push { uint count; float alpha; } pc;

void main() {
    ELEMENT_INDEX_OR_RETURN(pc.count)
    X[i] *= pc.alpha;
}
