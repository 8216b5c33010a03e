// Compile-time tile shapes of the CPU attention kernels (FlashAttention's Kernel_traits idea) and the register-
// blocked AVX2 micro-kernel every matrix product in the forward and backward passes goes through.
#ifndef PREFIXSHARE_CPU_KERNEL_TRAITS_H
#define PREFIXSHARE_CPU_KERNEL_TRAITS_H

#include <climits>
#include <cstdint>

#include "cpu/simd.h"

namespace ps {
namespace cpu {

constexpr int round_up(int x, int m) { return (x + m - 1) / m * m; }
constexpr int ceil_div(int x, int m) { return (x + m - 1) / m; }

/**
 * T: element type (float, double); accumulation is in T.
 * HeadDim: compile-time head dim (64, 128 fast paths) or 0 for the runtime path (any D in 1..256).
 * BlockM: query rows per tile; BlockN: key rows per tile.
 */
template <class T, int HeadDim, int BlockM, int BlockN>
struct KernelTraits {
    using Elem = T;
    using Vec = Simd<T>;
    static constexpr int kW = Vec::W;                 // lanes per vector
    static constexpr int kNR = 2 * kW;                // micro-kernel columns (two vectors)
    static constexpr int kMR = 6;                     // micro-kernel rows: 6 x 2 accumulators + 2 B vectors + 1 broadcast
    static constexpr int kHeadDim = HeadDim;          // 0: runtime
    static constexpr int kMaxHeadDim = 256;
    static constexpr int kBlockM = BlockM;
    static constexpr int kBlockN = BlockN;
    static_assert(HeadDim >= 0 && HeadDim <= kMaxHeadDim, "head dim out of range");
    static_assert(BlockM >= kMR && BlockM <= 256, "BlockM must hold at least one micro-tile");
    static_assert(BlockN % kNR == 0, "BlockN must be a multiple of the micro-kernel width");
    static_assert(BlockN >= kNR && BlockN <= 256, "BlockN out of range");

