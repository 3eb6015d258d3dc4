#version 450
// strided_copy.comp — Y[dstBase + Σ c·dstStride] = X[srcBase + Σ c·srcStride] for every
// coordinate c of a region of shape `dims` (rank ≤ 6): broadcast (source stride 0 on stretched
// axes), permute, slice, unslice and concat (one dispatch per input, into its part of Y).
// Bindings: 0 X (readonly), 1 Y (writeonly).
// Push constants: count, rank, srcBase, dstBase, dims[6], srcStride[6], dstStride[6] (22 words).
// Dispatch: ceil(count / WG) workgroups of WG (spec 0).
#include "common/elementwise.glsl"
#include "common/strided.glsl"
layout(std430, binding = 0) readonly buffer X_ { float X[]; };
layout(std430, binding = 1) writeonly buffer Y_ { float Y[]; };
layout(push_constant) uniform Push {
    uint count; uint rank; uint srcBase; uint dstBase;
    uint dims[MAX_RANK]; uint srcStride[MAX_RANK]; uint dstStride[MAX_RANK];
} pc;

void main() {
    ELEMENT_INDEX_OR_RETURN(pc.count)
    Y[pc.dstBase + strided_offset(i, pc.rank, pc.dims, pc.dstStride)] = X[pc.srcBase + strided_offset(i, pc.rank, pc.dims, pc.srcStride)];
}
