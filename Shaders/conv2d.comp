#version 450
// conv2d.comp — direct convolution, one output per invocation: Y[n, o, oy, ox] = Σ over the
// window (channels of o's group, ky, kx) of X[n, c, oy·SH − PH + ky·DH, ox·SW − PW + kx·DW] ·
// Wt[row, o mod O/G], padding read as zero. The loop runs C/G·KH·KW times (checked on the
// Swift side against lavapipe's cut near 65,535).
// Bindings: 0 X (readonly), 1 Wt (readonly), 2 Y (writeonly, count = rows·O·OH·OW).
// Push constants: common/conv2d.glsl.  Dispatch: ceil(count / WG) workgroups of WG (spec 0).
#include "common/conv2d.glsl"
layout(std430, binding = 0) readonly buffer X_ { float X[]; };
layout(std430, binding = 1) readonly buffer W_ { float Wt[]; };
layout(std430, binding = 2) writeonly buffer Y_ { float Y[]; };

void main() {
    ELEMENT_INDEX_OR_RETURN(pc.count)
    uint ox = i % pc.OW, oy = (i / pc.OW) % pc.OH, o = (i / (pc.OW * pc.OH)) % pc.O, n = i / (pc.OW * pc.OH * pc.O);
    uint cg = pc.C / pc.G, og = pc.O / pc.G, j = o / og, ol = o % og, pg = cg * pc.KH * pc.KW;
    float acc = 0.0;
    for (uint cl = 0u; cl < cg; cl++) {
        uint c = j * cg + cl;
        for (uint ky = 0u; ky < pc.KH; ky++) {
            int iy = int(oy * pc.SH + ky * pc.DH) - int(pc.PH);
            if (iy < 0 || iy >= int(pc.H)) continue;
            for (uint kx = 0u; kx < pc.KW; kx++) {
                int ix = int(ox * pc.SW + kx * pc.DW) - int(pc.PW);
                if (ix < 0 || ix >= int(pc.W)) continue;
                uint row = j * pg + (cl * pc.KH + ky) * pc.KW + kx;
                acc += X[((n * pc.C + c) * pc.H + uint(iy)) * pc.W + uint(ix)] * Wt[row * og + ol];
            }
        }
    }
    Y[i] = acc;
}
