// CPU backward of prefix-shared attention (FlashAttention-2 recomputation):
//   P = exp(scale q.k - lse) (0 where masked or lse = +inf), Di = rowsum(dO * O),
//   dV = P^T dO, dP = dO V^T, dS = P * (dP - Di), dQ = scale dS K, dK = scale dS^T Q.
//
// Work split (no atomics): one task per (batch, kv head, key tile). The task owns its dK/dV rows: it loops over the
// q heads of its GQA group and over the q tiles that can see the key tile, accumulating dK/dV in registers-sized
// scratch and writing them once. dQ is accumulated in a per-thread scratch [pairs][G][T][Dp] and reduced over the
// threads at the end (single pass: 10 tile-GEMM units per visible tile pair). The alternative, a second pass per
// (batch, q head, q tile) that recomputes S and dP for dQ, costs 14 units instead of 10 (+40% FLOPs) and was not
// taken; the scratch is bounded by processing (batch, kv head) pairs in chunks (kDqScratchBytes below).
//
// With one thread (the training benchmark's setting; also any OMP_NUM_THREADS=1 run) the thread owns every dQ row
// and accumulates into dq directly: no scratch, no reduction pass. Those two O(T x D) passes are fixed per-row
// traffic, a real share of sparse packed rows (measured, one thread, T=2048 packed D=64: backward -4%, its ratio
// to causal 0.22 -> 0.21). With several threads, whole pairs per thread were measured slower: a pair is too coarse
// a unit for the dynamic schedule to absorb a preempted thread on a shared machine.
#ifndef PREFIXSHARE_CPU_ATTENTION_BWD_H
#define PREFIXSHARE_CPU_ATTENTION_BWD_H

#include "cpu/attention_fwd.h"

