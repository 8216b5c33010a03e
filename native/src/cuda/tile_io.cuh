// Global -> shared tile loads, the per-element mask of PARTIAL tiles, and the small helper kernels (tile summaries,
// rowsum(dO * O), dQ finalisation) shared by the forward and backward launchers.
#ifndef PREFIXSHARE_CUDA_TILE_IO_CUH
#define PREFIXSHARE_CUDA_TILE_IO_CUH

#include <math_constants.h>

#include "common/mask.h"
#include "cuda/kernel_traits.cuh"
#include "prefixshare/params.h"

namespace ps {
namespace cuda {

/**
 * How a (q tile, k tile) pair is masked: NONE for FULL tiles inside the sequence; CAUSAL when the tree part of the
 * rule holds for the whole pair (tree_full) or the tile pair is FULL but its keys run past T (then k <= q < T
 * also rejects the padded keys); RULE evaluates the ancestor rule per element (PARTIAL tiles).
 */
enum MaskMode : int { MASK_NONE = 0, MASK_CAUSAL = 1, MASK_RULE = 2 };

__device__ __forceinline__ int mask_mode(TileKind kind, const TileSummary& qs, const TileSummary& ks, int k0,
                                         int block_n, int seqlen) {
    if (kind == TILE_FULL) return k0 + block_n > seqlen ? MASK_CAUSAL : MASK_NONE;
    return tree_full(qs, ks) ? MASK_CAUSAL : MASK_RULE;
}

/**
 * Whether key kj is visible to query qi under `mode` (r, c: their indices inside the tiles; qnode, knode, kend:
 * the tiles' node / subtree_end in shared memory, valid for tokens < T). Padded queries (qi >= T) may return
 * anything: their results are never stored and their lse is +inf in the backward.
 */
__device__ __forceinline__ bool mask_visible(int mode, int qi, int kj, int seqlen, int r, int c, const int32_t* qnode,
                                             const int32_t* knode, const int32_t* kend) {
    if (mode == MASK_NONE) return true;
    if (mode == MASK_CAUSAL) return kj <= qi;
    return kj <= qi && qi < seqlen && knode[c] <= qnode[r] && qnode[r] <= kend[c];
}

/**
 * Loads rows [row0, row0 + ROWS) of a [T, D] slice (rows `row_stride` elements apart, D contiguous) into shared
 * memory, rows >= nvalid as zeros: row-major into `dst` (row stride Tr::kRowStride) and/or transposed into `dst_t`
 * ([D][t_stride]). `vec`: the slice's base and row stride are 16-byte aligned (one 16-byte load per 8 elements).
 */
template <class Tr, int ROWS>
__device__ __forceinline__ void load_tile(const typename Tr::Elem* __restrict__ g, int64_t row_stride, int row0,
                                          int nvalid, bool vec, typename Tr::Elem* dst,
                                          typename Tr::Elem* dst_t, int t_stride) {
    using E = typename Tr::Elem;
    constexpr int kVec = Tr::kVec, kChunks = Tr::kHeadDim / kVec;
    for (int i = threadIdx.x; i < ROWS * kChunks; i += Tr::kThreads) {
        const int r = i / kChunks, c = (i % kChunks) * kVec;
        union {
            uint4 u;
            E e[kVec];
        } val;
        val.u = make_uint4(0, 0, 0, 0);
        if (r < nvalid) {
            const E* src = g + (int64_t)(row0 + r) * row_stride + c;
            if (vec) {
                val.u = __ldg(reinterpret_cast<const uint4*>(src));
            } else {
#pragma unroll
                for (int j = 0; j < kVec; ++j) val.e[j] = src[j];
            }
        }
        if (dst) *reinterpret_cast<uint4*>(dst + r * Tr::kRowStride + c) = val.u;
        if (dst_t) {
#pragma unroll
            for (int j = 0; j < kVec; ++j) dst_t[(c + j) * t_stride + r] = val.e[j];
        }
    }
}

/** fp32 variant: scalar, coalesced (consecutive threads read consecutive d); rows >= nvalid are zeros. */
template <class Tr, int ROWS>
__device__ __forceinline__ void load_tile_f32(const float* __restrict__ g, int64_t row_stride, int row0, int nvalid,
                                              float* dst) {
    constexpr int D = Tr::kHeadDim;
    for (int i = threadIdx.x; i < ROWS * D; i += Tr::kThreads) {
        const int r = i / D, d = i % D;
        dst[r * Tr::kRowStride + d] = r < nvalid ? __ldg(g + (int64_t)(row0 + r) * row_stride + d) : 0.f;
    }
}

/** node / subtree_end of tokens [t0, t0 + n) into shared memory (0 past T; masked by position anyway). */
__device__ __forceinline__ void load_ints(const int32_t* __restrict__ g, int t0, int n, int seqlen, int32_t* dst,
                                          int nthreads) {
    for (int i = threadIdx.x; i < n; i += nthreads) dst[i] = t0 + i < seqlen ? __ldg(g + t0 + i) : 0;
}

/** tiles[b * n_tiles + t] = summary of tile t of batch row b (one thread per tile). */
static __global__ void summarize_kernel(const int32_t* __restrict__ node, const int32_t* __restrict__ end, int batch,
                                 int seqlen, int tile, TileSummary* __restrict__ tiles) {
    const int n_tiles = (seqlen + tile - 1) / tile;
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)batch * n_tiles) return;
    const int b = (int)(i / n_tiles), t = (int)(i % n_tiles);
    tiles[i] = summarize_tile(node + (int64_t)b * seqlen, end + (int64_t)b * seqlen, seqlen, tile, t);
}

