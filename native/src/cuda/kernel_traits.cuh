// Compile-time shapes of the CUDA attention kernels (FlashAttention's Kernel_traits idea), the element-type helpers
// and the one tensor-core instruction the 16-bit kernels use (mma.sync.m16n8k16, sm_80+).
//
// Two kernel families share the launch structure, the tile summaries and the mask (common/mask.h):
//   * MmaTraits<Elem, D>  (bf16 / fp16 inputs): FlashAttention-2 style, 4 warps, each warp owns 16 rows of the tile
//     (queries in the forward, keys in the backward); fragments of m16n8k16 live in registers, float32 accumulation.
//   * SimtTraits<D>      (fp32 inputs): the same tiling with exact fp32 FMA (no TF32: the fp32 path must agree with
//     the CPU kernels to 1e-4 relative, and plain FMA gives ~1e-6). 256 threads; thread t owns row t / 8 and the
//     columns t % 8 + 8 j of the tile.
#ifndef PREFIXSHARE_CUDA_KERNEL_TRAITS_CUH
#define PREFIXSHARE_CUDA_KERNEL_TRAITS_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

namespace ps {
namespace cuda {

// ------------------------------------------------------------------------------------------------------------------
// Element types
// ------------------------------------------------------------------------------------------------------------------

template <class E> struct ElemOps;

template <> struct ElemOps<float> {
    static __device__ __forceinline__ float to_float(float x) { return x; }
    static __device__ __forceinline__ float from_float(float x) { return x; }
};

template <> struct ElemOps<__nv_bfloat16> {
    static __device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
    static __device__ __forceinline__ __nv_bfloat16 from_float(float x) { return __float2bfloat16_rn(x); }
    /** Two floats as one 32-bit register of a fragment: lo in bits 0-15 (the lower column index). */
    static __device__ __forceinline__ uint32_t pack2(float lo, float hi) {
        __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
        return *reinterpret_cast<uint32_t*>(&v);
    }
    /** D (16x8, f32) += A (16x16, row) * B (16x8, col). */
    static __device__ __forceinline__ void mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
            "{%0,%1,%2,%3};\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
};

template <> struct ElemOps<__half> {
    static __device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
    static __device__ __forceinline__ __half from_float(float x) { return __float2half_rn(x); }
    static __device__ __forceinline__ uint32_t pack2(float lo, float hi) {
        __half2 v = __floats2half2_rn(lo, hi);
        return *reinterpret_cast<uint32_t*>(&v);
    }
    static __device__ __forceinline__ void mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
            "{%0,%1,%2,%3};\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
};

/** 32 bits (two consecutive 16-bit elements) from shared memory; the address must be 4-byte aligned. */
template <class E> __device__ __forceinline__ uint32_t lds32(const E* p) {
    return *reinterpret_cast<const uint32_t*>(p);
}

// ------------------------------------------------------------------------------------------------------------------
// Traits
// ------------------------------------------------------------------------------------------------------------------

/**
 * 16-bit tensor-core kernels. BlockM = BlockN = 64 (one tile size, so one set of tile summaries serves the forward
 * and the backward); 4 warps x 16 rows. Tile choice: FlashAttention-2's sm_80 forward default for d <= 128 is
 * 128 x 64 with 4 warps; 64 x 64 halves the masked work of diagonal/partial tiles of short documents (responses of
 * a few hundred tokens), at the cost of Q reuse. Not yet measured on a GPU (see docs/ and tests/run_gpu.sh).
 */
template <class E, int HeadDim>
struct MmaTraits {
    using Elem = E;
    static constexpr int kHeadDim = HeadDim;
    static constexpr int kBlockM = 64;
    static constexpr int kBlockN = 64;
    static constexpr int kWarps = 4;
    static constexpr int kThreads = kWarps * 32;
    static constexpr int kRowsPerWarp = 16;                  // m of m16n8k16
    static constexpr int kPad = 8;                           // 16 bytes of padding per smem row: conflict-free frags
    static constexpr int kRowStride = kHeadDim + kPad;       // smem row of a [rows][D] tile (elements)
    static constexpr int kTStrideN = kBlockN + kPad;         // smem row of a [D][BlockN] (transposed) tile
    static constexpr int kTStrideM = kBlockM + kPad;         // smem row of a [D][BlockM] (transposed) tile
    static constexpr int kNTilesN = kBlockN / 8;             // n8 tiles across a row of S (keys)
    static constexpr int kNTilesM = kBlockM / 8;             // n8 tiles across a row of S^T (queries)
    static constexpr int kNTilesD = kHeadDim / 8;            // n8 tiles across the head dim
    static constexpr int kKStepsD = kHeadDim / 16;           // k16 steps over the head dim
    static constexpr int kKStepsN = kBlockN / 16;            // k16 steps over the keys
    static constexpr int kKStepsM = kBlockM / 16;            // k16 steps over the queries
    static constexpr int kVec = 16 / sizeof(E);              // elements per 16-byte global load

