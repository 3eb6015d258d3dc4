// common/conv2d.glsl — the push constants of the three convolution kernels (conv2d.comp,
// conv2d_grad_input.comp, conv2d_grad_weight.comp): the geometry of Conv2DGeometry plus the
// element count and, for the weight gradient, the output positions one partial sum covers.
// Layouts: x [rows, C, H, W], y / dy [rows, O, OH, OW], weight [G, C/G·KH·KW, O/G].
#include "elementwise.glsl"
layout(push_constant) uniform Push {
    uint count; uint rows; uint C; uint H; uint W; uint O; uint OH; uint OW;
    uint KH; uint KW; uint SH; uint SW; uint PH; uint PW; uint DH; uint DW; uint G; uint chunk;
} pc;
