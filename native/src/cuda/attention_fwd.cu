// CUDA forward of prefix-shared attention: FlashAttention-2 style online softmax over key tiles.
// One CTA per (q tile, q head, batch row), late q tiles first (under a causal or tree mask they see the most keys).
// Per key tile: EMPTY skipped before any load; FULL without a per-element mask; PARTIAL with k <= q only when the
// tree part holds for the whole pair (tree_full), else with the ancestor rule per element.
#include <cuda_runtime.h>

#include "cuda/attention_cuda.h"
#include "cuda/tile_io.cuh"

namespace ps {
namespace cuda {

// ------------------------------------------------------------------------------------------------------------------
// bf16 / fp16: tensor cores. Warp w owns query rows [16 w, 16 w + 16) of the tile; lane = 4 g + tq holds rows
// 16 w + g and 16 w + g + 8 of every accumulator fragment (m16n8k16 C layout: columns 2 tq, 2 tq + 1 of each n8).
// ------------------------------------------------------------------------------------------------------------------
template <class Tr>
__global__ void __launch_bounds__(Tr::kThreads) fwd_mma_kernel(const ps_attn_fwd_params p,
                                                                const TileSummary* __restrict__ tiles, bool vec) {
    using E = typename Tr::Elem;
    using Ops = ElemOps<E>;
    constexpr int BM = Tr::kBlockM, BN = Tr::kBlockN, D = Tr::kHeadDim, RS = Tr::kRowStride, TSN = Tr::kTStrideN;
    extern __shared__ __align__(16) unsigned char smem_raw[];
    E* sQ = reinterpret_cast<E*>(smem_raw);          // (BM, D+8)
    E* sK = sQ + BM * RS;                            // (BN, D+8)
    E* sVt = sK + BN * RS;                           // (D, BN+8)  V^T: PV's B fragments are pairs along keys
    int32_t* sQnode = reinterpret_cast<int32_t*>(sVt + D * TSN);  // (BM)
    int32_t* sKnode = sQnode + BM;                                // (BN)
    int32_t* sKend = sKnode + BN;                                 // (BN)

    const int T = p.seqlen, nT = (T + BM - 1) / BM;
    const int qt = nT - 1 - (int)blockIdx.x, h = blockIdx.y, b = blockIdx.z;
    const int kvh = h / (p.heads_q / p.heads_kv);
    const int q0 = qt * BM;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, tq = lane % 4;
    const E* qg = static_cast<const E*>(p.q) + b * p.q_batch_stride + (int64_t)h * p.q_head_stride;
    const E* kg = static_cast<const E*>(p.k) + b * p.k_batch_stride + (int64_t)kvh * p.k_head_stride;
    const E* vg = static_cast<const E*>(p.v) + b * p.v_batch_stride + (int64_t)kvh * p.v_head_stride;
    const int32_t* node = p.node + (int64_t)b * T;
    const int32_t* send = p.subtree_end + (int64_t)b * T;
    const TileSummary* ts = tiles + (int64_t)b * nT;
    const TileSummary qs = ts[qt];
    const float scale = (float)p.scale;

    load_tile<Tr, BM>(qg, p.q_row_stride, q0, min(BM, T - q0), vec, sQ, nullptr, 0);
    load_ints(node, q0, BM, T, sQnode, Tr::kThreads);
    __syncthreads();

    const int r0 = warp * Tr::kRowsPerWarp + g;  // this lane's rows r0, r0 + 8 of the tile
    uint32_t qa[Tr::kKStepsD][4];                // Q A-fragments, (16, D) per warp
#pragma unroll
    for (int ks = 0; ks < Tr::kKStepsD; ++ks) {
        const int c = ks * 16 + 2 * tq;
        qa[ks][0] = lds32(&sQ[r0 * RS + c]);
        qa[ks][1] = lds32(&sQ[(r0 + 8) * RS + c]);
        qa[ks][2] = lds32(&sQ[r0 * RS + c + 8]);
        qa[ks][3] = lds32(&sQ[(r0 + 8) * RS + c + 8]);
    }

    float o[Tr::kNTilesD][4];  // (16, D) output accumulator per warp
#pragma unroll
    for (int dt = 0; dt < Tr::kNTilesD; ++dt) o[dt][0] = o[dt][1] = o[dt][2] = o[dt][3] = 0.f;
    float m[2] = {-CUDART_INF_F, -CUDART_INF_F};  // running max of rows r0, r0 + 8 (same in the 4 lanes of a row)
    float l[2] = {0.f, 0.f};                      // this lane's partial running sums (reduced at the end)

    const int last_kt = min(nT - 1, qs.last / BN);
    for (int kt = 0; kt <= last_kt; ++kt) {
        const TileSummary ks = ts[kt];
        const TileKind kind = classify_tile(qs, ks);
        if (kind == TILE_EMPTY) continue;  // uniform over the CTA
        const int k0 = kt * BN;
        const int mode = mask_mode(kind, qs, ks, k0, BN, T);
        __syncthreads();  // every warp is done with the previous K / V tile
        load_tile<Tr, BN>(kg, p.k_row_stride, k0, min(BN, T - k0), vec, sK, nullptr, 0);
        load_tile<Tr, BN>(vg, p.v_row_stride, k0, min(BN, T - k0), vec, nullptr, sVt, TSN);
        if (mode == MASK_RULE) {
            load_ints(node, k0, BN, T, sKnode, Tr::kThreads);
            load_ints(send, k0, BN, T, sKend, Tr::kThreads);
        }
        __syncthreads();

        // S = Q K^T   (16, BN) per warp
        float s[Tr::kNTilesN][4];
#pragma unroll
        for (int nt = 0; nt < Tr::kNTilesN; ++nt) s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.f;
#pragma unroll
        for (int ks2 = 0; ks2 < Tr::kKStepsD; ++ks2) {
#pragma unroll
            for (int nt = 0; nt < Tr::kNTilesN; ++nt) {
                const E* kr = &sK[(nt * 8 + g) * RS + ks2 * 16 + 2 * tq];
                Ops::mma(s[nt], qa[ks2], lds32(kr), lds32(kr + 8));
            }
        }

        // scale, mask, online softmax (rows i = 0: r0, i = 1: r0 + 8; fragment elements 2i, 2i + 1)
#pragma unroll
        for (int i = 0; i < 2; ++i) {
            const int r = r0 + 8 * i, qi = q0 + r;
            float mx = -CUDART_INF_F;
#pragma unroll
            for (int nt = 0; nt < Tr::kNTilesN; ++nt) {
#pragma unroll
                for (int j = 0; j < 2; ++j) {
                    const int c = nt * 8 + 2 * tq + j;
                    float x = s[nt][2 * i + j] * scale;
                    if (!mask_visible(mode, qi, k0 + c, T, r, c, sQnode, sKnode, sKend)) x = -CUDART_INF_F;
                    s[nt][2 * i + j] = x;
                    mx = fmaxf(mx, x);
                }
            }
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
            const float m_new = fmaxf(m[i], mx);
            if (m_new == -CUDART_INF_F) {  // nothing visible to this row yet: P = 0, state unchanged
#pragma unroll
                for (int nt = 0; nt < Tr::kNTilesN; ++nt) s[nt][2 * i] = s[nt][2 * i + 1] = 0.f;
                continue;
            }
            const float alpha = m[i] == -CUDART_INF_F ? 0.f : __expf(m[i] - m_new);
            float sum = 0.f;
#pragma unroll
            for (int nt = 0; nt < Tr::kNTilesN; ++nt) {
#pragma unroll
                for (int j = 0; j < 2; ++j) {
                    const float e = __expf(s[nt][2 * i + j] - m_new);  // exp(-inf) = 0 for masked keys
                    s[nt][2 * i + j] = e;
                    sum += e;
                }
            }
            l[i] = l[i] * alpha + sum;
            m[i] = m_new;
#pragma unroll
            for (int dt = 0; dt < Tr::kNTilesD; ++dt) {
                o[dt][2 * i] *= alpha;
                o[dt][2 * i + 1] *= alpha;
            }
        }

        // O += P V: the C fragments of n8 tiles 2j, 2j+1 of S are the A fragment of k16 step j (FA2's trick)
#pragma unroll
        for (int j = 0; j < Tr::kKStepsN; ++j) {
            const uint32_t pa[4] = {Ops::pack2(s[2 * j][0], s[2 * j][1]), Ops::pack2(s[2 * j][2], s[2 * j][3]),
                                    Ops::pack2(s[2 * j + 1][0], s[2 * j + 1][1]),
                                    Ops::pack2(s[2 * j + 1][2], s[2 * j + 1][3])};
#pragma unroll
            for (int dt = 0; dt < Tr::kNTilesD; ++dt) {
                const E* vr = &sVt[(dt * 8 + g) * TSN + j * 16 + 2 * tq];
                Ops::mma(o[dt], pa, lds32(vr), lds32(vr + 8));
            }
        }
    }

    // Normalise; a row that saw nothing gets out = 0 and lse = +inf.
    E* og = static_cast<E*>(p.out) + b * p.o_batch_stride + (int64_t)h * p.o_head_stride;
    float* lse = static_cast<float*>(p.lse) + ((int64_t)b * p.heads_q + h) * T;
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        float li = l[i];
        li += __shfl_xor_sync(0xffffffffu, li, 1);
        li += __shfl_xor_sync(0xffffffffu, li, 2);
        const int qi = q0 + r0 + 8 * i;
        if (qi >= T) continue;
        const float inv = li > 0.f ? 1.f / li : 0.f;
        E* dst = og + (int64_t)qi * p.o_row_stride;
#pragma unroll
        for (int dt = 0; dt < Tr::kNTilesD; ++dt) {
            const int c = dt * 8 + 2 * tq;
            dst[c] = Ops::from_float(o[dt][2 * i] * inv);
            dst[c + 1] = Ops::from_float(o[dt][2 * i + 1] * inv);
        }
        if (tq == 0) lse[qi] = li > 0.f ? m[i] + logf(li) : CUDART_INF_F;
    }
}

// ------------------------------------------------------------------------------------------------------------------
// fp32: exact FMA. Thread t owns row t / 8 of the tile, S columns t % 8 + 8 j and output columns t % 8 + 8 j.
// ------------------------------------------------------------------------------------------------------------------
template <class Tr>
__global__ void __launch_bounds__(Tr::kThreads) fwd_simt_kernel(const ps_attn_fwd_params p,
                                                                 const TileSummary* __restrict__ tiles) {
    constexpr int BM = Tr::kBlockM, BN = Tr::kBlockN, D = Tr::kHeadDim, RS = Tr::kRowStride, SS = Tr::kSStride;
    constexpr int TPR = Tr::kThreadsPerRow, CPT = Tr::kColsPerThread, DPT = Tr::kDPerThread;
    extern __shared__ __align__(16) unsigned char smem_raw[];
    float* sQ = reinterpret_cast<float*>(smem_raw);  // (BM, D+1)
    float* sK = sQ + BM * RS;                        // (BN, D+1)
    float* sV = sK + BN * RS;                        // (BN, D+1)
    float* sS = sV + BN * RS;                        // (BM, BN+1) probabilities of the current key tile
    int32_t* sQnode = reinterpret_cast<int32_t*>(sS + BM * SS);
    int32_t* sKnode = sQnode + BM;
    int32_t* sKend = sKnode + BN;

    const int T = p.seqlen, nT = (T + BM - 1) / BM;
    const int qt = nT - 1 - (int)blockIdx.x, h = blockIdx.y, b = blockIdx.z;
    const int kvh = h / (p.heads_q / p.heads_kv);
    const int q0 = qt * BM;
    const int r = threadIdx.x / TPR, j8 = threadIdx.x % TPR, qi = q0 + r;
    const float* qg = static_cast<const float*>(p.q) + b * p.q_batch_stride + (int64_t)h * p.q_head_stride;
    const float* kg = static_cast<const float*>(p.k) + b * p.k_batch_stride + (int64_t)kvh * p.k_head_stride;
    const float* vg = static_cast<const float*>(p.v) + b * p.v_batch_stride + (int64_t)kvh * p.v_head_stride;
    const int32_t* node = p.node + (int64_t)b * T;
    const int32_t* send = p.subtree_end + (int64_t)b * T;
    const TileSummary* ts = tiles + (int64_t)b * nT;
    const TileSummary qs = ts[qt];
    const float scale = (float)p.scale;

    load_tile_f32<Tr, BM>(qg, p.q_row_stride, q0, min(BM, T - q0), sQ);
    load_ints(node, q0, BM, T, sQnode, Tr::kThreads);

    float o[DPT];
#pragma unroll
    for (int dd = 0; dd < DPT; ++dd) o[dd] = 0.f;
    float m = -CUDART_INF_F, l = 0.f;  // identical in the 8 threads of a row

    const int last_kt = min(nT - 1, qs.last / BN);
    for (int kt = 0; kt <= last_kt; ++kt) {
        const TileSummary ks = ts[kt];
        const TileKind kind = classify_tile(qs, ks);
        if (kind == TILE_EMPTY) continue;
        const int k0 = kt * BN;
        const int mode = mask_mode(kind, qs, ks, k0, BN, T);
        __syncthreads();  // previous K / V / S reads done (and the Q tile written, first time)
        load_tile_f32<Tr, BN>(kg, p.k_row_stride, k0, min(BN, T - k0), sK);
        load_tile_f32<Tr, BN>(vg, p.v_row_stride, k0, min(BN, T - k0), sV);
        if (mode == MASK_RULE) {
            load_ints(node, k0, BN, T, sKnode, Tr::kThreads);
            load_ints(send, k0, BN, T, sKend, Tr::kThreads);
        }
        __syncthreads();

        float s[CPT];
        float mx = -CUDART_INF_F;
#pragma unroll
        for (int jj = 0; jj < CPT; ++jj) {
            const int c = j8 + TPR * jj;
            const float* qr = sQ + r * RS;
            const float* kr = sK + c * RS;
            float acc = 0.f;
#pragma unroll 16
            for (int d = 0; d < D; ++d) acc = fmaf(qr[d], kr[d], acc);
            float x = acc * scale;
            if (!mask_visible(mode, qi, k0 + c, T, r, c, sQnode, sKnode, sKend)) x = -CUDART_INF_F;
            s[jj] = x;
            mx = fmaxf(mx, x);
        }
#pragma unroll
        for (int off = 1; off < TPR; off <<= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
        const float m_new = fmaxf(m, mx);
        float sum = 0.f;
#pragma unroll
        for (int jj = 0; jj < CPT; ++jj) {
            const float e = m_new == -CUDART_INF_F ? 0.f : expf(s[jj] - m_new);
            sS[r * SS + j8 + TPR * jj] = e;
            sum += e;
        }
#pragma unroll
        for (int off = 1; off < TPR; off <<= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
        if (m_new != -CUDART_INF_F) {
            const float alpha = m == -CUDART_INF_F ? 0.f : expf(m - m_new);
            l = l * alpha + sum;
            m = m_new;
#pragma unroll
            for (int dd = 0; dd < DPT; ++dd) o[dd] *= alpha;
        }
        __syncwarp();  // the row's probabilities (written by the 8 threads of this row, one warp) are visible

#pragma unroll
        for (int dd = 0; dd < DPT; ++dd) {
            const int d = j8 + TPR * dd;
            float acc = o[dd];
#pragma unroll 8
            for (int c = 0; c < BN; ++c) acc = fmaf(sS[r * SS + c], sV[c * RS + d], acc);
            o[dd] = acc;
        }
    }

    if (qi < T) {
        float* dst = static_cast<float*>(p.out) + b * p.o_batch_stride + (int64_t)h * p.o_head_stride +
                     (int64_t)qi * p.o_row_stride;
        const float inv = l > 0.f ? 1.f / l : 0.f;
#pragma unroll
        for (int dd = 0; dd < DPT; ++dd) dst[j8 + TPR * dd] = o[dd] * inv;
        if (j8 == 0) {
            float* lse = static_cast<float*>(p.lse) + ((int64_t)b * p.heads_q + h) * T;
            lse[qi] = l > 0.f ? m + logf(l) : CUDART_INF_F;
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
static cudaError_t launch_fwd(const ps_attn_fwd_params& p, cudaStream_t stream, bool vec) {
    const int nT = (p.seqlen + Tr::kBlockM - 1) / Tr::kBlockM;
    TileSummary* tiles = nullptr;
    cudaError_t err = cudaMallocAsync(reinterpret_cast<void**>(&tiles), sizeof(TileSummary) * (size_t)p.batch * nT, stream);
    if (err != cudaSuccess) return err;
    const int n = p.batch * nT;
    summarize_kernel<<<(n + 127) / 128, 128, 0, stream>>>(p.node, p.subtree_end, p.batch, p.seqlen, Tr::kBlockM, tiles);
    const dim3 grid(nT, p.heads_q, p.batch);
    if constexpr (MMA) {
        err = set_smem(fwd_mma_kernel<Tr>, Tr::kFwdSmemBytes);
        if (err == cudaSuccess)
            fwd_mma_kernel<Tr><<<grid, Tr::kThreads, Tr::kFwdSmemBytes, stream>>>(p, tiles, vec);
    } else {
        err = set_smem(fwd_simt_kernel<Tr>, Tr::kFwdSmemBytes);
        if (err == cudaSuccess) fwd_simt_kernel<Tr><<<grid, Tr::kThreads, Tr::kFwdSmemBytes, stream>>>(p, tiles);
    }
    if (err == cudaSuccess) err = cudaGetLastError();
    const cudaError_t ferr = cudaFreeAsync(tiles, stream);
    return err != cudaSuccess ? err : ferr;
}

// The one dispatch point of the forward: (dtype x head dim) -> traits. Tile shapes: see kernel_traits.cuh.
cudaError_t attention_fwd_dispatch(const ps_attn_fwd_params& p, cudaStream_t stream, bool vec) {
    switch (p.dtype) {
        case PS_BFLOAT16:
            return p.head_dim == 64 ? launch_fwd<MmaTraits<__nv_bfloat16, 64>, true>(p, stream, vec)
                                    : launch_fwd<MmaTraits<__nv_bfloat16, 128>, true>(p, stream, vec);
        case PS_FLOAT16:
            return p.head_dim == 64 ? launch_fwd<MmaTraits<__half, 64>, true>(p, stream, vec)
                                    : launch_fwd<MmaTraits<__half, 128>, true>(p, stream, vec);
        default:
            return p.head_dim == 64 ? launch_fwd<SimtTraits<64>, false>(p, stream, vec)
                                    : launch_fwd<SimtTraits<128>, false>(p, stream, vec);
    }
}

}  // namespace cuda
}  // namespace ps
