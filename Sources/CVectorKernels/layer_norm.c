// Layer norm over the last axis and its gradient.
#include "vector_kernels.h"
#include "vector_math.h"

GF_KERNEL void gf_layer_norm_rows(const float *x, const float *gamma, const float *beta, float *y, float *mean,
                                  float *rstd, long rows, long c, float epsilon) {
    for (long r = 0; r < rows; r++) {
        const float *xr = x + r * c;
        float *yr = y + r * c;
        float s = 0, v = 0;
        {
            GF_SUMS
            for (long j = 0; j < c; j++) s += xr[j];
        }
        float mu = s / (float)c;
        {
            GF_SUMS
            for (long j = 0; j < c; j++) v += (xr[j] - mu) * (xr[j] - mu);
        }
        float rs = 1.f / sqrtf(v / (float)c + epsilon);
        for (long j = 0; j < c; j++) yr[j] = (xr[j] - mu) * rs * gamma[j] + beta[j];
        mean[r] = mu;
        rstd[r] = rs;
    }
}

// x̂ = (x − μ)·r; dx = r/C · (C·g − Σg − x̂·Σ(g·x̂)) with g = dy·γ; dγ += dy·x̂, dβ += dy.
GF_KERNEL void gf_layer_norm_grad_rows(const float *x, const float *gamma, const float *mean, const float *rstd,
                                       const float *dy, float *dx, float *dgamma, float *dbeta, long rows, long c) {
    for (long r = 0; r < rows; r++) {
        const float *xr = x + r * c, *dr = dy + r * c;
        float *o = dx + r * c;
        float mu = mean[r], rs = rstd[r], sum_g = 0, sum_gx = 0;
        for (long j = 0; j < c; j++) {
            float xh = (xr[j] - mu) * rs;
            dgamma[j] += dr[j] * xh;
            dbeta[j] += dr[j];
        }
        {
            GF_SUMS
            for (long j = 0; j < c; j++) {
                float xh = (xr[j] - mu) * rs, g = dr[j] * gamma[j];
                sum_g += g;
                sum_gx += g * xh;
            }
        }
        float scale = rs / (float)c, cf = (float)c;
        for (long j = 0; j < c; j++) {
            float xh = (xr[j] - mu) * rs;
            o[j] = scale * (cf * dr[j] * gamma[j] - sum_g - xh * sum_gx);
        }
    }
}
