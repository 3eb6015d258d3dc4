#version 450
// philox_uniform.comp — X[i] = uniform [0, 1) from Philox4x32-10 (Salmon et al. 2011): word
// i mod 4 of block floor(i / 4) under key (seed_lo, seed_hi), counter offset `offset` blocks.
// The same function as Swift's Philox, so CPU and GPU draw identical numbers.
// Bindings: 0 X (writeonly, count).  Push constants: count, seed_lo, seed_hi, offset_lo, offset_hi.
// Dispatch: ceil(count / WG).
#include "common/elementwise.glsl"
layout(std430, binding = 0) writeonly buffer X_ { float X[]; };
layout(push_constant) uniform Push { uint count; uint seed_lo; uint seed_hi; uint offset_lo; uint offset_hi; } pc;

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
    uint word = c[i & 3u];
    X[i] = float(word >> 8u) * (1.0 / 16777216.0);
}
