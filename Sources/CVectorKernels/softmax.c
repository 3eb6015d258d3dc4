// Softmax, log-softmax, their gradient and softmax cross-entropy along rows. The row sums
// are reassociated by the compiler (the target's -fassociative-math) into vector lanes.
#include "vector_kernels.h"
#include "vector_math.h"

static inline float gf_row_max(const float *x, long n) {
    float m = -INFINITY;
    for (long j = 0; j < n; j++) m = x[j] > m ? x[j] : m;
    return m;
}

GF_KERNEL void gf_softmax_rows(const float *x, float *y, long rows, long n, int log) {
    for (long r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        float *yr = y + r * n;
        float m = gf_row_max(xr, n), s = 0;
        for (long j = 0; j < n; j++) {
            float e = gf_exp(xr[j] - m);
            yr[j] = e;
            s += e;
        }
        if (log) {
            float shift = m + logf(s);
            for (long j = 0; j < n; j++) yr[j] = xr[j] - shift;
        } else {
            float inv = 1.f / s;
            for (long j = 0; j < n; j++) yr[j] *= inv;
        }
    }
}

// softmax: dx = y (dy − Σ dy·y); log-softmax: dx = dy − exp(y) Σ dy.
GF_KERNEL void gf_softmax_grad_rows(const float *y, const float *dy, float *dx, long rows, long n, int log) {
    for (long r = 0; r < rows; r++) {
        const float *yr = y + r * n, *dr = dy + r * n;
        float *o = dx + r * n;
        float s = 0;
        if (log) {
            for (long j = 0; j < n; j++) s += dr[j];
            for (long j = 0; j < n; j++) o[j] = dr[j] - gf_exp(yr[j]) * s;
        } else {
            for (long j = 0; j < n; j++) s += dr[j] * yr[j];
            for (long j = 0; j < n; j++) o[j] = yr[j] * (dr[j] - s);
        }
    }
}

GF_KERNEL void gf_softmax_cross_entropy_rows(const float *x, const float *labels, float *losses, float *grad, long rows,
                                             long cols) {
    float inverse_rows = 1.f / (float)rows;
    for (long r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *g = grad + r * cols;
        long label = (long)labels[r];
        float m = gf_row_max(xr, cols), s = 0;
        for (long j = 0; j < cols; j++) s += gf_exp(xr[j] - m);
        float shift = m + logf(s);
        losses[r] = -(xr[label] - shift);
        for (long j = 0; j < cols; j++) g[j] = gf_exp(xr[j] - shift) * inverse_rows;
        g[label] -= inverse_rows;
    }
}
