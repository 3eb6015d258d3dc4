#version 450
// binary.comp — C = A ∘ B with broadcasting: element i of C (shape `dims`, rank ≤ 6) reads A
// and B through their own strides (0 along a stretched axis). ∘ numbered as `VulkanOps.binaryCode`:
// 0 add, 1 sub, 2 mul, 3 div, 4 maximum, 5 minimum, 6 equal.
// Bindings: 0 A (readonly), 1 B (readonly), 2 C (writeonly).
// Push constants: count, kind, rank, dims[6], strideA[6], strideB[6] (21 words).
// Dispatch: ceil(count / WG) workgroups of WG (spec 0). Loops: rank iterations per invocation.
#include "common/elementwise.glsl"
#include "common/strided.glsl"
layout(std430, binding = 0) readonly buffer A_ { float A[]; };
layout(std430, binding = 1) readonly buffer B_ { float B[]; };
layout(std430, binding = 2) writeonly buffer C_ { float C[]; };
layout(push_constant) uniform Push {
    uint count; uint kind; uint rank;
    uint dims[MAX_RANK]; uint strideA[MAX_RANK]; uint strideB[MAX_RANK];
} pc;

void main() {
    ELEMENT_INDEX_OR_RETURN(pc.count)
    float a = A[strided_offset(i, pc.rank, pc.dims, pc.strideA)];
    float b = B[strided_offset(i, pc.rank, pc.dims, pc.strideB)];
    float c;
    switch (pc.kind) {
    case 0u: c = a + b; break;
    case 1u: c = a - b; break;
    case 2u: c = a * b; break;
    case 3u: c = a / b; break;
    case 4u: c = max(a, b); break;
    case 5u: c = min(a, b); break;
    default: c = a == b ? 1.0 : 0.0; break;
    }
    C[i] = c;
}
