// CPU forward of prefix-shared attention: FlashAttention-2 style tiled online softmax.
// One task per (batch, q head, q tile); for each key tile: EMPTY skipped, FULL without a per-element mask,
// PARTIAL with the ancestor rule per element. Per-thread scratch is sized by tiles (never T x T).
#ifndef PREFIXSHARE_CPU_ATTENTION_FWD_H
#define PREFIXSHARE_CPU_ATTENTION_FWD_H

#include <omp.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <vector>

#include "common/mask.h"
#include "cpu/kernel_traits.h"
#include "prefixshare/params.h"

namespace ps {
namespace cpu {

/** Number of threads a call uses: params.num_threads, or OpenMP's default when <= 0. */
inline int resolve_threads(int32_t requested) { return requested > 0 ? requested : omp_get_max_threads(); }

/** Per-(batch row) tile summaries for one tile size, [B][ceil(T/tile)]. */
inline std::vector<TileSummary> summarize_batch(const int32_t* node, const int32_t* end, int B, int T, int tile) {
    const int n = ceil_div(T, tile);
    std::vector<TileSummary> s(static_cast<size_t>(B) * n);
    for (int b = 0; b < B; ++b)
        summarize_tiles(node + static_cast<int64_t>(b) * T, end + static_cast<int64_t>(b) * T, T, tile, &s[(size_t)b * n]);
    return s;
}

/** How far a tile's max may exceed a row's reference max before the reference moves (P <= e^8 ~ 3e3). */
constexpr double kRescaleSlack = 8.0;

/** Returns false when scratch could not be allocated (the caller reports PS_ERR_INTERNAL). */
template <class Tr>
bool attention_fwd(const ps_attn_fwd_params& p) {
    using T = typename Tr::Elem;
    using V = typename Tr::Vec;
    using reg = typename V::reg;
    constexpr int BM = Tr::kBlockM, BN = Tr::kBlockN, W = Tr::kW, MR = Tr::kMR, NR = Tr::kNR;
    constexpr T NEG_INF = -std::numeric_limits<T>::infinity();
    const int D = Tr::kHeadDim > 0 ? Tr::kHeadDim : p.head_dim;
    const int Dp = Tr::padded_head_dim(D);
    const int B = p.batch, Tn = p.seqlen, Hq = p.heads_q, G = p.heads_q / p.heads_kv;
    const int nQT = ceil_div(Tn, BM), nKT = ceil_div(Tn, BN);
    const std::vector<TileSummary> qsum = summarize_batch(p.node, p.subtree_end, B, Tn, BM);
    const std::vector<TileSummary> ksum = summarize_batch(p.node, p.subtree_end, B, Tn, BN);
    const T scale = static_cast<T>(p.scale);
    const int64_t BH = static_cast<int64_t>(B) * Hq;
    const int64_t ntasks = BH * nQT;
    std::atomic<bool> failed{false};

#pragma omp parallel num_threads(resolve_threads(p.num_threads))
    {
        AlignedBuf<T> Qs, Kt, Vp, Sb, Pb, Ob, mb, lb;
        try {
            Qs.resize((size_t)BM * Dp);  // (BM, Dp) q * scale
            Kt.resize((size_t)D * BN);   // (D, BN)  K tile transposed
            Vp.resize((size_t)BN * Dp);  // (BN, Dp) V tile, zero padded
            Sb.resize((size_t)BM * BN);  // (BM, BN) scores
            Pb.resize((size_t)BM * BN);  // (BM, BN) probabilities (unnormalised)
            Ob.resize((size_t)BM * Dp);  // (BM, Dp) unnormalised output accumulator
            mb.resize(BM);               // (BM) running row max
            lb.resize(BM);               // (BM) running row sum
        } catch (...) {
            failed = true;
        }
#pragma omp barrier
#pragma omp for schedule(dynamic, 1)
        for (int64_t task = 0; task < ntasks; ++task) {
            if (failed) continue;
            // Late q tiles first: under a causal or tree mask they see the most keys (dynamic schedule balances).
            const int qt = nQT - 1 - static_cast<int>(task / BH);
            const int bh = static_cast<int>(task % BH);
            const int b = bh / Hq, h = bh % Hq, kvh = h / G;
            const int q0 = qt * BM, mq = std::min(BM, Tn - q0);
            const int32_t* node = p.node + (int64_t)b * Tn;
            const int32_t* send = p.subtree_end + (int64_t)b * Tn;
            const T* qg = static_cast<const T*>(p.q) + b * p.q_batch_stride + h * p.q_head_stride;
            const T* kg = static_cast<const T*>(p.k) + b * p.k_batch_stride + kvh * p.k_head_stride;
            const T* vg = static_cast<const T*>(p.v) + b * p.v_batch_stride + kvh * p.v_head_stride;
            T* Q = Qs.data();
            T* K = Kt.data();
            T* Vt = Vp.data();
            T* S = Sb.data();
            T* P = Pb.data();
            T* O = Ob.data();
            T* m = mb.data();
            T* l = lb.data();
            int ncol[BM];  // per query row: columns of S computed in the current key tile (multiple of NR)
            TileKeys<T, BN> keys;

            for (int i = 0; i < mq; ++i) {
                const T* src = qg + (int64_t)(q0 + i) * p.q_row_stride;
                T* dst = Q + (size_t)i * Dp;
                for (int d = 0; d < D; ++d) dst[d] = src[d] * scale;
                for (int d = D; d < Dp; ++d) dst[d] = T(0);
                m[i] = NEG_INF;
                l[i] = T(0);
            }
            std::fill(O, O + (size_t)mq * Dp, T(0));

            const TileSummary& qs = qsum[(size_t)b * nQT + qt];
            const int last_kt = std::min(nKT - 1, qs.last / BN);
            for (int kt = 0; kt <= last_kt; ++kt) {
                const TileKind kind = classify_tile(qs, ksum[(size_t)b * nKT + kt]);
                if (kind == TILE_EMPTY) continue;
                const int k0 = kt * BN, nk = std::min(BN, Tn - k0);
                // Pack K^T (D, BN) and V (BN, Dp); padding rows/columns are zero so they add exactly nothing.
                transpose_rows(kg + (int64_t)k0 * p.k_row_stride, p.k_row_stride, nk, D, K, BN);
                for (int n = 0; n < nk; ++n) {
                    const T* vs = vg + (int64_t)(k0 + n) * p.v_row_stride;
                    T* vd = Vt + (size_t)n * Dp;
                    for (int d = 0; d < D; ++d) vd[d] = vs[d];
                    for (int d = D; d < Dp; ++d) vd[d] = T(0);
                }
                if (nk < BN) {
                    for (int d = 0; d < D; ++d)
                        for (int n = nk; n < BN; ++n) K[(size_t)d * BN + n] = T(0);
                    std::fill(Vt + (size_t)nk * Dp, Vt + (size_t)BN * Dp, T(0));
                }

                // S = (scale q) K^T   (mq, BN). A tile that crosses the diagonal (k > q masked) is computed per
                // micro-row block only up to the block's last query (rounded to whole micro-tiles): this halves the
                // wasted work of diagonal tiles, which is what keeps time proportional to the visible area.
                const bool diag = k0 + BN - 1 > q0;
                if (!diag) {
                    tile_gemm<T, Tr::kHeadDim, false>(mq, BN, D, Q, Dp, 1, K, BN, S, BN);
                    std::fill(ncol, ncol + mq, BN);
                } else {
                    for (int i0 = 0; i0 < mq; i0 += MR) {
                        const int mr = std::min(MR, mq - i0);
                        const int nc = std::max(0, std::min(BN, round_up(q0 + i0 + mr - k0, NR)));
                        if (nc > 0) tile_gemm<T, Tr::kHeadDim, false>(mr, nc, D, Q + (size_t)i0 * Dp, Dp, 1, K, BN, S + (size_t)i0 * BN, BN);
                        std::fill(ncol + i0, ncol + i0 + mr, nc);
                    }
                }

                const bool causal_only = kind == TILE_PARTIAL && tree_full(qs, ksum[(size_t)b * nKT + kt]);
                if (causal_only) {
                    // Only k <= q (and k < T) masks: a contiguous column range per row.
                    for (int i = 0; i < mq; ++i) {
                        const int first_masked = std::max(0, std::min(nk, q0 + i - k0 + 1));
                        if (first_masked < ncol[i]) std::fill(S + (size_t)i * BN + first_masked, S + (size_t)i * BN + ncol[i], NEG_INF);
                    }
                } else if (kind == TILE_PARTIAL || nk < BN) {
                    keys.load(node, send, k0, nk);
                    for (int i = 0; i < mq; ++i) keys.mask_row(S + (size_t)i * BN, ncol[i], q0 + i, node[q0 + i], NEG_INF);
                }

                // Online softmax with a lazily moved reference max (the trick of FlashAttention-4): P = exp(S - m)
                // with m the row's reference max. m moves (and O, l are rescaled by exp(m_old - m_new)) only when
                // the tile's max exceeds it by more than kRescaleSlack; otherwise a single pass computes P, its sum
                // and the tile max together: no separate max pass, no rescale. P <= e^kRescaleSlack, and out =
                // O / l, lse = m + log l are the same function whichever m the exponent subtracts.
                for (int i = 0; i < mq; ++i) {
                    const T* s = S + (size_t)i * BN;
                    T* pr = P + (size_t)i * BN;
                    const int ne = ncol[i];
                    const T m_old = m[i];
                    T tile_max;
                    reg vsum = V::zero();
                    if (m_old != NEG_INF) {
                        const reg vm = V::set1(m_old);
                        reg vmax = V::set1(NEG_INF);
                        for (int n = 0; n < ne; n += W) {
                            const reg x = V::load(s + n);
                            vmax = V::max(vmax, x);
                            const reg e = V::exp(V::sub(x, vm));
                            V::store(pr + n, e);
                            vsum = V::add(vsum, e);
                        }
                        tile_max = V::hmax(vmax);
                        if (tile_max <= m_old + kRescaleSlack) {
                            l[i] += V::hsum(vsum);
                            continue;
                        }
                        vsum = V::zero();  // rare: the max moved far; P is redone from S below
                    } else {
                        reg vmax = V::set1(NEG_INF);
                        for (int n = 0; n < ne; n += W) vmax = V::max(vmax, V::load(s + n));
                        tile_max = V::hmax(vmax);
                        if (tile_max == NEG_INF) {  // nothing visible yet in this row
                            std::fill(pr, pr + ne, T(0));
                            continue;
                        }
                    }
                    const reg vm = V::set1(tile_max);
                    for (int n = 0; n < ne; n += W) {
                        const reg e = V::exp(V::sub(V::load(s + n), vm));
                        V::store(pr + n, e);
                        vsum = V::add(vsum, e);
                    }
                    if (m_old != NEG_INF) {  // O and l hold nothing yet when m_old = -inf
                        const T alpha = std::exp(m_old - tile_max);
                        const reg va = V::set1(alpha);
                        T* o = O + (size_t)i * Dp;
                        for (int d = 0; d < Dp; d += W) V::store(o + d, V::mul(V::load(o + d), va));
                        l[i] *= alpha;
                    }
                    l[i] += V::hsum(vsum);
                    m[i] = tile_max;
                }

                // O += P V   (mq, Dp); on diagonal tiles per micro-row block with depth ncol.
                if (!diag) {
                    tile_gemm<T, BN, true>(mq, Dp, BN, P, BN, 1, Vt, Dp, O, Dp);
                } else {
                    for (int i0 = 0; i0 < mq; i0 += MR)
                        if (ncol[i0] > 0)
                            tile_gemm<T, 0, true>(std::min(MR, mq - i0), Dp, ncol[i0], P + (size_t)i0 * BN, BN, 1, Vt, Dp,
                                                  O + (size_t)i0 * Dp, Dp);
                }
            }

            // Normalise; a row that saw nothing gets out = 0 and lse = +inf.
            T* og = static_cast<T*>(p.out) + b * p.o_batch_stride + h * p.o_head_stride;
            T* lse = static_cast<T*>(p.lse) + ((int64_t)b * Hq + h) * Tn;
            for (int i = 0; i < mq; ++i) {
                T* dst = og + (int64_t)(q0 + i) * p.o_row_stride;
                const T* o = O + (size_t)i * Dp;
                if (l[i] > T(0)) {
                    const T inv = T(1) / l[i];
                    for (int d = 0; d < D; ++d) dst[d] = o[d] * inv;
                    lse[q0 + i] = m[i] + std::log(l[i]);
                } else {
                    for (int d = 0; d < D; ++d) dst[d] = T(0);
                    lse[q0 + i] = std::numeric_limits<T>::infinity();
                }
            }
        }
    }
    return !failed;
}

}  // namespace cpu
}  // namespace ps

#endif