namespace ps {
namespace cpu {

/** Upper bound of all threads' dQ scratch together; (batch, kv head) pairs are processed in chunks that fit. */
constexpr size_t kDqScratchBytes = size_t(512) << 20;

template <class Tr>
bool attention_bwd(const ps_attn_bwd_params& bp) {
    using T = typename Tr::Elem;
    using V = typename Tr::Vec;
    using reg = typename V::reg;
    const ps_attn_fwd_params& p = bp.fwd;
    constexpr int BM = Tr::kBlockM, BN = Tr::kBlockN, W = Tr::kW, MR = Tr::kMR, NR = Tr::kNR;
    const int D = Tr::kHeadDim > 0 ? Tr::kHeadDim : p.head_dim;
    const int Dp = Tr::padded_head_dim(D);
    const int B = p.batch, Tn = p.seqlen, Hq = p.heads_q, Hkv = p.heads_kv, G = Hq / Hkv;
    const int nQT = ceil_div(Tn, BM), nKT = ceil_div(Tn, BN);
    const std::vector<TileSummary> qsum = summarize_batch(p.node, p.subtree_end, B, Tn, BM);
    const std::vector<TileSummary> ksum = summarize_batch(p.node, p.subtree_end, B, Tn, BN);
    const T scale = static_cast<T>(p.scale);
    const int64_t npairs = static_cast<int64_t>(B) * Hkv;
    const size_t pair_elems = (size_t)G * Tn * Dp;  // dQ scratch of one (batch, kv head) pair
    std::atomic<bool> failed{false};
    std::vector<T> Di((size_t)B * Hq * Tn);        // rowsum(dO * O), [B][Hq][T]
    std::vector<T*> dq_scratch;
    std::vector<uint8_t*> dq_touched;  // per thread: which (pair, head, q tile) of its scratch holds partial sums
    int64_t chunk = 1;
    bool in_place = false;  // one thread: dQ accumulated in place (see the file comment)

#pragma omp parallel num_threads(resolve_threads(p.num_threads))
    {
        const int nth = omp_get_num_threads(), tid = omp_get_thread_num();
#pragma omp single
        {
            dq_scratch.assign(nth, nullptr);
            dq_touched.assign(nth, nullptr);
            // In place needs whole micro-tile columns in dq's rows (the tile GEMM writes Dp of them).
            in_place = Dp == D && nth == 1;
            const size_t per_thread = kDqScratchBytes / nth / sizeof(T);
            chunk = in_place ? 1 : std::max<int64_t>(1, std::min<int64_t>(npairs, (int64_t)(per_thread / pair_elems)));
        }
        AlignedBuf<T> Qb, dOb, Kp, Kt, Vt, Pb, dSb, dKb, dVb;
        // The dQ scratch is megabytes: kept per OpenMP thread across calls, because fresh pages cost ~0.8 ms/MB
        // to fault in (measured: it made backward on packed rows 1.2-2x slower than its visible area predicts).
        static thread_local AlignedBuf<T> dqs;
        // Tiles of the scratch are zeroed when a thread first writes them and reduced only where written, so on
        // sparse (packed) rows the scratch costs in proportion to the visible tiles, not to T.
        static thread_local std::vector<uint8_t> touched;
        try {
            Qb.resize((size_t)BM * Dp);    // (BM, Dp) q tile, zero padded
            dOb.resize((size_t)BM * Dp);   // (BM, Dp) dO tile, zero padded
            Kp.resize((size_t)BN * Dp);    // (BN, Dp) K tile
            Kt.resize((size_t)D * BN);     // (D, BN)  K tile transposed
            Vt.resize((size_t)D * BN);     // (D, BN)  V tile transposed
            Pb.resize((size_t)BM * BN);    // (BM, BN) S, then P
            dSb.resize((size_t)BM * BN);   // (BM, BN) dP, then scale * dS
            dKb.resize((size_t)BN * Dp);   // (BN, Dp) dK accumulator
            dVb.resize((size_t)BN * Dp);   // (BN, Dp) dV accumulator
            if (!in_place) dqs.reserve((size_t)chunk * pair_elems);  // (chunk, G, T, Dp) this thread's dQ partial sums
            dq_scratch[tid] = dqs.data();
            touched.assign((size_t)chunk * G * nQT, 0);
            dq_touched[tid] = touched.data();
        } catch (...) {
            failed = true;
        }

        // Di = rowsum(dO * O) per (b, q head, row), once; rows in blocks of BM per task.
#pragma omp for schedule(static)
        for (int64_t blk = 0; blk < (int64_t)B * Hq * nQT; ++blk) {
            const int qt = (int)(blk % nQT), h = (int)(blk / nQT % Hq), b = (int)(blk / nQT / Hq);
            const T* o = static_cast<const T*>(p.out) + b * p.o_batch_stride + h * p.o_head_stride;
            const T* g = static_cast<const T*>(bp.dout) + b * bp.do_batch_stride + h * bp.do_head_stride;
            T* di = Di.data() + ((int64_t)b * Hq + h) * Tn;
            for (int t = qt * BM, te = std::min(Tn, t + BM); t < te; ++t) {
                const T* orow = o + (int64_t)t * p.o_row_stride;
                const T* grow = g + (int64_t)t * bp.do_row_stride;
                reg acc = V::zero();
                int d = 0;
                for (; d + W <= D; d += W) acc = V::fma(V::load(orow + d), V::load(grow + d), acc);
                T sum = V::hsum(acc);
                for (; d < D; ++d) sum += orow[d] * grow[d];
                di[t] = sum;
            }
        }  // implicit barrier: also publishes `failed`

        // Rows [qt * BM, min(T, qt * BM + BM)) of one head's dQ destination (row stride ld) set to 0, Dp wide.
        auto zero_q_tile = [&](T* dqh, int64_t ld, int qt) {
            for (int t = qt * BM, te = std::min(Tn, t + BM); t < te; ++t) std::fill_n(dqh + t * ld, Dp, T(0));
        };

        // One key tile of one (batch, kv head) pair: its dK and dV rows, written once, and the dQ partial sums of
        // the q tiles that see it, added to rows dq0 + hh * dq_hs + t * dq_ld (q head hh of the group, row t);
        // touched[hh * nQT + qt] says whether that q tile already holds sums (else it is zeroed first).
        auto key_tile = [&](int64_t pair, int kt, T* dq0, int64_t dq_hs, int64_t dq_ld, uint8_t* touched_pair) {
            const int b = (int)(pair / Hkv), kvh = (int)(pair % Hkv);
            const int k0 = kt * BN, nk = std::min(BN, Tn - k0);
            const int32_t* node = p.node + (int64_t)b * Tn;
            const int32_t* send = p.subtree_end + (int64_t)b * Tn;
            const TileSummary& ks = ksum[(size_t)b * nKT + kt];
            const T* kg = static_cast<const T*>(p.k) + b * p.k_batch_stride + kvh * p.k_head_stride;
            const T* vg = static_cast<const T*>(p.v) + b * p.v_batch_stride + kvh * p.v_head_stride;
            T* K = Kp.data();
            T* KT = Kt.data();
            T* VT = Vt.data();
            T* Q = Qb.data();
            T* dO = dOb.data();
            T* P = Pb.data();
            T* dS = dSb.data();
            T* dK = dKb.data();
            T* dV = dVb.data();
            int ncol[BM];  // per query row: columns of S / dP computed in this tile pair (multiple of NR)
            TileKeys<T, BN> keys;  // the key tile's positions, nodes and subtree ends for partial tiles
            keys.load(node, send, k0, nk);

            transpose_rows(kg + (int64_t)k0 * p.k_row_stride, p.k_row_stride, nk, D, KT, BN);
            transpose_rows(vg + (int64_t)k0 * p.v_row_stride, p.v_row_stride, nk, D, VT, BN);
            for (int n = 0; n < nk; ++n) {
                const T* kr = kg + (int64_t)(k0 + n) * p.k_row_stride;
                T* kd = K + (size_t)n * Dp;
                for (int d = 0; d < D; ++d) kd[d] = kr[d];
                for (int d = D; d < Dp; ++d) kd[d] = T(0);
            }
            if (nk < BN) {
                std::fill(K + (size_t)nk * Dp, K + (size_t)BN * Dp, T(0));
                for (int d = 0; d < D; ++d)
                    for (int n = nk; n < BN; ++n) KT[(size_t)d * BN + n] = VT[(size_t)d * BN + n] = T(0);
            }
            std::fill(dK, dK + (size_t)BN * Dp, T(0));
            std::fill(dV, dV + (size_t)BN * Dp, T(0));

            for (int hh = 0; hh < G; ++hh) {
                const int h = kvh * G + hh;
                const T* qg = static_cast<const T*>(p.q) + b * p.q_batch_stride + h * p.q_head_stride;
                const T* gg = static_cast<const T*>(bp.dout) + b * bp.do_batch_stride + h * bp.do_head_stride;
                const T* lse = static_cast<const T*>(p.lse) + ((int64_t)b * Hq + h) * Tn;
                const T* di = Di.data() + ((int64_t)b * Hq + h) * Tn;
                T* dqh = dq0 + hh * dq_hs;
                for (int qt = k0 / BM; qt < nQT; ++qt) {
                    const TileSummary& qs = qsum[(size_t)b * nQT + qt];
                    const TileKind kind = classify_tile(qs, ks);
                    if (kind == TILE_EMPTY) continue;
                    const int q0 = qt * BM, mq = std::min(BM, Tn - q0);
                    uint8_t& written = touched_pair[(size_t)hh * nQT + qt];
                    if (!written) {
                        zero_q_tile(dqh, dq_ld, qt);
                        written = 1;
                    }
                    for (int i = 0; i < mq; ++i) {
                        const T* qr = qg + (int64_t)(q0 + i) * p.q_row_stride;
                        const T* gr = gg + (int64_t)(q0 + i) * bp.do_row_stride;
                        T* qd = Q + (size_t)i * Dp;
                        T* gd = dO + (size_t)i * Dp;
                        for (int d = 0; d < D; ++d) {
                            qd[d] = qr[d];
                            gd[d] = gr[d];
                        }
                        for (int d = D; d < Dp; ++d) qd[d] = gd[d] = T(0);
                    }
                    // S = q K^T and dP = dO V^T   (mq, BN). Diagonal tiles (k > q masked): per micro-row block
                    // only up to the block's last query, as in the forward; the rest of P and dS is zeroed.
                    const bool diag = k0 + BN - 1 > q0;
                    if (!diag) {
                        tile_gemm<T, Tr::kHeadDim, false>(mq, BN, D, Q, Dp, 1, KT, BN, P, BN);
                        tile_gemm<T, Tr::kHeadDim, false>(mq, BN, D, dO, Dp, 1, VT, BN, dS, BN);
                        std::fill(ncol, ncol + mq, BN);
                    } else {
                        for (int i0 = 0; i0 < mq; i0 += MR) {
                            const int mr = std::min(MR, mq - i0);
                            const int nc = std::max(0, std::min(BN, round_up(q0 + i0 + mr - k0, NR)));
                            if (nc > 0) {
                                tile_gemm<T, Tr::kHeadDim, false>(mr, nc, D, Q + (size_t)i0 * Dp, Dp, 1, KT, BN, P + (size_t)i0 * BN, BN);
                                tile_gemm<T, Tr::kHeadDim, false>(mr, nc, D, dO + (size_t)i0 * Dp, Dp, 1, VT, BN, dS + (size_t)i0 * BN, BN);
                            }
                            std::fill(ncol + i0, ncol + i0 + mr, nc);
                        }
                    }
                    const bool partial = kind == TILE_PARTIAL || nk < BN;
                    const bool causal_only = kind == TILE_PARTIAL && tree_full(qs, ks);  // only k <= q masks
                    const reg vscale = V::set1(scale);
                    for (int i = 0; i < mq; ++i) {
                        const int qi = q0 + i;
                        T* pr = P + (size_t)i * BN;
                        T* ds = dS + (size_t)i * BN;
                        // exp(scale s - lse): lse = +inf (row saw nothing) gives exp(-inf) = 0.
                        const int ne = ncol[i];
                        const reg vnl = V::set1(-lse[qi]);
                        for (int n = 0; n < ne; n += W) V::store(pr + n, V::exp(V::fma(V::load(pr + n), vscale, vnl)));
                        if (causal_only) {
                            const int first_masked = std::max(0, std::min(nk, qi - k0 + 1));
                            if (first_masked < ne) std::fill(pr + first_masked, pr + ne, T(0));
                        } else if (partial) {
                            keys.mask_row(pr, ne, qi, node[qi], T(0));
                        }
                        const reg vdi = V::set1(di[qi]);
                        for (int n = 0; n < ne; n += W)
                            V::store(ds + n, V::mul(V::mul(V::load(pr + n), V::sub(V::load(ds + n), vdi)), vscale));
                        if (ne < BN) {
                            std::fill(pr + ne, pr + BN, T(0));
                            std::fill(ds + ne, ds + BN, T(0));
                        }
                    }
                    // dV += P^T dO, dK += (scale dS)^T q   (nk, Dp); A^T by strided broadcast.
                    // On diagonal tiles key block r0 only gets rows q >= k, so the depth starts at k0 + r0 - q0.
                    if (!diag) {
                        tile_gemm<T, 0, true>(nk, Dp, mq, P, 1, BN, dO, Dp, dV, Dp);
                        tile_gemm<T, 0, true>(nk, Dp, mq, dS, 1, BN, Q, Dp, dK, Dp);
                        // dQ += (scale dS) K   (mq, Dp)
                        tile_gemm<T, BN, true>(mq, Dp, BN, dS, BN, 1, K, Dp, dqh + q0 * dq_ld, dq_ld);
                    } else {
                        for (int r0 = 0; r0 < nk; r0 += MR) {
                            const int mr = std::min(MR, nk - r0), lo = std::max(0, k0 + r0 - q0);
                            if (lo >= mq) break;
                            tile_gemm<T, 0, true>(mr, Dp, mq - lo, P + (size_t)lo * BN + r0, 1, BN, dO + (size_t)lo * Dp, Dp, dV + (size_t)r0 * Dp, Dp);
                            tile_gemm<T, 0, true>(mr, Dp, mq - lo, dS + (size_t)lo * BN + r0, 1, BN, Q + (size_t)lo * Dp, Dp, dK + (size_t)r0 * Dp, Dp);
                        }
                        for (int i0 = 0; i0 < mq; i0 += MR)
                            if (ncol[i0] > 0)
                                tile_gemm<T, 0, true>(std::min(MR, mq - i0), Dp, ncol[i0], dS + (size_t)i0 * BN, BN, 1, K, Dp,
                                                      dqh + (q0 + i0) * dq_ld, dq_ld);
                    }
                }
            }

            T* dkg = static_cast<T*>(bp.dk) + b * bp.dk_batch_stride + kvh * bp.dk_head_stride;
            T* dvg = static_cast<T*>(bp.dv) + b * bp.dv_batch_stride + kvh * bp.dv_head_stride;
            for (int n = 0; n < nk; ++n) {
                T* a = dkg + (int64_t)(k0 + n) * bp.dk_row_stride;
                T* c = dvg + (int64_t)(k0 + n) * bp.dv_row_stride;
                for (int d = 0; d < D; ++d) {
                    a[d] = dK[(size_t)n * Dp + d];
                    c[d] = dV[(size_t)n * Dp + d];
                }
            }
        };

        if (in_place) {
            // dQ in place, pair by pair; q tiles no key reaches (rows that see nothing) are zeroed.
            for (int64_t pair = 0; pair < npairs; ++pair) {
                if (failed) continue;
                const int b = (int)(pair / Hkv), h0 = (int)(pair % Hkv) * G;
                T* dq0 = static_cast<T*>(bp.dq) + b * bp.dq_batch_stride + h0 * bp.dq_head_stride;
                std::fill(touched.begin(), touched.end(), uint8_t(0));
                for (int kt = 0; kt < nKT; ++kt)
                    key_tile(pair, kt, dq0, bp.dq_head_stride, bp.dq_row_stride, touched.data());
                for (int hh = 0; hh < G; ++hh)
                    for (int qt = 0; qt < nQT; ++qt)
                        if (!touched[(size_t)hh * nQT + qt])
                            zero_q_tile(dq0 + hh * bp.dq_head_stride, bp.dq_row_stride, qt);
            }
        } else {
            for (int64_t pair0 = 0; pair0 < npairs; pair0 += chunk) {
                const int64_t cp = std::min<int64_t>(chunk, npairs - pair0);
                if (!failed) std::fill(touched.begin(), touched.end(), uint8_t(0));
                const int64_t ntasks = cp * nKT;
#pragma omp for schedule(dynamic, 1)
                for (int64_t task = 0; task < ntasks; ++task) {
                    if (failed) continue;
                    // Early key tiles first: under a causal or tree mask they are seen by the most queries.
                    const int kt = (int)(task / cp);
                    const int pl = (int)(task % cp);
                    key_tile(pair0 + pl, kt, dqs.data() + (size_t)pl * G * Tn * Dp, (int64_t)Tn * Dp, Dp,
                             touched.data() + (size_t)pl * G * nQT);
                }  // implicit barrier: all partial dQ of this chunk are written

                // dQ = sum over the threads that wrote partial sums, per (pair in chunk, head, q tile); rows no thread
                // wrote (no visible key) are 0.
                const int64_t ntiles = cp * G * (int64_t)nQT;
                std::vector<const T*> srcs(nth);
#pragma omp for schedule(static)
                for (int64_t tile = 0; tile < ntiles; ++tile) {
                    if (failed) continue;
                    const int qt = (int)(tile % nQT), hh = (int)(tile / nQT % G);
                    const int64_t pair = pair0 + tile / nQT / G;
                    const int b = (int)(pair / Hkv), h = (int)(pair % Hkv) * G + hh;
                    const T** src = srcs.data();
                    int nsrc = 0;
                    for (int th = 0; th < nth; ++th)
                        if (dq_touched[th][tile]) src[nsrc++] = dq_scratch[th] + (size_t)(tile / nQT) * Tn * Dp;
                    T* dqg = static_cast<T*>(bp.dq) + b * bp.dq_batch_stride + h * bp.dq_head_stride;
                    for (int t = qt * BM, te = std::min(Tn, t + BM); t < te; ++t) {
                        T* dst = dqg + (int64_t)t * bp.dq_row_stride;
                        const size_t off = (size_t)t * Dp;
                        int d = 0;
                        for (; d + W <= D; d += W) {
                            reg acc = V::zero();
                            for (int i = 0; i < nsrc; ++i) acc = V::add(acc, V::load(src[i] + off + d));
                            V::store(dst + d, acc);
                        }
                        for (; d < D; ++d) {
                            T acc = T(0);
                            for (int i = 0; i < nsrc; ++i) acc += src[i][off + d];
                            dst[d] = acc;
                        }
                    }
                }  // implicit barrier before the next chunk clears the scratch
            }
        }
    }
    return !failed;
}

}  // namespace cpu
}  // namespace ps

#endif
