// CUDA backward of prefix-shared attention (FlashAttention-2 style, recomputing P from lse).
// One CTA per (key tile, kv head, batch row): it owns its dK / dV rows (registers), loops over the q heads of its
// GQA group and over the q tiles that can see the key tile (EMPTY pairs skipped), and adds its share of dQ into a
// float32 accumulator [B,Hq,T,D] with atomics; a last kernel converts dQ to the output type and strides.
// Before: Di = rowsum(dO * O) (float32) and the tile summaries.
#include <cuda_runtime.h>

#include <algorithm>

#include "cuda/attention_cuda.h"
#include "cuda/tile_io.cuh"

namespace ps {
namespace cuda {

// ------------------------------------------------------------------------------------------------------------------
// bf16 / fp16: tensor cores. Warp w owns key rows [16 w, 16 w + 16) of the tile; S^T and dP^T are computed directly
// (keys x queries), so P^T / dS^T are A fragments of dV += P^T dO and dK += dS^T Q without leaving registers.
// ------------------------------------------------------------------------------------------------------------------
template <class Tr>
__global__ void __launch_bounds__(Tr::kThreads, 1)
    bwd_mma_kernel(const ps_attn_bwd_params bp, const TileSummary* __restrict__ tiles, const float* __restrict__ di_g,
                   float* __restrict__ dq_acc, bool vec) {
    using E = typename Tr::Elem;
    using Ops = ElemOps<E>;
    const ps_attn_fwd_params& p = bp.fwd;
    constexpr int BM = Tr::kBlockM, BN = Tr::kBlockN, D = Tr::kHeadDim, RS = Tr::kRowStride;
    constexpr int TSN = Tr::kTStrideN, TSM = Tr::kTStrideM;
    extern __shared__ __align__(16) unsigned char smem_raw[];
    E* sK = reinterpret_cast<E*>(smem_raw);  // (BN, D+8)
    E* sV = sK + BN * RS;                    // (BN, D+8)
    E* sQ = sV + BN * RS;                    // (BM, D+8)
    E* sdO = sQ + BM * RS;                   // (BM, D+8)
    E* sKt = sdO + BM * RS;                  // (D, BN+8)  K^T: B fragments of dQ += dS K
    E* sQt = sKt + D * TSN;                  // (D, BM+8)  Q^T: B fragments of dK += dS^T Q
    E* sdOt = sQt + D * TSM;                 // (D, BM+8)  dO^T: B fragments of dV += P^T dO
    E* sdS = sdOt + D * TSM;                 // (BM, BN+8) dS (queries x keys) for dQ
    int32_t* sQnode = reinterpret_cast<int32_t*>(sdS + BM * TSN);  // (BM)
    int32_t* sKnode = sQnode + BM;                                 // (BN)
    int32_t* sKend = sKnode + BN;                                  // (BN)
    float* sLse = reinterpret_cast<float*>(sKend + BN + BM);       // (BM)
    float* sDi = sLse + BM;                                        // (BM)

    const int T = p.seqlen, nT = (T + BN - 1) / BN;
    const int kt = blockIdx.x, kvh = blockIdx.y, b = blockIdx.z;
    const int G = p.heads_q / p.heads_kv;
    const int k0 = kt * BN;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, tq = lane % 4;
    const E* kg = static_cast<const E*>(p.k) + b * p.k_batch_stride + (int64_t)kvh * p.k_head_stride;
    const E* vg = static_cast<const E*>(p.v) + b * p.v_batch_stride + (int64_t)kvh * p.v_head_stride;
    const int32_t* node = p.node + (int64_t)b * T;
    const int32_t* send = p.subtree_end + (int64_t)b * T;
    const TileSummary* ts = tiles + (int64_t)b * nT;
    const TileSummary ks = ts[kt];
    const float scale = (float)p.scale;

    load_tile<Tr, BN>(kg, p.k_row_stride, k0, min(BN, T - k0), vec, sK, sKt, TSN);
    load_tile<Tr, BN>(vg, p.v_row_stride, k0, min(BN, T - k0), vec, sV, nullptr, 0);
    load_ints(node, k0, BN, T, sKnode, Tr::kThreads);
    load_ints(send, k0, BN, T, sKend, Tr::kThreads);

    const int kr0 = warp * Tr::kRowsPerWarp + g;  // this lane's key rows kr0, kr0 + 8 of the tile
    float dk[Tr::kNTilesD][4], dv[Tr::kNTilesD][4];  // (16, D) per warp each
#pragma unroll
    for (int dt = 0; dt < Tr::kNTilesD; ++dt)
#pragma unroll
        for (int e = 0; e < 4; ++e) dk[dt][e] = dv[dt][e] = 0.f;

    for (int hh = 0; hh < G; ++hh) {
        const int h = kvh * G + hh;
        const E* qg = static_cast<const E*>(p.q) + b * p.q_batch_stride + (int64_t)h * p.q_head_stride;
        const E* dog = static_cast<const E*>(bp.dout) + b * bp.do_batch_stride + (int64_t)h * bp.do_head_stride;
        const float* lse_g = static_cast<const float*>(p.lse) + ((int64_t)b * p.heads_q + h) * T;
        const float* di_h = di_g + ((int64_t)b * p.heads_q + h) * T;
        float* dq_h = dq_acc + ((int64_t)b * p.heads_q + h) * T * D;
        for (int qt = kt; qt < nT; ++qt) {  // BM == BN: q tiles before kt only hold queries < k0
            const TileSummary qs = ts[qt];
            const TileKind kind = classify_tile(qs, ks);
            if (kind == TILE_EMPTY) continue;
            const int q0 = qt * BM, nq = min(BM, T - q0);
            const int mode = mask_mode(kind, qs, ks, k0, BN, T);
            __syncthreads();  // previous q tile's smem reads done (first time: K / V written)
            load_tile<Tr, BM>(qg, p.q_row_stride, q0, nq, vec, sQ, sQt, TSM);
            load_tile<Tr, BM>(dog, bp.do_row_stride, q0, nq, vec, sdO, sdOt, TSM);
            load_ints(node, q0, BM, T, sQnode, Tr::kThreads);
            for (int i = threadIdx.x; i < BM; i += Tr::kThreads) {
                // padded queries: lse = +inf gives P = exp(s - inf) = 0, Di = 0 gives dS = 0
                sLse[i] = i < nq ? lse_g[q0 + i] : CUDART_INF_F;
                sDi[i] = i < nq ? di_h[q0 + i] : 0.f;
            }
            __syncthreads();

            // S^T = K Q^T and dP^T = V dO^T   (16 keys, BM queries) per warp
            float st[Tr::kNTilesM][4], dpt[Tr::kNTilesM][4];
#pragma unroll
            for (int nt = 0; nt < Tr::kNTilesM; ++nt)
#pragma unroll
                for (int e = 0; e < 4; ++e) st[nt][e] = dpt[nt][e] = 0.f;
#pragma unroll
            for (int kd = 0; kd < Tr::kKStepsD; ++kd) {
                const int c = kd * 16 + 2 * tq;
                const uint32_t ka[4] = {lds32(&sK[kr0 * RS + c]), lds32(&sK[(kr0 + 8) * RS + c]),
                                        lds32(&sK[kr0 * RS + c + 8]), lds32(&sK[(kr0 + 8) * RS + c + 8])};
                const uint32_t va[4] = {lds32(&sV[kr0 * RS + c]), lds32(&sV[(kr0 + 8) * RS + c]),
                                        lds32(&sV[kr0 * RS + c + 8]), lds32(&sV[(kr0 + 8) * RS + c + 8])};
#pragma unroll
                for (int nt = 0; nt < Tr::kNTilesM; ++nt) {
                    const E* qr = &sQ[(nt * 8 + g) * RS + c];
                    const E* gr = &sdO[(nt * 8 + g) * RS + c];
                    Ops::mma(st[nt], ka, lds32(qr), lds32(qr + 8));
                    Ops::mma(dpt[nt], va, lds32(gr), lds32(gr + 8));
                }
            }

            // P^T = exp(scale s - lse) on visible pairs, dS^T = P^T (dP^T - Di); dS also to smem as (query, key)
#pragma unroll
            for (int nt = 0; nt < Tr::kNTilesM; ++nt) {
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    const int c = kr0 + (e >= 2 ? 8 : 0);      // key row in the tile
                    const int r = nt * 8 + 2 * tq + (e & 1);   // query column in the tile
                    const bool vis = mask_visible(mode, q0 + r, k0 + c, T, r, c, sQnode, sKnode, sKend);
                    const float pr = vis ? __expf(st[nt][e] * scale - sLse[r]) : 0.f;
                    const float ds = pr * (dpt[nt][e] - sDi[r]);
                    st[nt][e] = pr;
                    dpt[nt][e] = ds;
                    sdS[r * TSN + c] = Ops::from_float(ds);
                }
            }

            // dV += P^T dO, dK += dS^T Q   (16 keys, D) per warp; k16 steps over the queries
#pragma unroll
            for (int j = 0; j < Tr::kKStepsM; ++j) {
                const uint32_t pa[4] = {Ops::pack2(st[2 * j][0], st[2 * j][1]), Ops::pack2(st[2 * j][2], st[2 * j][3]),
                                        Ops::pack2(st[2 * j + 1][0], st[2 * j + 1][1]),
                                        Ops::pack2(st[2 * j + 1][2], st[2 * j + 1][3])};
                const uint32_t da[4] = {Ops::pack2(dpt[2 * j][0], dpt[2 * j][1]),
                                        Ops::pack2(dpt[2 * j][2], dpt[2 * j][3]),
                                        Ops::pack2(dpt[2 * j + 1][0], dpt[2 * j + 1][1]),
                                        Ops::pack2(dpt[2 * j + 1][2], dpt[2 * j + 1][3])};
#pragma unroll
                for (int dt = 0; dt < Tr::kNTilesD; ++dt) {
                    const E* gt = &sdOt[(dt * 8 + g) * TSM + j * 16 + 2 * tq];
                    const E* qt2 = &sQt[(dt * 8 + g) * TSM + j * 16 + 2 * tq];
                    Ops::mma(dv[dt], pa, lds32(gt), lds32(gt + 8));
                    Ops::mma(dk[dt], da, lds32(qt2), lds32(qt2 + 8));
                }
            }
            __syncthreads();  // dS of every warp (every key of the tile) is in smem

            // dQ[q0 + 16 w ..] += scale dS K   (16 queries, D) per warp; one n8 column block at a time (4 live
            // accumulators, not D / 2) and straight into the float32 accumulator.
            const int qr0 = warp * Tr::kRowsPerWarp + g;
            uint32_t dsa[Tr::kKStepsN][4];
#pragma unroll
            for (int j = 0; j < Tr::kKStepsN; ++j) {
                const int c = j * 16 + 2 * tq;
                dsa[j][0] = lds32(&sdS[qr0 * TSN + c]);
                dsa[j][1] = lds32(&sdS[(qr0 + 8) * TSN + c]);
                dsa[j][2] = lds32(&sdS[qr0 * TSN + c + 8]);
                dsa[j][3] = lds32(&sdS[(qr0 + 8) * TSN + c + 8]);
            }
            const int qa0 = q0 + qr0, qa1 = qa0 + 8;
#pragma unroll
            for (int dt = 0; dt < Tr::kNTilesD; ++dt) {
                float acc[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
                for (int j = 0; j < Tr::kKStepsN; ++j) {
                    const E* kr = &sKt[(dt * 8 + g) * TSN + j * 16 + 2 * tq];
                    Ops::mma(acc, dsa[j], lds32(kr), lds32(kr + 8));
                }
                const int col = dt * 8 + 2 * tq;
                if (qa0 < T) {
                    atomicAdd(&dq_h[(int64_t)qa0 * D + col], acc[0] * scale);
                    atomicAdd(&dq_h[(int64_t)qa0 * D + col + 1], acc[1] * scale);
                }
                if (qa1 < T) {
                    atomicAdd(&dq_h[(int64_t)qa1 * D + col], acc[2] * scale);
                    atomicAdd(&dq_h[(int64_t)qa1 * D + col + 1], acc[3] * scale);
                }
            }
        }
    }

    // dK = scale dS^T Q, dV = P^T dO, written once (keys no query sees get zeros).
    E* dkg = static_cast<E*>(bp.dk) + b * bp.dk_batch_stride + (int64_t)kvh * bp.dk_head_stride;
    E* dvg = static_cast<E*>(bp.dv) + b * bp.dv_batch_stride + (int64_t)kvh * bp.dv_head_stride;
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        const int kj = k0 + kr0 + 8 * i;
        if (kj >= T) continue;
        E* a = dkg + (int64_t)kj * bp.dk_row_stride;
        E* c = dvg + (int64_t)kj * bp.dv_row_stride;
#pragma unroll
        for (int dt = 0; dt < Tr::kNTilesD; ++dt) {
            const int col = dt * 8 + 2 * tq;
            a[col] = Ops::from_float(dk[dt][2 * i] * scale);
            a[col + 1] = Ops::from_float(dk[dt][2 * i + 1] * scale);
            c[col] = Ops::from_float(dv[dt][2 * i]);
            c[col + 1] = Ops::from_float(dv[dt][2 * i + 1]);
        }
    }
}

// ------------------------------------------------------------------------------------------------------------------
// fp32: exact FMA. Thread t owns key row c = t / 8 (dK, dV columns t % 8 + 8 j) and, for dQ, query row t / 8.
// ------------------------------------------------------------------------------------------------------------------
template <class Tr>
__global__ void __launch_bounds__(Tr::kThreads)
    bwd_simt_kernel(const ps_attn_bwd_params bp, const TileSummary* __restrict__ tiles, const float* __restrict__ di_g,
                    float* __restrict__ dq_acc) {
    const ps_attn_fwd_params& p = bp.fwd;
    constexpr int BM = Tr::kBlockM, BN = Tr::kBlockN, D = Tr::kHeadDim, RS = Tr::kRowStride, SS = Tr::kSStride;
    constexpr int TPR = Tr::kThreadsPerRow, CPT = Tr::kColsPerThread, DPT = Tr::kDPerThread;
    extern __shared__ __align__(16) unsigned char smem_raw[];
    float* sK = reinterpret_cast<float*>(smem_raw);  // (BN, D+1)
    float* sV = sK + BN * RS;                        // (BN, D+1)
    float* sQ = sV + BN * RS;                        // (BM, D+1)
    float* sdO = sQ + BM * RS;                       // (BM, D+1)
    float* sPT = sdO + BM * RS;                      // (BN, BM+1) P^T
    float* sdST = sPT + BN * SS;                     // (BN, BM+1) dS^T
    float* sLse = sdST + BN * SS;                    // (BM)
    float* sDi = sLse + BM;                          // (BM)
    int32_t* sQnode = reinterpret_cast<int32_t*>(sDi + BM);
    int32_t* sKnode = sQnode + BM;
    int32_t* sKend = sKnode + BN;

    const int T = p.seqlen, nT = (T + BN - 1) / BN;
    const int kt = blockIdx.x, kvh = blockIdx.y, b = blockIdx.z;
    const int G = p.heads_q / p.heads_kv;
    const int k0 = kt * BN;
    const int c = threadIdx.x / TPR, j8 = threadIdx.x % TPR;  // key row c (and query row c for dQ)
    const float* kg = static_cast<const float*>(p.k) + b * p.k_batch_stride + (int64_t)kvh * p.k_head_stride;
    const float* vg = static_cast<const float*>(p.v) + b * p.v_batch_stride + (int64_t)kvh * p.v_head_stride;
    const int32_t* node = p.node + (int64_t)b * T;
    const int32_t* send = p.subtree_end + (int64_t)b * T;
    const TileSummary* ts = tiles + (int64_t)b * nT;
    const TileSummary ks = ts[kt];
    const float scale = (float)p.scale;

    load_tile_f32<Tr, BN>(kg, p.k_row_stride, k0, min(BN, T - k0), sK);
    load_tile_f32<Tr, BN>(vg, p.v_row_stride, k0, min(BN, T - k0), sV);
    load_ints(node, k0, BN, T, sKnode, Tr::kThreads);
    load_ints(send, k0, BN, T, sKend, Tr::kThreads);

    float dk[DPT], dv[DPT];
#pragma unroll
    for (int dd = 0; dd < DPT; ++dd) dk[dd] = dv[dd] = 0.f;

    for (int hh = 0; hh < G; ++hh) {
        const int h = kvh * G + hh;
        const float* qg = static_cast<const float*>(p.q) + b * p.q_batch_stride + (int64_t)h * p.q_head_stride;
        const float* dog = static_cast<const float*>(bp.dout) + b * bp.do_batch_stride + (int64_t)h * bp.do_head_stride;
        const float* lse_g = static_cast<const float*>(p.lse) + ((int64_t)b * p.heads_q + h) * T;
        const float* di_h = di_g + ((int64_t)b * p.heads_q + h) * T;
        float* dq_h = dq_acc + ((int64_t)b * p.heads_q + h) * T * D;
        for (int qt = kt; qt < nT; ++qt) {
            const TileSummary qs = ts[qt];
            const TileKind kind = classify_tile(qs, ks);
            if (kind == TILE_EMPTY) continue;
            const int q0 = qt * BM, nq = min(BM, T - q0);
            const int mode = mask_mode(kind, qs, ks, k0, BN, T);
            __syncthreads();
            load_tile_f32<Tr, BM>(qg, p.q_row_stride, q0, nq, sQ);
            load_tile_f32<Tr, BM>(dog, bp.do_row_stride, q0, nq, sdO);
            load_ints(node, q0, BM, T, sQnode, Tr::kThreads);
            for (int i = threadIdx.x; i < BM; i += Tr::kThreads) {
                sLse[i] = i < nq ? lse_g[q0 + i] : CUDART_INF_F;
                sDi[i] = i < nq ? di_h[q0 + i] : 0.f;
            }
            __syncthreads();

#pragma unroll
            for (int jj = 0; jj < CPT; ++jj) {
                const int r = j8 + TPR * jj;  // query column
                const float* kr = sK + c * RS;
                const float* vr = sV + c * RS;
                const float* qr = sQ + r * RS;
                const float* gr = sdO + r * RS;
                float s = 0.f, dp = 0.f;
#pragma unroll 16
                for (int d = 0; d < D; ++d) {
                    s = fmaf(kr[d], qr[d], s);
                    dp = fmaf(vr[d], gr[d], dp);
                }
                const bool vis = mask_visible(mode, q0 + r, k0 + c, T, r, c, sQnode, sKnode, sKend);
                const float pr = vis ? expf(s * scale - sLse[r]) : 0.f;
                sPT[c * SS + r] = pr;
                sdST[c * SS + r] = pr * (dp - sDi[r]);
            }
            __syncthreads();

#pragma unroll
            for (int dd = 0; dd < DPT; ++dd) {
                const int d = j8 + TPR * dd;
                float a = dv[dd], e = dk[dd];
#pragma unroll 8
                for (int r = 0; r < BM; ++r) {
                    a = fmaf(sPT[c * SS + r], sdO[r * RS + d], a);
                    e = fmaf(sdST[c * SS + r], sQ[r * RS + d], e);
                }
                dv[dd] = a;
                dk[dd] = e;
            }
            // dQ row (q0 + c): sum over the tile's keys of dS K
            if (q0 + c < T) {
#pragma unroll
                for (int dd = 0; dd < DPT; ++dd) {
                    const int d = j8 + TPR * dd;
                    float a = 0.f;
#pragma unroll 8
                    for (int kk = 0; kk < BN; ++kk) a = fmaf(sdST[kk * SS + c], sK[kk * RS + d], a);
                    atomicAdd(&dq_h[(int64_t)(q0 + c) * D + d], a * scale);
                }
            }
        }
    }

    const int kj = k0 + c;
    if (kj < T) {
        float* a = static_cast<float*>(bp.dk) + b * bp.dk_batch_stride + (int64_t)kvh * bp.dk_head_stride +
                   (int64_t)kj * bp.dk_row_stride;
        float* e = static_cast<float*>(bp.dv) + b * bp.dv_batch_stride + (int64_t)kvh * bp.dv_head_stride +
                   (int64_t)kj * bp.dv_row_stride;
#pragma unroll
        for (int dd = 0; dd < DPT; ++dd) {
            a[j8 + TPR * dd] = dk[dd] * scale;
            e[j8 + TPR * dd] = dv[dd];
        }
    }
}

// ------------------------------------------------------------------------------------------------------------------
// Launchers
// ------------------------------------------------------------------------------------------------------------------

template <class Kernel>
static cudaError_t set_smem(Kernel kernel, size_t bytes) {
    if (bytes <= 48 * 1024) return cudaSuccess;
    return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes);
}

