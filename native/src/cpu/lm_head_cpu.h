// The LM head and the log-softmax at the labels fused (Liger Kernel's fused linear cross-entropy is the anchor): the
// [N, V] logits are never materialised, only a reused block of them. Arguments are validated by api.cpp; every array
// is dense c-order.
#ifndef PREFIXSHARE_CPU_LM_HEAD_CPU_H
#define PREFIXSHARE_CPU_LM_HEAD_CPU_H

#include <stdint.h>

#include "prefixshare/params.h"

namespace ps {
namespace cpu {

/** The logits block one call computes at a time: rows x vocab entries of the element type. */
struct LmHeadChunks {
    int64_t rows;   // labelled positions per block (all N up to the scratch bound)
    int64_t vocab;  // vocabulary entries per block (a multiple of the GEMM's panel width unless it is all of V)
};

/**
 * The blocks of a call of n rows over a vocabulary of v at the default scratch bound (kLmHeadScratchBytes): the whole
 * vocabulary when it fits beside n rows, else the widest vocabulary chunk that does (rows split only past N = 8,192
 * in float32, so the head is read and packed once per call).
 */
LmHeadChunks lm_head_chunks(ps_dtype dt, int64_t n, int64_t v);

/** Bytes of the reused logits block of a call (kept per calling thread across calls, like the GEMM's panels). */
int64_t lm_head_scratch_bytes(ps_dtype dt, int64_t n, int64_t v);

/**
 * logp[r] = logit(r, label[r]) - lse[r], lse[r] = log sum_j exp(logit(r, j)), logit(r, j) = <hidden[r], head[j]>.
 * hidden [n, h] and logp, lse [n] of dt; head [v, h] of head_dt (dt, or bfloat16 beside float32). The block's
 * row max and sum of exponentials are carried across vocabulary chunks (online softmax), the sum in double.
 */
void lm_head_logprob_fwd(ps_dtype dt, ps_dtype head_dt, const void* hidden, const void* head, const int32_t* label,
                         void* logp, void* lse, int64_t n, int64_t h, int64_t v, LmHeadChunks chunks,
                         int32_t num_threads);

/**
 * Backward from the forward's lse and dy [n]: per block, the logits recomputed, dlogit = dy ([j == label] -
 * exp(logit - lse)), dhidden (+)= dlogit head, dhead (+)= dlogit^T hidden (dhead null: a frozen head, skipped).
 * Accumulation flags say whether the first product adds into the caller's values.
 */
void lm_head_logprob_bwd(ps_dtype dt, ps_dtype head_dt, const void* hidden, const void* head, const int32_t* label,
                         const void* lse, const void* dy, void* dhidden, void* dhead, int64_t n, int64_t h, int64_t v,
                         bool accumulate_dhidden, bool accumulate_dhead, LmHeadChunks chunks, int32_t num_threads);

}  // namespace cpu
}  // namespace ps

#endif
