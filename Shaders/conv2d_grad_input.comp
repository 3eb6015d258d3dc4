#version 450
// conv2d_grad_input.comp — the input's gradient, one pixel per invocation: dX[n, c, iy, ix] =
// Σ over the outputs whose window holds that pixel (ky, kx with iy + PH − ky·DH a multiple of
// SH inside the output, likewise for x; every output o of c's group) of dY[n, o, oy, ox] ·
// Wt[row, o mod O/G]. The loop runs KH·KW·O/G times (checked on the Swift side).
// Bindings: 0 dY (readonly), 1 Wt (readonly), 2 dX (writeonly, count = rows·C·H·W).
// Push constants: common/conv2d.glsl.  Dispatch: ceil(count / WG) workgroups of WG (spec 0).
#include "common/conv2d.glsl"
layout(std430, binding = 0) readonly buffer D_ { float dY[]; };
layout(std430, binding = 1) readonly buffer W_ { float Wt[]; };
layout(std430, binding = 2) writeonly buffer X_ { float dX[]; };

void main() {
    ELEMENT_INDEX_OR_RETURN(pc.count)
    uint ix = i % pc.W, iy = (i / pc.W) % pc.H, c = (i / (pc.W * pc.H)) % pc.C, n = i / (pc.W * pc.H * pc.C);
    uint cg = pc.C / pc.G, og = pc.O / pc.G, j = c / cg, cl = c % cg, pg = cg * pc.KH * pc.KW;
    float acc = 0.0;
    for (uint ky = 0u; ky < pc.KH; ky++) {
        int ty = int(iy + pc.PH) - int(ky * pc.DH);
        if (ty < 0 || ty % int(pc.SH) != 0) continue;
        uint oy = uint(ty) / pc.SH;
        if (oy >= pc.OH) continue;
        for (uint kx = 0u; kx < pc.KW; kx++) {
            int tx = int(ix + pc.PW) - int(kx * pc.DW);
            if (tx < 0 || tx % int(pc.SW) != 0) continue;
            uint ox = uint(tx) / pc.SW;
            if (ox >= pc.OW) continue;
            uint row = j * pg + (cl * pc.KH + ky) * pc.KW + kx;
            for (uint ol = 0u; ol < og; ol++) {
                acc += dY[((n * pc.O + j * og + ol) * pc.OH + oy) * pc.OW + ox] * Wt[row * og + ol];
            }
        }
    }
    dX[i] = acc;
}