    /** Head dim padded to whole micro-kernel columns (output tiles, V/K/Q/dO rows in scratch). */
    static int padded_head_dim(int d) { return round_up(d, kNR); }
};

/**
 * C[MR x NR] (+)= A[MR x K] * B[K x NR].  A is read by broadcast at A[r*ars + k*acs] (any strides, so A^T costs
 * nothing); B rows are ldb apart and contiguous over NR; C rows are ldc apart. KC > 0 fixes K at compile time.
 */
template <class T, int MR, int KC, bool ACC>
static inline __attribute__((always_inline)) void micro_kernel(int K, const T* __restrict A, ptrdiff_t ars,
                                                               ptrdiff_t acs, const T* __restrict B, ptrdiff_t ldb,
                                                               T* __restrict C, ptrdiff_t ldc) {
    using V = Simd<T>;
    constexpr int W = V::W;
    typename V::reg c0[MR], c1[MR];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
        if (ACC) {
            c0[r] = V::load(C + r * ldc);
            c1[r] = V::load(C + r * ldc + W);
        } else {
            c0[r] = V::zero();
            c1[r] = V::zero();
        }
    }
    const int kk = KC > 0 ? KC : K;
#pragma GCC unroll 4
    for (int k = 0; k < kk; ++k) {
        const typename V::reg b0 = V::load(B + k * ldb);
        const typename V::reg b1 = V::load(B + k * ldb + W);
#pragma GCC unroll 8
        for (int r = 0; r < MR; ++r) {
            const typename V::reg a = V::set1(A[r * ars + k * acs]);
            c0[r] = V::fma(a, b0, c0[r]);
            c1[r] = V::fma(a, b1, c1[r]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
        V::store(C + r * ldc, c0[r]);
        V::store(C + r * ldc + W, c1[r]);
    }
}

/** C[M x N] (+)= A[M x K] * B[K x N], N a multiple of 2 vectors; 6-row micro-tiles, then one tail micro-tile. */
template <class T, int KC, bool ACC>
static inline void tile_gemm(int M, int N, int K, const T* A, ptrdiff_t ars, ptrdiff_t acs, const T* B, ptrdiff_t ldb,
                             T* C, ptrdiff_t ldc) {
    constexpr int NR = 2 * Simd<T>::W;
    for (int n0 = 0; n0 < N; n0 += NR) {
        int i0 = 0;
        for (; i0 + 6 <= M; i0 += 6)
            micro_kernel<T, 6, KC, ACC>(K, A + i0 * ars, ars, acs, B + n0, ldb, C + i0 * ldc + n0, ldc);
        const T* a = A + i0 * ars;
        T* c = C + i0 * ldc + n0;
        switch (M - i0) {
            case 1: micro_kernel<T, 1, KC, ACC>(K, a, ars, acs, B + n0, ldb, c, ldc); break;
            case 2: micro_kernel<T, 2, KC, ACC>(K, a, ars, acs, B + n0, ldb, c, ldc); break;
            case 3: micro_kernel<T, 3, KC, ACC>(K, a, ars, acs, B + n0, ldb, c, ldc); break;
            case 4: micro_kernel<T, 4, KC, ACC>(K, a, ars, acs, B + n0, ldb, c, ldc); break;
            case 5: micro_kernel<T, 5, KC, ACC>(K, a, ars, acs, B + n0, ldb, c, ldc); break;
            default: break;
        }
    }
}

/**
 * dst[d * ldd + n] = src[n * lds + d] for n < nk, d < D: a tile of rows transposed (K^T, V^T of the kernels), in
 * W x W register blocks; the scalar loops only take the edges. Other entries of dst are left as they are.
 */
template <class T>
static inline void transpose_rows(const T* src, ptrdiff_t lds, int nk, int D, T* dst, ptrdiff_t ldd) {
    constexpr int W = Simd<T>::W;
    const int nw = nk / W * W, dw = D / W * W;  // dw == D for the compile-time head dims: no edge loop
    for (int n0 = 0; n0 < nw; n0 += W) {
        for (int d0 = 0; d0 < dw; d0 += W)
            Simd<T>::transpose_block(src + n0 * lds + d0, lds, dst + d0 * ldd + n0, ldd);
        for (int d = dw; d < D; ++d)
            for (int j = 0; j < W; ++j) dst[d * ldd + n0 + j] = src[(n0 + j) * lds + d];
    }
    for (int n = nw; n < nk; ++n)
        for (int d = 0; d < D; ++d) dst[d * ldd + n] = src[n * lds + d];
}

/**
 * The ancestor rule of common/mask.h on one key tile, vectorised for the kernels' partial tiles. The tile's keys
 * are copied once into lane-padded arrays (keys past the end of the row get node = INT32_MAX: never visible);
 * then each query row masks a whole vector of keys with three integer compares.
 */
template <class T, int BN>
struct TileKeys {
    alignas(64) int32_t pos[BN];   // k0 + n
    alignas(64) int32_t node[BN];
    alignas(64) int32_t end[BN];

    void load(const int32_t* row_node, const int32_t* row_end, int k0, int nk) {
        for (int n = 0; n < BN; ++n) {
            pos[n] = k0 + n;
            node[n] = n < nk ? row_node[k0 + n] : INT32_MAX;
            end[n] = n < nk ? row_end[k0 + n] : INT32_MIN;
        }
    }

    /** s[n] = fill for every key n < ne (a multiple of the vector width) that query qi (node nq) cannot see. */
    void mask_row(T* s, int ne, int qi, int32_t nq, T fill) const {
        using V = Simd<T>;
        const typename V::reg f = V::set1(fill);
        for (int n = 0; n < ne; n += V::W) {
            // hidden: k > q, or node[k] > nq (not an ancestor-or-self by pre-order), or end[k] < nq (outside its subtree)
            const typename V::reg hidden =
                    V::bit_or(V::bit_or(V::gt_i32(pos + n, qi), V::gt_i32(node + n, nq)), V::lt_i32(end + n, nq));
            V::store(s + n, V::select(hidden, V::load(s + n), f));
        }
    }
};

}  // namespace cpu
}  // namespace ps

#endif
