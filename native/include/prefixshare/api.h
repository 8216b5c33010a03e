// Flat C API of the prefixshare native library (CPU kernels; CUDA kernels when built with nvcc).
#ifndef PREFIXSHARE_API_H
#define PREFIXSHARE_API_H

#include "params.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Status codes. 0 is success; the message of the last error on this thread is ps_last_error(). */
enum { PS_OK = 0, PS_ERR_INVALID_ARGUMENT = 1, PS_ERR_UNSUPPORTED = 2, PS_ERR_INTERNAL = 3 };

/** Capability flags, or-ed into ps_capabilities(). */
enum {
    PS_CAP_CPU_FLOAT32 = 1 << 0,
    PS_CAP_CPU_FLOAT64 = 1 << 1,
    PS_CAP_CPU_AVX2    = 1 << 2,  // compiled with AVX2/FMA inner loops
    PS_CAP_OPENMP      = 1 << 3,
    PS_CAP_CUDA        = 1 << 4   // CUDA kernels compiled in
};

int ps_capabilities(void);
const char* ps_version(void);
const char* ps_last_error(void);

/** CPU forward. Returns PS_OK or an error code (message in ps_last_error()). */
int ps_attn_fwd_cpu(const ps_attn_fwd_params* params);
/** CPU backward. */
int ps_attn_bwd_cpu(const ps_attn_bwd_params* params);

/*
 * Fused row-wise CPU kernels of the decoder (forward and backward of RMSNorm, rotate-half RoPE and SwiGLU).
 * Every array is dense c-order of the given dtype (PS_FLOAT32 or PS_FLOAT64) and outputs must not overlap inputs;
 * outputs are overwritten. `rows` may be 0 (nothing to do). num_threads <= 0: OpenMP's default; calls below 32k
 * elements run on the calling thread. Returns PS_OK or an error code (message in ps_last_error()).
 */

/** HF LlamaRMSNorm: y[m,j] = (x[m,j] * r[m]) * w[j], r[m] = 1 / sqrt(mean_j x[m,j]^2 + eps); x, y [rows,cols]. */
int ps_rms_norm_fwd_cpu(ps_dtype dtype, const void* x, const void* w, void* y, int64_t rows, int64_t cols,
                        double eps, int32_t num_threads);
/**
 * RMSNorm backward: dx[m,j] = r (w[j] dy[m,j]) - x[m,j] r^3 mean_j(w dy x), dw[j] = sum_m dy[m,j] x[m,j] r[m]
 * (accumulated in double per thread, reduced in thread order: deterministic for a fixed thread count).
 */
int ps_rms_norm_bwd_cpu(ps_dtype dtype, const void* x, const void* w, const void* dy, void* dx, void* dw,
                        int64_t rows, int64_t cols, double eps, int32_t num_threads);

/**
 * HF rotate-half RoPE: x, y [rows, heads*head_dim], cos, sin [rows, head_dim] (head_dim even);
 * y[m,h,j] = x[m,h,j] cos[m,j] + rot(x)[m,h,j] sin[m,j], rot(x)[j] = -x[j+D/2] (j < D/2), x[j-D/2] (j >= D/2).
 */
int ps_rope_fwd_cpu(ps_dtype dtype, const void* x, const void* cos, const void* sin, void* y, int64_t rows,
                    int32_t heads, int32_t head_dim, int32_t num_threads);
/** RoPE backward: dx from dy (cos and sin are constants: no gradient). */
int ps_rope_bwd_cpu(ps_dtype dtype, const void* dy, const void* cos, const void* sin, void* dx, int64_t rows,
                    int32_t heads, int32_t head_dim, int32_t num_threads);

/** SwiGLU: y = silu(gate) * up, silu(g) = g sigmoid(g); all [rows, cols]. */
int ps_swiglu_fwd_cpu(ps_dtype dtype, const void* gate, const void* up, void* y, int64_t rows, int64_t cols,
                      int32_t num_threads);
/** SwiGLU backward: dgate = dy up s (1 + g (1 - s)), dup = dy g s, s = sigmoid(gate). */
int ps_swiglu_bwd_cpu(ps_dtype dtype, const void* gate, const void* up, const void* dy, void* dgate, void* dup,
                      int64_t rows, int64_t cols, int32_t num_threads);

/**
 * One Adam step in place, as ND4J's adam_updater (m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2,
 * u = m lr sqrt(1 - b2^(t+1)) / (1 - b1^(t+1)) / (sqrt(v) + eps), t = iteration), then
 * param = param * decay - u (decay = 1 - lr wd for AdamW, 1 for none); grad is overwritten with u. All arrays [n].
 */
int ps_adam_cpu(ps_dtype dtype, int64_t n, void* param, void* grad, void* m, void* v, double lr, double beta1,
                double beta2, double eps, int32_t iteration, double decay, int32_t num_threads);

/**
 * Log-softmax of each row read at its label: logp[r] = x[r, label[r]] - log(sum_j exp(x[r, j])) (max-subtracted,
 * the sum in double). x [rows, cols]; label [rows], each in [0, cols); logp [rows].
 */
int ps_label_logprob_fwd_cpu(ps_dtype dtype, const void* x, const int32_t* label, void* logp, int64_t rows,
                             int64_t cols, int32_t num_threads);
/**
 * Its backward: dx[r, j] = dy[r] ([j == label[r]] - softmax(x[r])_j). dy [rows]; dx [rows, cols], not overlapping x.
 */
int ps_label_logprob_bwd_cpu(ps_dtype dtype, const void* x, const int32_t* label, const void* dy, void* dx,
                             int64_t rows, int64_t cols, int32_t num_threads);

