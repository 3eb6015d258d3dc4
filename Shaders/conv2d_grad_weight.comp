#version 450
// conv2d_grad_weight.comp — the weight's gradient in partial sums: invocation (k, e) adds, for
// weight entry e = (row, o mod O/G), X[n, c, iy, ix] · dY[n, o, oy, ox] over output positions
// q = (n, oy, ox) from k·chunk to (k + 1)·chunk (of rows·OH·OW), so no invocation loops more
// than `chunk` times (lavapipe cuts loops near 65,535); the Swift side sums the partials over
// k with column_sum.comp when there is more than one.
// Bindings: 0 X (readonly), 1 dY (readonly), 2 P (writeonly, count = chunks · G·C/G·KH·KW·O/G).
// Push constants: common/conv2d.glsl.  Dispatch: ceil(count / WG) workgroups of WG (spec 0).
#include "common/conv2d.glsl"
layout(std430, binding = 0) readonly buffer X_ { float X[]; };
layout(std430, binding = 1) readonly buffer D_ { float dY[]; };
layout(std430, binding = 2) writeonly buffer P_ { float P[]; };

void main() {
    ELEMENT_INDEX_OR_RETURN(pc.count)
    uint cg = pc.C / pc.G, og = pc.O / pc.G, pg = cg * pc.KH * pc.KW, entries = pc.G * pg * og;
    uint e = i % entries, k = i / entries;
    uint ol = e % og, row = e / og, j = row / pg, p = row % pg;
    uint kx = p % pc.KW, ky = (p / pc.KW) % pc.KH, cl = p / (pc.KW * pc.KH);
    uint c = j * cg + cl, o = j * og + ol, positions = pc.OH * pc.OW;
    uint first = k * pc.chunk, last = min(first + pc.chunk, pc.rows * positions);
    float acc = 0.0;
    for (uint q = first; q < last; q++) {
        uint n = q / positions, oy = (q % positions) / pc.OW, ox = q % pc.OW;
        int iy = int(oy * pc.SH + ky * pc.DH) - int(pc.PH), ix = int(ox * pc.SW + kx * pc.DW) - int(pc.PW);
        if (iy < 0 || iy >= int(pc.H) || ix < 0 || ix >= int(pc.W)) continue;
        acc += X[((n * pc.C + c) * pc.H + uint(iy)) * pc.W + uint(ix)] * dY[((n * pc.O + o) * pc.OH + oy) * pc.OW + ox];
    }
    P[i] = acc;
}