    static_assert(sizeof(E) == 2, "tensor-core path is for 16-bit inputs");
    static_assert(kHeadDim == 64 || kHeadDim == 128, "head dims 64 and 128 are instantiated");
    static_assert(kBlockM == kWarps * kRowsPerWarp, "forward: one 16-row slab of queries per warp");
    static_assert(kBlockN == kWarps * kRowsPerWarp, "backward: one 16-row slab of keys per warp");
    static_assert(kBlockN % 16 == 0 && kBlockM % 16 == 0 && kHeadDim % 16 == 0, "k16 steps must tile exactly");
    static_assert((kRowStride * sizeof(E)) % 16 == 0 && (kTStrideN * sizeof(E)) % 16 == 0,
                  "smem rows stay 16-byte aligned");
    static_assert(kHeadDim % kVec == 0, "head dim is whole 16-byte vectors");

    // Forward shared memory (elements of E): Q (BM, D+8), K (BN, D+8), V^T (D, BN+8).
    static constexpr int kFwdSmemElems = kBlockM * kRowStride + kBlockN * kRowStride + kHeadDim * kTStrideN;
    // Backward: K, V, Q, dO (rows, D+8); K^T (D, BN+8); Q^T, dO^T (D, BM+8); dS (BM, BN+8).
    static constexpr int kBwdSmemElems = (kBlockN * 2 + kBlockM * 2) * kRowStride + kHeadDim * kTStrideN +
                                         2 * kHeadDim * kTStrideM + kBlockM * kTStrideN;
    // Plus int32 node/end of the tile's queries and keys and float lse / Di of its queries.
    static constexpr int kSmemInts = 2 * kBlockM + 2 * kBlockN;
    static constexpr size_t kFwdSmemBytes = kFwdSmemElems * sizeof(E) + kSmemInts * sizeof(int32_t);
    static constexpr size_t kBwdSmemBytes =
        kBwdSmemElems * sizeof(E) + kSmemInts * sizeof(int32_t) + 2 * kBlockM * sizeof(float);
    static_assert(kBwdSmemBytes <= 160 * 1024, "backward smem must fit an A100 SM (163 KiB opt-in)");
};

/**
 * fp32 kernels (exact FMA). 32 x 32 tiles, 256 threads: thread t owns row t / 8 (8 threads per row, all in one
 * warp, so row reductions are 3 shuffles) and columns t % 8 + 8 j. Small tiles keep the fp32 K/V/Q/dO tiles
 * (padded to D+1 floats per row: conflict-free column walks) within 48 KiB... 66 KiB for D = 128 backward.
 */
template <int HeadDim>
struct SimtTraits {
    using Elem = float;
    static constexpr int kHeadDim = HeadDim;
    static constexpr int kBlockM = 32;
    static constexpr int kBlockN = 32;
    static constexpr int kThreads = 256;
    static constexpr int kThreadsPerRow = 8;
    static constexpr int kColsPerThread = kBlockN / kThreadsPerRow;  // S columns per thread (4)
    static constexpr int kDPerThread = kHeadDim / kThreadsPerRow;     // output columns per thread (8 or 16)
    static constexpr int kRowStride = kHeadDim + 1;                   // floats; odd: rows fall in distinct banks
    static constexpr int kSStride = kBlockN + 1;

    static_assert(kHeadDim == 64 || kHeadDim == 128, "head dims 64 and 128 are instantiated");
    static_assert(kBlockM == kBlockN, "one tile size: one set of tile summaries");
    static_assert(kThreads == kBlockM * kThreadsPerRow, "one row of the tile per 8 threads");
    static_assert(32 % kThreadsPerRow == 0, "the threads of a row share a warp (shuffle reductions)");
    static_assert(kBlockN % kThreadsPerRow == 0 && kHeadDim % kThreadsPerRow == 0, "columns split evenly");

    // Forward: Q, K, V (rows, D+1), S/P (BM, BN+1); backward: K, V, Q, dO (rows, D+1), P^T, dS^T (BN, BM+1),
    // lse, Di (BM).
    static constexpr size_t kFwdSmemBytes =
        (size_t)(3 * kBlockM * kRowStride + kBlockM * kSStride) * sizeof(float) + 4 * kBlockM * sizeof(int32_t);
    static constexpr size_t kBwdSmemBytes = (size_t)(4 * kBlockM * kRowStride + 2 * kBlockN * kSStride +
                                                     2 * kBlockM) * sizeof(float) + 4 * kBlockM * sizeof(int32_t);
    static_assert(kBwdSmemBytes <= 160 * 1024, "backward smem must fit an A100 SM");
};

}  // namespace cuda
}  // namespace ps

#endif
