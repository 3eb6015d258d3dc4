// common/activation.glsl — activation functions and derivatives, numbered as Swift's
// Activation enum: 0 identity, 1 relu, 2 tanh, 3 sigmoid, 4 gelu (tanh approximation).
float act_apply(uint kind, float x) {
    if (kind == 1u) return max(0.0, x);
    if (kind == 2u) return tanh(x);
    if (kind == 3u) return 1.0 / (1.0 + exp(-x));
    if (kind == 4u) {
        const float c = 0.7978845608;  // sqrt(2/pi)
        return 0.5 * x * (1.0 + tanh(c * (x + 0.044715 * x * x * x)));
    }
    return x;
}

float act_derivative(uint kind, float x) {
    if (kind == 1u) return x > 0.0 ? 1.0 : 0.0;
    if (kind == 2u) { float t = tanh(x); return 1.0 - t * t; }
    if (kind == 3u) { float s = 1.0 / (1.0 + exp(-x)); return s * (1.0 - s); }
    if (kind == 4u) {
        const float c = 0.7978845608;
        float u = c * (x + 0.044715 * x * x * x);
        float t = tanh(u);
        float du = c * (1.0 + 3.0 * 0.044715 * x * x);
        return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du;
    }
    return 1.0;
}
