// Plain parameter structs of the prefix-shared attention kernels (FlashAttention's Flash_fwd_params idea):
// raw pointers, 64-bit element strides, sizes. Filled in exactly one place on the host (the JNI layer, or the C++
// test harness); read by the CPU and the CUDA kernels alike.
#ifndef PREFIXSHARE_PARAMS_H
#define PREFIXSHARE_PARAMS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Element type of q, k, v, out and of every gradient. lse is float64 for PS_FLOAT64 and float32 for every other type
 * (the 16-bit types, CUDA only, included: a bf16 lse would cost ~3 significant digits in exp(s - lse)).
 */
typedef enum { PS_FLOAT32 = 0, PS_FLOAT64 = 1, PS_BFLOAT16 = 2, PS_FLOAT16 = 3 } ps_dtype;

/**
 * Forward: out = softmax(scale * q k^T + mask) v per (batch, q head), lse = row log-sum-exp of the masked scaled
 * scores. Key k is visible to query q iff k <= q && node[k] <= node[q] && node[q] <= subtree_end[k]
 * (the ancestor rule; see common/mask.h). A query that sees no key gets out = 0 and lse = +INFINITY
 * (FlashAttention's convention: exp(s - lse) is then 0 in the backward pass).
 */
typedef struct {
    // Tensors. q: [B,T,Hq,D]; k, v: [B,T,Hkv,D]; out: [B,T,Hq,D]. The last dimension (D) is contiguous.
    const void* q;
    const void* k;
    const void* v;
    void* out;
    // lse: [B,Hq,T], dense c-order; float64 when dtype is PS_FLOAT64, else float32 (see ps_dtype).
    void* lse;
    // node, subtree_end: [B,T] int32, dense c-order (pre-order tree node index and largest index in its subtree).
    const int32_t* node;
    const int32_t* subtree_end;

    // Element strides (not bytes) of q, k, v, out over (batch, token, head).
    int64_t q_batch_stride, q_row_stride, q_head_stride;
    int64_t k_batch_stride, k_row_stride, k_head_stride;
    int64_t v_batch_stride, v_row_stride, v_head_stride;
    int64_t o_batch_stride, o_row_stride, o_head_stride;

    // Sizes. heads_q is a multiple of heads_kv (GQA): q head h reads kv head h / (heads_q / heads_kv).
    int32_t batch, seqlen, heads_q, heads_kv, head_dim;

    double scale;       // softmax scale, usually 1/sqrt(head_dim)
    ps_dtype dtype;
    int32_t num_threads; // <= 0: OpenMP's default (CPU only; the CUDA kernels ignore it)
} ps_attn_fwd_params;

/**
 * Backward: given the forward's inputs, its out and lse, and dout (the gradient of out), computes dq, dk, dv,
 * recomputing the probabilities from lse. dq, dk, dv are overwritten (not accumulated).
 */
typedef struct {
    ps_attn_fwd_params fwd;     // inputs, out and lse of the forward (out and lse are read, not written)

    const void* dout;           // [B,T,Hq,D]
    void* dq;                   // [B,T,Hq,D]
    void* dk;                   // [B,T,Hkv,D]
    void* dv;                   // [B,T,Hkv,D]

    int64_t do_batch_stride, do_row_stride, do_head_stride;
    int64_t dq_batch_stride, dq_row_stride, dq_head_stride;
    int64_t dk_batch_stride, dk_row_stride, dk_head_stride;
    int64_t dv_batch_stride, dv_row_stride, dv_head_stride;
} ps_attn_bwd_params;

#ifdef __cplusplus
}
#endif

#endif
