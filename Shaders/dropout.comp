#version 450
// dropout.comp — M[i] = 1/(1−p) where the Philox4x32-10 uniform of element i (word i mod 4 of
// block offset + i/4, as philox_uniform.comp and Swift's Philox.uniforms) is ≥ p, else 0;
// Y[i] = X[i]·M[i]. Seeded per step by the caller, so a run replays its masks.
// Bindings: 0 X (readonly), 1 Y (writeonly), 2 M (writeonly).
// Push constants: count, p, seed_lo, seed_hi, offset_lo, offset_hi.
// Dispatch: ceil(count / WG) workgroups of WG (spec 0).
#include "common/elementwise.glsl"
layout(std430, binding = 0) readonly buffer X_ { float X[]; };
layout(std430, binding = 1) writeonly buffer Y_ { float Y[]; };
layout(std430, binding = 2) writeonly buffer M_ { float M[]; };
layout(push_constant) uniform Push { uint count; float p; uint seed_lo; uint seed_hi; uint offset_lo; uint offset_hi; } pc;

void main() {
    ELEMENT_INDEX_OR_RETURN(pc.count)
    uint block = i >> 2u;
    uint lo = pc.offset_lo + block;
    uint hi = pc.offset_hi + (lo < block ? 1u : 0u);
    uvec4 c = uvec4(lo, hi, 0u, 0u);
    uvec2 k = uvec2(pc.seed_lo, pc.seed_hi);
    for (uint round = 0u; round < 10u; ++round) {
        if (round > 0u) { k.x += 0x9E3779B9u; k.y += 0xBB67AE85u; }
        uint hi0, lo0, hi1, lo1;
        umulExtended(0xD2511F53u, c.x, hi0, lo0);
        umulExtended(0xCD9E8D57u, c.z, hi1, lo1);
        c = uvec4(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    }
    float u = float(c[i & 3u] >> 8u) * (1.0 / 16777216.0);
    float m = u >= pc.p ? 1.0 / (1.0 - pc.p) : 0.0;
    M[i] = m;
    Y[i] = X[i] * m;
}
