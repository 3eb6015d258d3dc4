// Scalar forms that clang vectorizes inside the kernels' loops (no branches, no libm calls):
// exp by Cephes' single-precision method, the logistic pair σ(z), σ(−z) from one exponential,
// and tanh with its slope. Accuracy (SIMDGraphOpsTests): exp within 3e-7 of expf over the
// normal range, +inf where expf overflows, 0 below -104, NaN for NaN; the others within 2e-6 of
// double precision, in forms that keep their digits where σ is near 1 and tanh near ±1.
#ifndef GPUFLOW_VECTOR_MATH_H
#define GPUFLOW_VECTOR_MATH_H
#include <math.h>
#include <stdint.h>
#include <string.h>

// Each kernel is compiled for AVX-512, AVX2+FMA and baseline x86-64 and picked at load time
// (an ifunc), so one binary runs everywhere and uses the widest vectors the CPU has.
#if defined(__x86_64__)
#define GF_KERNEL __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define GF_KERNEL
#endif

// At the start of a block whose sums may be reassociated into vector lanes (a row's sum of
// exponentials, a mean): the rest of each kernel keeps the order it is written in.
#define GF_SUMS _Pragma("clang fp reassociate(on)")

static inline float gf_bits_to_float(int32_t b) {
    float f;
    memcpy(&f, &b, 4);
    return f;
}

// The largest float whose exp is finite (expf of the next one is +inf).
#define GF_EXP_MAX 88.72283172607422f

static inline float gf_exp(float x) {
    float r = x < -104.f ? -104.f : x;
    r = r > GF_EXP_MAX ? GF_EXP_MAX : r;
    // Adding 1.5·2^23 rounds r·log2(e) to an integer and leaves it in the sum's low bits.
    float shifted = r * 1.44269504088896341f + 12582912.f;
    float n = shifted - 12582912.f;
    int32_t e;
    memcpy(&e, &shifted, 4);
    e -= 0x4B400000;
    r = r - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float z = r * r;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * z + r + 1.f;
    // 2^n in two halves, so that subnormal results come out too. -fassociative-math may
    // multiply the halves first, so their product must stay finite: n = 128 (just below
    // overflow) is taken as 2·p·2^127.
    p = e > 127 ? 2.f * p : p;
    e = e > 127 ? 127 : e;
    int32_t high = e >> 1, low = e - high;
    float y = p * gf_bits_to_float((high + 127) << 23) * gf_bits_to_float((low + 127) << 23);
    y = x > GF_EXP_MAX ? INFINITY : y;
    y = x < -104.f ? 0.f : y;
    return x != x ? x : y;
}

// σ(z) and σ(−z) = 1 − σ(z), each without the cancellation of 1 − σ where σ is near 1.
static inline void gf_logistic(float z, float *positive, float *negative) {
    float e = gf_exp(-fabsf(z));
    float big = 1.f / (1.f + e), small = e / (1.f + e);
    *positive = z >= 0 ? big : small;
    *negative = z >= 0 ? small : big;
}

// tanh x = sign(x)·(1 − e)/(1 + e), e = exp(−2|x|), and 1 − tanh²x = 4e/(1 + e)²; below
// |x| < 0.25, where 1 − e loses digits, the odd Taylor series to x⁹ (error under 1e-8).
static inline float gf_tanh(float x, float *slope) {
    float ax = fabsf(x), e = gf_exp(-2.f * ax);
    float far = (1.f - e) / (1.f + e);
    far = x < 0 ? -far : far;
    float x2 = x * x;
    float s = 62.f / 2835.f;
    s = s * x2 - 17.f / 315.f;
    s = s * x2 + 2.f / 15.f;
    s = s * x2 - 1.f / 3.f;
    float near = x + x * x2 * s;
    *slope = 4.f * e / ((1.f + e) * (1.f + e));
    float t = ax < 0.25f ? near : far;
    return x != x ? x : t;
}

#define GF_GELU_C 0.7978845608f

#endif
