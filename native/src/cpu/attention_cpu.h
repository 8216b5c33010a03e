// Internal entry points of the CPU kernels (arguments already validated by api.cpp).
#ifndef PREFIXSHARE_CPU_ATTENTION_CPU_H
#define PREFIXSHARE_CPU_ATTENTION_CPU_H

#include <stdint.h>

#include "prefixshare/params.h"

namespace ps {
namespace cpu {

/**
 * Token-weighted mean document length of a batch, sum(len^2) / sum(len), from node and subtree_end ([B,T]). A
 * document starts where a token lies outside the subtree of the current document's root (node[i] > the root's
 * subtree_end): a prompt with its responses is one document; a padding node is a document of its own.
 */
inline double mean_document_length(const int32_t* node, const int32_t* end, int64_t batch, int64_t seqlen) {
    double sum_sq = 0, sum = 0;
    for (int64_t b = 0; b < batch; ++b) {
        const int32_t* n = node + b * seqlen;
        const int32_t* e = end + b * seqlen;
        int64_t start = 0;
        int32_t root_end = seqlen > 0 ? e[0] : 0;
        for (int64_t i = 1; i <= seqlen; ++i) {
            if (i == seqlen || n[i] > root_end) {
                const double len = static_cast<double>(i - start);
                sum_sq += len * len;
                sum += len;
                if (i < seqlen) start = i, root_end = e[i];
            }
        }
    }
    return sum > 0 ? sum_sq / sum : 0;
}

/**
 * Batches whose documents are shorter than this (mean_document_length) run the float32 kernels on 32 x 32 tiles;
 * longer ones on the large tiles. Measured on 2026-12-06 (one thread, forward + backward timed in turns in one
 * process, D = 32 / 64 / 128, GQA 4:2): packed training rows of 100-520-token documents ran 10-30% faster on
 * 32 x 32 tiles (less of each tile lies outside the documents), a 2024-token document 3-8% slower.
 */
constexpr double kShortDocument = 1024;

/** Return false only when scratch memory could not be allocated. */
bool attention_fwd_dispatch(const ps_attn_fwd_params& p);
bool attention_bwd_dispatch(const ps_attn_bwd_params& p);

}  // namespace cpu
}  // namespace ps

#endif
