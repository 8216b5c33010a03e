// Internal entry points of the fused row-wise CPU kernels (RMSNorm, rotate-half RoPE, SwiGLU), forward and backward.
// Arguments are validated by api.cpp; every array is dense c-order. Outputs must not overlap inputs.
#ifndef PREFIXSHARE_CPU_POINTWISE_CPU_H
#define PREFIXSHARE_CPU_POINTWISE_CPU_H

#include <stdint.h>

#include "prefixshare/params.h"

namespace ps {
namespace cpu {

/**
 * Below this many elements (rows x columns) a call runs inline on the calling thread: waking an OpenMP team costs
 * more than the work (a row-wise kernel streams ~1-4 GB/s per core, 32k floats are ~30 us).
 */
constexpr int64_t kPointwiseParallelMin = 32768;

/** y = (x * r) * w, r[m] = 1 / sqrt(mean_j x[m,j]^2 + eps). x, y [rows, cols]; w [cols]. */
void rms_norm_fwd(ps_dtype dt, const void* x, const void* w, void* y, int64_t rows, int64_t cols, double eps,
                  int32_t num_threads);
/** dx [rows, cols] and dw [cols] (overwritten) from x, w and dy. */
void rms_norm_bwd(ps_dtype dt, const void* x, const void* w, const void* dy, void* dx, void* dw, int64_t rows,
                  int64_t cols, double eps, int32_t num_threads);

/** HF rotate-half RoPE: x, y [rows, heads*head_dim]; cos, sin [rows, head_dim]. head_dim even. */
void rope_fwd(ps_dtype dt, const void* x, const void* cos, const void* sin, void* y, int64_t rows, int32_t heads,
              int32_t head_dim, int32_t num_threads);
/** dx from dy (the transpose of the forward's linear map; cos and sin get no gradient). */
void rope_bwd(ps_dtype dt, const void* dy, const void* cos, const void* sin, void* dx, int64_t rows, int32_t heads,
              int32_t head_dim, int32_t num_threads);

/** y = silu(gate) * up, silu(g) = g * sigmoid(g). All [rows, cols]. */
void swiglu_fwd(ps_dtype dt, const void* gate, const void* up, void* y, int64_t rows, int64_t cols,
                int32_t num_threads);
/** dgate = dy * up * s * (1 + g (1 - s)), dup = dy * g * s, s = sigmoid(g). */
void swiglu_bwd(ps_dtype dt, const void* gate, const void* up, const void* dy, void* dgate, void* dup,
                int64_t rows, int64_t cols, int32_t num_threads);

/**
 * One Adam step in place (ND4J's adam_updater semantics, then decoupled weight decay as a factor on the parameter):
 * m, v updated, grad overwritten with the update u, param = param * decay - u. All arrays [n].
 */
void adam_update(ps_dtype dt, int64_t n, void* param, void* grad, void* m, void* v, double lr, double beta1,
                 double beta2, double eps, int32_t iteration, double decay, int32_t num_threads);

/**
 * logp[r] = x[r, label[r]] - log(sum_j exp(x[r, j])): the log-softmax of each row read at its label (the scores of
 * DPO's policy). x [rows, cols]; label [rows] in [0, cols); logp [rows]. Max-subtracted, the sum in double.
 */
void label_logprob_fwd(ps_dtype dt, const void* x, const int32_t* label, void* logp, int64_t rows, int64_t cols,
                       int32_t num_threads);
/** dx[r, j] = dy[r] ([j == label[r]] - softmax(x[r])_j), recomputing the row's softmax. dx [rows, cols]. */
void label_logprob_bwd(ps_dtype dt, const void* x, const int32_t* label, const void* dy, void* dx, int64_t rows,
                       int64_t cols, int32_t num_threads);

/**
 * dst[r] = sum of src[i] over the i with index[i] = r, in increasing i, accumulated in double and rounded once (the
 * backward of a row gather). index [n] in [0, rows); src [n, cols]; dst [rows, cols], rows without an index zeroed.
 * Parallel over blocks of destination rows, so repeated indices never race and the result does not depend on the
 * thread count.
 */
void scatter_add_rows(ps_dtype dt, const int32_t* index, int64_t n, const void* src, void* dst, int64_t rows,
                      int64_t cols, int32_t num_threads);

}  // namespace cpu
}  // namespace ps

#endif