/** di[(b * Hq + h) * T + t] = sum_d out * dout (float32), one warp per row. */
template <class E>
__global__ void rowsum_do_o_kernel(const ps_attn_bwd_params bp, float* __restrict__ di) {
    const ps_attn_fwd_params& p = bp.fwd;
    const int64_t rows = (int64_t)p.batch * p.heads_q * p.seqlen;
    const int lane = threadIdx.x % 32;
    for (int64_t w = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32; w < rows;
         w += (int64_t)gridDim.x * blockDim.x / 32) {
        const int t = (int)(w % p.seqlen);
        const int h = (int)((w / p.seqlen) % p.heads_q);
        const int b = (int)(w / ((int64_t)p.seqlen * p.heads_q));
        const E* o = static_cast<const E*>(p.out) + b * p.o_batch_stride + (int64_t)t * p.o_row_stride +
                     (int64_t)h * p.o_head_stride;
        const E* g = static_cast<const E*>(bp.dout) + b * bp.do_batch_stride + (int64_t)t * bp.do_row_stride +
                     (int64_t)h * bp.do_head_stride;
        float acc = 0.f;
        for (int d = lane; d < p.head_dim; d += 32) acc = fmaf(ElemOps<E>::to_float(o[d]), ElemOps<E>::to_float(g[d]), acc);
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, off);
        if (lane == 0) di[w] = acc;
    }
}

/** dq (strided, element type E) = dq_acc ([B,Hq,T,D] float32, already scaled). */
template <class E>
__global__ void finalize_dq_kernel(const ps_attn_bwd_params bp, const float* __restrict__ acc) {
    const ps_attn_fwd_params& p = bp.fwd;
    const int D = p.head_dim;
    const int64_t n = (int64_t)p.batch * p.heads_q * p.seqlen * D;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        const int d = (int)(i % D);
        const int64_t row = i / D;  // (b * Hq + h) * T + t
        const int t = (int)(row % p.seqlen);
        const int h = (int)((row / p.seqlen) % p.heads_q);
        const int b = (int)(row / ((int64_t)p.seqlen * p.heads_q));
        E* dst = static_cast<E*>(bp.dq) + b * bp.dq_batch_stride + (int64_t)t * bp.dq_row_stride +
                 (int64_t)h * bp.dq_head_stride + d;
        *dst = ElemOps<E>::from_float(acc[i]);
    }
}

}  // namespace cuda
}  // namespace ps

#endif
