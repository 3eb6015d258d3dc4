#version 450
// reduce_sum.comp — one pass of a deterministic tree reduction: partial[g] = Σ of the chunk of
// X that workgroup g owns (squared first when `square` is 1). The Swift side repeats passes
// over the partials until one value is left; the order of additions never changes between
// runs, so the result is bit-for-bit repeatable.
// Bindings: 0 X (readonly, count), 1 partial (writeonly, ceil(count / (WG·ITEMS))).
// Push constants: count, square.  Specialization: 0 = WG (256), 1 = ITEMS per thread (8).
// Dispatch: ceil(count / (WG · ITEMS)) workgroups.
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 256;
layout(constant_id = 1) const uint ITEMS = 8;
layout(std430, binding = 0) readonly buffer X_ { float X[]; };
layout(std430, binding = 1) writeonly buffer P_ { float partial[]; };
layout(push_constant) uniform Push { uint count; uint square; } pc;

shared float sums[WG];

void main() {
    uint lid = gl_LocalInvocationID.x;
    uint base = gl_WorkGroupID.x * WG * ITEMS;
    float acc = 0.0;
    for (uint k = 0u; k < ITEMS; ++k) {
        uint idx = base + k * WG + lid;
        if (idx < pc.count) { float v = X[idx]; acc += pc.square != 0u ? v * v : v; }
    }
    sums[lid] = acc;
    barrier();
    for (uint stride = WG / 2u; stride > 0u; stride >>= 1u) {
        if (lid < stride) sums[lid] += sums[lid + stride];
        barrier();
    }
    if (lid == 0u) partial[gl_WorkGroupID.x] = sums[0];
}
