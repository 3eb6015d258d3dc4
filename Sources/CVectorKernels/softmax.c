// Softmax, log-softmax, their gradient and softmax cross-entropy along rows. Only the row
// sums may be reassociated into vector lanes (GF_SUMS); everything else is evaluated as
// written, as the reference does: (x − m) − log s must not become x − (m + log s).
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
        for (long j = 0; j < n; j++) yr[j] = gf_exp(xr[j] - m);
        {
            GF_SUMS
            for (long j = 0; j < n; j++) s += yr[j];
        }
        if (log) {
            // (x − m) − log s, as the reference: folding m into the shift first rounds it to
            // m's ulp, which large logits make coarse.
            float ls = logf(s);
            for (long j = 0; j < n; j++) yr[j] = (xr[j] - m) - ls;
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
            {
                GF_SUMS
                for (long j = 0; j < n; j++) s += dr[j];
            }
            for (long j = 0; j < n; j++) o[j] = dr[j] - gf_exp(yr[j]) * s;
        } else {
            for (long j = 0; j < n; j++) o[j] = dr[j] * yr[j];
            {
                GF_SUMS
                for (long j = 0; j < n; j++) s += o[j];
            }
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
        for (long j = 0; j < cols; j++) g[j] = gf_exp(xr[j] - m);
        {
            GF_SUMS
            for (long j = 0; j < cols; j++) s += g[j];
        }
        float ls = logf(s);
        losses[r] = -((xr[label] - m) - ls);
        for (long j = 0; j < cols; j++) g[j] = gf_exp((xr[j] - m) - ls) * inverse_rows;
        g[label] -= inverse_rows;
    }
}