/**
 * Backward of a row gather: dst[r] = sum of src[i] over the i with index[i] = r (in increasing i, accumulated in
 * double, rounded once), rows that no index names zeroed. index [n], each in [0, rows); src [n, cols]; dst
 * [rows, cols], not overlapping src. Deterministic for any thread count.
 */
int ps_scatter_add_rows_cpu(ps_dtype dtype, const int32_t* index, int64_t n, const void* src, void* dst, int64_t rows,
                            int64_t cols, int32_t num_threads);

/**
 * Matrix product of the linear layers: c[m,n] = sum_k A(i,k) B(k,j) (accumulate != 0: added to c), with A(i,k) at
 * a[i*a_rs + k*a_cs] and B(k,j) at b[k*b_rs + j*b_cs] (strides in elements, so transposes are free); c rows ldc
 * apart, contiguous, not overlapping a or b. m, n or k may be 0 (k = 0 gives zeros). dtype is the type of a, c and
 * the arithmetic (PS_FLOAT32 or PS_FLOAT64); b_dtype the storage type of b: dtype, or PS_BFLOAT16 with PS_FLOAT32
 * (frozen bfloat16 weights, widened to float32 exactly as they are read: the result is bit for bit the float32
 * product of the widened values).
 */
int ps_gemm_cpu(ps_dtype dtype, ps_dtype b_dtype, int64_t m, int64_t n, int64_t k, const void* a, int64_t a_rs,
                int64_t a_cs, const void* b, int64_t b_rs, int64_t b_cs, void* c, int64_t ldc, int32_t accumulate,
                int32_t num_threads);

/*
 * The LM head fused with the log-softmax at the labels (Liger Kernel's fused linear cross-entropy, on the CPU): the
 * [n, v] logits logit(r, j) = <hidden[r], head[j]> are never materialised, only a reused block of at most 64 MiB
 * (ps_lm_head_scratch_bytes_cpu), computed a chunk of the vocabulary at a time by ps_gemm_cpu's product.
 * hidden [n, h] of dtype (PS_FLOAT32 or PS_FLOAT64); head [v, h] of head_dtype: dtype, or PS_BFLOAT16 beside
 * PS_FLOAT32 (a frozen head, widened exactly as it is read); label int32 [n], each in [0, v); logp, lse, dy [n] of
 * dtype. Dense c-order; n may be 0. Returns PS_OK or an error code (message in ps_last_error()).
 */

/**
 * logp[r] = logit(r, label[r]) - lse[r] and lse[r] = log sum_j exp(logit(r, j)) (saved for the backward): running
 * max and sum of exponentials across vocabulary chunks, the sum in double.
 */
int ps_lm_head_logprob_fwd_cpu(ps_dtype dtype, ps_dtype head_dtype, const void* hidden, const void* head,
                               const int32_t* label, void* logp, void* lse, int64_t n, int64_t h, int64_t v,
                               int32_t num_threads);
/**
 * Backward from the forward's lse and dy = dL/dlogp: with dlogit(r, j) = dy[r] ([j == label[r]] - exp(logit(r, j) -
 * lse[r])), the logits recomputed a block at a time, dhidden [n, h] = sum_j dlogit(r, j) head[j] and dhead [v, h] =
 * sum_r dlogit(r, j) hidden[r], each added to the array's values when its accumulate flag is set. dhead NULL: a
 * frozen head, its product skipped (required with a PS_BFLOAT16 head). dhidden and dhead must not overlap the inputs.
 */
int ps_lm_head_logprob_bwd_cpu(ps_dtype dtype, ps_dtype head_dtype, const void* hidden, const void* head,
                               const int32_t* label, const void* lse, const void* dy, void* dhidden, void* dhead,
                               int64_t n, int64_t h, int64_t v, int32_t accumulate_dhidden, int32_t accumulate_dhead,
                               int32_t num_threads);
/** Bytes of the logits block a call of n rows over a vocabulary of v reuses (kept per calling thread), or -1. */
int64_t ps_lm_head_scratch_bytes_cpu(ps_dtype dtype, int64_t n, int64_t v);

/*
 * CUDA kernels: exported by the separate library libprefixshare_cuda.so (built when nvcc is found; it links the
 * CUDA runtime statically and needs a driver for CUDA 13, see README). Every pointer in the params is a device
 * pointer (node and subtree_end too); the work is enqueued on `stream` (a cudaStream_t; NULL: the legacy default
 * stream) and the call returns without synchronising. Supported: dtype PS_FLOAT32 (exact fp32 FMA), PS_BFLOAT16
 * and PS_FLOAT16 (tensor cores, fp32 accumulation); head_dim 64 or 128; sm_80 or newer. Strides as for the CPU.
 * lse is float32 for every dtype here (written by the forward, read by the backward). Every buffer must stay
 * allocated until the stream has run the work (the caller owns them; synchronise or record an event first).
 * The backward allocates its fp32 scratch (dq accumulator, rowsum(dO * O), tile summaries) with cudaMallocAsync on
 * the stream. Errors (bad arguments, launch failures) are returned as codes, message in ps_cuda_last_error().
 */
int ps_cuda_capabilities(void);      /* PS_CAP_CUDA when a usable device (sm_80+) is present, else 0 */
const char* ps_cuda_last_error(void);
int ps_attn_fwd_cuda(const ps_attn_fwd_params* params, void* stream);
int ps_attn_bwd_cuda(const ps_attn_bwd_params* params, void* stream);

#ifdef __cplusplus
}
#endif

#endif
