// Direct 2-D convolution and its two gradients (PyTorch's conv2d: cross-correlation, NCHW),
// the SIMD backend's kernels for the conv2d ops. One output position at a time: its window's
// pixels times the weight's rows, which are contiguous over the group's outputs, so the inner
// loop is a vector over outputs. Layouts: x [rows, C, H, W], y and dy [rows, O, OH, OW],
// weight [groups, C/groups·kh·kw, O/groups] (entry (cl·kh + ky)·kw + kx, output o of its group).
#include <stdlib.h>
#include "vector_kernels.h"
#include "vector_math.h"

// Calls BODY(row, pixel) for every (channel of group j, ky, kx) whose pixel lies inside the
// image at output (oy, ox): row is the weight row, pixel the offset into one sample's image.
#define GF_WINDOW(g, j, oy, ox, BODY)                                                              \
    for (long cl = 0; cl < (g)->channels / (g)->groups; cl++) {                                   \
        long c = (j) * ((g)->channels / (g)->groups) + cl;                                         \
        for (long ky = 0; ky < (g)->kh; ky++) {                                                    \
            long iy = (oy) * (g)->sh - (g)->ph + ky * (g)->dh;                                     \
            if (iy < 0 || iy >= (g)->height) continue;                                             \
            for (long kx = 0; kx < (g)->kw; kx++) {                                                \
                long ix = (ox) * (g)->sw - (g)->pw + kx * (g)->dw;                                 \
                if (ix < 0 || ix >= (g)->width) continue;                                          \
                long row = (j) * pg + (cl * (g)->kh + ky) * (g)->kw + kx;                          \
                long pixel = (c * (g)->height + iy) * (g)->width + ix;                             \
                BODY                                                                               \
            }                                                                                      \
        }                                                                                          \
    }

// The sizes every kernel derives from the geometry.
struct gf_dims {
    long oh, ow, og, pg, hw;
};
static struct gf_dims gf_dims_of(const struct gf_conv2d *g) {
    struct gf_dims d;
    d.oh = (g->height + 2 * g->ph - g->dh * (g->kh - 1) - 1) / g->sh + 1;
    d.ow = (g->width + 2 * g->pw - g->dw * (g->kw - 1) - 1) / g->sw + 1;
    d.og = g->outputs / g->groups;
    d.pg = g->channels / g->groups * g->kh * g->kw;
    d.hw = g->height * g->width;
    return d;
}

// Calls BODY for every sample n, group j and output position (oy, ox), with
// `at`: the index of y or dy for the group's first output there (outputs are oh·ow apart).
#define GF_POSITIONS(g, dm, BODY)                                                                  \
    for (long n = 0; n < (g)->rows; n++)                                                           \
        for (long j = 0; j < (g)->groups; j++)                                                     \
            for (long oy = 0; oy < (dm).oh; oy++)                                                  \
                for (long ox = 0; ox < (dm).ow; ox++) {                                            \
                    long at = ((n * (g)->outputs + j * (dm).og) * (dm).oh + oy) * (dm).ow + ox;    \
                    BODY                                                                           \
                }

GF_KERNEL int gf_conv2d_forward(const struct gf_conv2d *g, const float *x, const float *w, float *y) {
    struct gf_dims dm = gf_dims_of(g);
    long og = dm.og, pg = dm.pg, step = dm.oh * dm.ow;
    float *acc = malloc(sizeof(float) * (size_t)og);
    if (!acc) return -1;
    GF_POSITIONS(g, dm, {
        const float *xn = x + n * g->channels * dm.hw;
        for (long o = 0; o < og; o++) acc[o] = 0;
        GF_WINDOW(g, j, oy, ox, {
            float v = xn[pixel];
            const float *wr = w + row * og;
            for (long o = 0; o < og; o++) acc[o] += v * wr[o];
        })
        for (long o = 0; o < og; o++) y[at + o * step] = acc[o];
    })
    free(acc);
    return 0;
}

GF_KERNEL int gf_conv2d_grad_input(const struct gf_conv2d *g, const float *dy, const float *w, float *dx) {
    struct gf_dims dm = gf_dims_of(g);
    long og = dm.og, pg = dm.pg, step = dm.oh * dm.ow;
    float *d = malloc(sizeof(float) * (size_t)og);
    if (!d) return -1;
    for (long i = 0; i < g->rows * g->channels * dm.hw; i++) dx[i] = 0;
    GF_POSITIONS(g, dm, {
        float *dxn = dx + n * g->channels * dm.hw;
        for (long o = 0; o < og; o++) d[o] = dy[at + o * step];
        GF_WINDOW(g, j, oy, ox, {
            const float *wr = w + row * og;
            float s = 0;
            {
                GF_SUMS
                for (long o = 0; o < og; o++) s += wr[o] * d[o];
            }
            dxn[pixel] += s;
        })
    })
    free(d);
    return 0;
}

GF_KERNEL int gf_conv2d_grad_weight(const struct gf_conv2d *g, const float *x, const float *dy, float *dw) {
    struct gf_dims dm = gf_dims_of(g);
    long og = dm.og, pg = dm.pg, step = dm.oh * dm.ow;
    float *d = malloc(sizeof(float) * (size_t)og);
    if (!d) return -1;
    for (long i = 0; i < g->groups * pg * og; i++) dw[i] = 0;
    GF_POSITIONS(g, dm, {
        const float *xn = x + n * g->channels * dm.hw;
        for (long o = 0; o < og; o++) d[o] = dy[at + o * step];
        GF_WINDOW(g, j, oy, ox, {
            float v = xn[pixel];
            float *wr = dw + row * og;
            for (long o = 0; o < og; o++) wr[o] += v * d[o];
        })
    })
    free(d);
    return 0;
}