template <class Tr, bool MMA>
static cudaError_t launch_bwd(const ps_attn_bwd_params& bp, cudaStream_t stream, bool vec) {
    using E = typename Tr::Elem;
    const ps_attn_fwd_params& p = bp.fwd;
    const int nT = (p.seqlen + Tr::kBlockN - 1) / Tr::kBlockN;
    const int64_t rows = (int64_t)p.batch * p.heads_q * p.seqlen;
    const size_t tiles_bytes = (sizeof(TileSummary) * (size_t)p.batch * nT + 255) / 256 * 256;
    const size_t di_bytes = (sizeof(float) * (size_t)rows + 255) / 256 * 256;
    const size_t dq_bytes = sizeof(float) * (size_t)rows * p.head_dim;
    unsigned char* scratch = nullptr;  // one allocation: tiles | Di | dQ accumulator
    cudaError_t err = cudaMallocAsync(reinterpret_cast<void**>(&scratch), tiles_bytes + di_bytes + dq_bytes, stream);
    if (err != cudaSuccess) return err;
    TileSummary* tiles = reinterpret_cast<TileSummary*>(scratch);
    float* di = reinterpret_cast<float*>(scratch + tiles_bytes);
    float* dq_acc = reinterpret_cast<float*>(scratch + tiles_bytes + di_bytes);

    err = cudaMemsetAsync(dq_acc, 0, dq_bytes, stream);
    const int n = p.batch * nT;
    if (err == cudaSuccess) {
        summarize_kernel<<<(n + 127) / 128, 128, 0, stream>>>(p.node, p.subtree_end, p.batch, p.seqlen, Tr::kBlockN, tiles);
        const int64_t warps_blocks = (rows + 7) / 8;  // 8 warps per 256-thread block
        rowsum_do_o_kernel<E><<<(unsigned)std::min<int64_t>(warps_blocks, 65535), 256, 0, stream>>>(bp, di);
        const dim3 grid(nT, p.heads_kv, p.batch);
        if constexpr (MMA) {
            err = set_smem(bwd_mma_kernel<Tr>, Tr::kBwdSmemBytes);
            if (err == cudaSuccess)
                bwd_mma_kernel<Tr><<<grid, Tr::kThreads, Tr::kBwdSmemBytes, stream>>>(bp, tiles, di, dq_acc, vec);
        } else {
            err = set_smem(bwd_simt_kernel<Tr>, Tr::kBwdSmemBytes);
            if (err == cudaSuccess)
                bwd_simt_kernel<Tr><<<grid, Tr::kThreads, Tr::kBwdSmemBytes, stream>>>(bp, tiles, di, dq_acc);
        }
        if (err == cudaSuccess) {
            const int64_t elems = rows * p.head_dim;
            finalize_dq_kernel<E><<<(unsigned)std::min<int64_t>((elems + 255) / 256, 65535), 256, 0, stream>>>(bp, dq_acc);
        }
    }
    if (err == cudaSuccess) err = cudaGetLastError();
    const cudaError_t ferr = cudaFreeAsync(scratch, stream);
    return err != cudaSuccess ? err : ferr;
}

// The one dispatch point of the backward: (dtype x head dim) -> traits. Tile shapes: see kernel_traits.cuh.
cudaError_t attention_bwd_dispatch(const ps_attn_bwd_params& bp, cudaStream_t stream, bool vec) {
    const ps_attn_fwd_params& p = bp.fwd;
    switch (p.dtype) {
        case PS_BFLOAT16:
            return p.head_dim == 64 ? launch_bwd<MmaTraits<__nv_bfloat16, 64>, true>(bp, stream, vec)
                                    : launch_bwd<MmaTraits<__nv_bfloat16, 128>, true>(bp, stream, vec);
        case PS_FLOAT16:
            return p.head_dim == 64 ? launch_bwd<MmaTraits<__half, 64>, true>(bp, stream, vec)
                                    : launch_bwd<MmaTraits<__half, 128>, true>(bp, stream, vec);
        default:
            return p.head_dim == 64 ? launch_bwd<SimtTraits<64>, false>(bp, stream, vec)
                                    : launch_bwd<SimtTraits<128>, false>(bp, stream, vec);
    }
}

}  // namespace cuda
}  // namespace ps
