// The SIMD backend's kernels for a transformer's hot ops, in C so that each is built for the
// CPU's widest vectors (see vector_math.h). Every array is contiguous, rows × n row-major;
// outputs never alias inputs. Called from GPUFlowCompute/SIMD/SIMDGraphOps.swift.
#ifndef GPUFLOW_VECTOR_KERNELS_H
#define GPUFLOW_VECTOR_KERNELS_H

// Activations and their gradients (dx = dy · f′(x)) over n elements.
enum gf_activation_kind { GF_EXP, GF_SIGMOID, GF_TANH, GF_SILU, GF_GELU_TANH };
void gf_activation(int f, const float *x, float *y, long n);
void gf_activation_grad(int f, const float *x, const float *dy, float *dx, long n);

// Softmax or log-softmax of each row; the gradient from the output y and dy.
void gf_softmax_rows(const float *x, float *y, long rows, long n, int log);
void gf_softmax_grad_rows(const float *y, const float *dy, float *dx, long rows, long n, int log);
// Cross-entropy of each row's logits against its label (checked by the caller to lie in
// 0..<cols), the loss per row and the gradient (p − one-hot) / rows.
void gf_softmax_cross_entropy_rows(const float *x, const float *labels, float *losses, float *grad, long rows, long cols);

// Layer norm over each row of c values: y, and each row's mean and 1/σ for the gradient;
// the gradient adds into dgamma and dbeta (which the caller zeroes).
void gf_layer_norm_rows(const float *x, const float *gamma, const float *beta, float *y, float *mean, float *rstd,
                        long rows, long c, float epsilon);
void gf_layer_norm_grad_rows(const float *x, const float *gamma, const float *mean, const float *rstd, const float *dy,
                             float *dx, float *dgamma, float *dbeta, long rows, long c);

// Direct 2-D convolution (conv2d.c): the forward, the input's gradient (dx overwritten) and the
// weight's gradient (dw overwritten). Each returns 0, or -1 when its scratch row could not be
// allocated.
struct gf_conv2d {
    long rows, channels, height, width, outputs, kh, kw, sh, sw, ph, pw, dh, dw, groups;
};
int gf_conv2d_forward(const struct gf_conv2d *g, const float *x, const float *w, float *y);
int gf_conv2d_grad_input(const struct gf_conv2d *g, const float *dy, const float *w, float *dx);
int gf_conv2d_grad_weight(const struct gf_conv2d *g, const float *x, const float *dy, float *dw);

#endif
