// common/unary.glsl — the graph core's unary functions and their derivatives, numbered as
// `VulkanOps.unaryCode` in Swift: 0 neg, 1 exp, 2 log, 3 sqrt, 4 abs, 5 square, 6 reciprocal,
// 7 relu, 8 gelu (erf), 9 gelu (tanh), 10 silu, 11 sigmoid, 12 tanh, 13 leaky_relu(p),
// 14 scale(p), 15 add(p). `p` is the op's constant.

// Abramowitz & Stegun 7.1.26: |error| < 1.5e-7 (GLSL has no erf).
float un_erf(float x) {
    float s = sign(x);
    float a = abs(x);
    float t = 1.0 / (1.0 + 0.3275911 * a);
    float y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-a * a);
    return s * y;
}

float un_sigmoid(float x) { return 1.0 / (1.0 + exp(-x)); }

float un_apply(uint k, float p, float x) {
    switch (k) {
    case 0u: return -x;
    case 1u: return exp(x);
    case 2u: return log(x);
    case 3u: return sqrt(x);
    case 4u: return abs(x);
    case 5u: return x * x;
    case 6u: return 1.0 / x;
    case 7u: return x > 0.0 ? x : 0.0;
    case 8u: return 0.5 * x * (1.0 + un_erf(x * 0.70710678118654752));
    case 9u: return 0.5 * x * (1.0 + tanh(0.7978845608 * (x + 0.044715 * x * x * x)));
    case 10u: return x * un_sigmoid(x);
    case 11u: return un_sigmoid(x);
    case 12u: return tanh(x);
    case 13u: return x > 0.0 ? x : p * x;
    case 14u: return p * x;
    default: return x + p;
    }
}

float un_derivative(uint k, float p, float x) {
    switch (k) {
    case 0u: return -1.0;
    case 1u: return exp(x);
    case 2u: return 1.0 / x;
    case 3u: return 0.5 / sqrt(x);
    case 4u: return x > 0.0 ? 1.0 : (x < 0.0 ? -1.0 : 0.0);
    case 5u: return 2.0 * x;
    case 6u: return -1.0 / (x * x);
    case 7u: return x > 0.0 ? 1.0 : 0.0;
    case 8u: return 0.5 * (1.0 + un_erf(x * 0.70710678118654752)) + x * exp(-0.5 * x * x) * 0.39894228040143268;
    case 9u: {
        float c = 0.7978845608;
        float t = tanh(c * (x + 0.044715 * x * x * x));
        return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * c * (1.0 + 3.0 * 0.044715 * x * x);
    }
    case 10u: { float s = un_sigmoid(x); return s * (1.0 + x * (1.0 - s)); }
    case 11u: { float s = un_sigmoid(x); return s * (1.0 - s); }
    case 12u: { float t = tanh(x); return 1.0 - t * t; }
    case 13u: return x > 0.0 ? 1.0 : p;
    case 14u: return p;
    default: return 1.0;
    }
}
