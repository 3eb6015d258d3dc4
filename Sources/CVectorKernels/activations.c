// Elementwise activations and their slopes; one loop per function so each vectorizes.
#include "vector_kernels.h"
#include "vector_math.h"

GF_KERNEL void gf_activation(int f, const float *x, float *y, long n) {
    float s, sn, t;
    switch (f) {
    case GF_EXP:
        for (long i = 0; i < n; i++) y[i] = gf_exp(x[i]);
        break;
    case GF_SIGMOID:
        for (long i = 0; i < n; i++) {
            gf_logistic(x[i], &s, &sn);
            y[i] = s;
        }
        break;
    case GF_TANH:
        for (long i = 0; i < n; i++) y[i] = gf_tanh(x[i], &t);
        break;
    case GF_SILU:
        for (long i = 0; i < n; i++) {
            gf_logistic(x[i], &s, &sn);
            y[i] = x[i] * s;
        }
        break;
    case GF_GELU_TANH:
        // ½·x·(1 + tanh u) = x·σ(2u): no cancellation where tanh u is near −1.
        for (long i = 0; i < n; i++) {
            float v = x[i], u = GF_GELU_C * (v + 0.044715f * v * v * v);
            gf_logistic(2.f * u, &s, &sn);
            y[i] = v * s;
        }
        break;
    }
}

GF_KERNEL void gf_activation_grad(int f, const float *x, const float *dy, float *dx, long n) {
    float s, sn, t;
    switch (f) {
    case GF_EXP:
        for (long i = 0; i < n; i++) dx[i] = gf_exp(x[i]) * dy[i];
        break;
    case GF_SIGMOID:
        for (long i = 0; i < n; i++) {
            gf_logistic(x[i], &s, &sn);
            dx[i] = dy[i] * s * sn;
        }
        break;
    case GF_TANH:
        for (long i = 0; i < n; i++) {
            gf_tanh(x[i], &t);
            dx[i] = dy[i] * t;
        }
        break;
    case GF_SILU:
        for (long i = 0; i < n; i++) {
            gf_logistic(x[i], &s, &sn);
            dx[i] = dy[i] * s * (1.f + x[i] * sn);
        }
        break;
    case GF_GELU_TANH:
        // With s = σ(2u): ½(1 + tanh u) = s and ½(1 − tanh²u) = 2·s·(1 − s).
        for (long i = 0; i < n; i++) {
            float v = x[i], v2 = v * v, u = GF_GELU_C * (v + 0.044715f * v2 * v);
            gf_logistic(2.f * u, &s, &sn);
            dx[i] = dy[i] * (s + 2.f * v * s * sn * GF_GELU_C * (1.f + 0.134145f * v2));
        }
        break;
    }
}
