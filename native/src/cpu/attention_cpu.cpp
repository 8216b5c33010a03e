// The one dispatch point of the CPU kernels: (dtype x head dim) -> KernelTraits. Tile choices and the measurement
// behind each are written beside them (tests/test_harness.cpp --perf, 2 vCPU AMD Zen3, T=2048, Hq=8, causal).
#include "cpu/attention_cpu.h"

#include "cpu/attention_bwd.h"
#include "cpu/attention_fwd.h"

namespace ps {
namespace cpu {

// Forward tiles: BlockM=128 query rows, BlockN=64 keys, all types and head dims.
// Measured (ps_test --perf, T=2048 causal, float32, min of 7, busy 2-vCPU Zen3; GFLOP/s D=64 / D=128):
//   BM x BN = 64x64: 44.8 / 47.7,  64x128: 46.7 / 43.0,  128x64: 51.2 / 62.6,  128x128: 51.2 / 58.3.
// 128x64 won for both head dims (Q tile reused over more keys per packed K/V tile; S tile 32 KiB stays in L2).
// float32 also has a D=32 fast path (small models such as bench training's; measured with ps_test --perf --tree
// 896 123 73 32 4 2 8, one thread: shared fwd+bwd 14.4 -> 12.6 ms against the runtime-D path).
// double reuses the float shape (not separately tuned: float64 is the gradient-check path).
// Short documents that do not line up with the large tiles (attention_cpu.h, choose_tiles): 32 x 32 or 16 x 16 tiles
// forward and backward, float32.
//
// Backward tiles: BlockM=64 query rows, BlockN=64 keys (one task per key tile: 64 keys give T/64 tasks per
// (batch, kv head), enough to balance 2..16 threads at T >= 1024). Measured, T=2048 causal float32 D=64, min of 9:
//   64x64: 179 GFLOP/s, 128x64: 125 GFLOP/s (noisy machine; 64x64 also halves the per-thread tile scratch).

/** The forward on BM x BN tiles, by head dim: compiled fast paths for 32 (float only), 64 and 128. */
template <class T, int BM, int BN> static bool fwd_tiles(const ps_attn_fwd_params& p) {
    switch (p.head_dim) {
        case 32:
            if constexpr (sizeof(T) == 4) return attention_fwd<KernelTraits<T, 32, BM, BN>>(p);
            break;
        case 64: return attention_fwd<KernelTraits<T, 64, BM, BN>>(p);
        case 128: return attention_fwd<KernelTraits<T, 128, BM, BN>>(p);
    }
    return attention_fwd<KernelTraits<T, 0, BM, BN>>(p);
}

/** The backward on BM x BN tiles, by head dim (as fwd_tiles). */
template <class T, int BM, int BN> static bool bwd_tiles(const ps_attn_bwd_params& p) {
    switch (p.fwd.head_dim) {
        case 32:
            if constexpr (sizeof(T) == 4) return attention_bwd<KernelTraits<T, 32, BM, BN>>(p);
            break;
        case 64: return attention_bwd<KernelTraits<T, 64, BM, BN>>(p);
        case 128: return attention_bwd<KernelTraits<T, 128, BM, BN>>(p);
    }
    return attention_bwd<KernelTraits<T, 0, BM, BN>>(p);
}

static TileShape tiles_of(const ps_attn_fwd_params& p) {
    return p.dtype == PS_FLOAT32 ? choose_tiles(p.node, p.subtree_end, p.batch, p.seqlen) : TileShape::LARGE;
}

bool attention_fwd_dispatch(const ps_attn_fwd_params& p) {
    if (p.dtype != PS_FLOAT32) return fwd_tiles<double, kFwdBlockM, kFwdBlockN>(p);
    switch (tiles_of(p)) {
        case TileShape::TINY: return fwd_tiles<float, kTinyBlock, kTinyBlock>(p);
        case TileShape::SMALL: return fwd_tiles<float, kSmallBlock, kSmallBlock>(p);
        default: return fwd_tiles<float, kFwdBlockM, kFwdBlockN>(p);
    }
}

bool attention_bwd_dispatch(const ps_attn_bwd_params& p) {
    if (p.fwd.dtype != PS_FLOAT32) return bwd_tiles<double, kBwdBlockM, kBwdBlockN>(p);
    switch (tiles_of(p.fwd)) {
        case TileShape::TINY: return bwd_tiles<float, kTinyBlock, kTinyBlock>(p);
        case TileShape::SMALL: return bwd_tiles<float, kSmallBlock, kSmallBlock>(p);
        default: return bwd_tiles<float, kBwdBlockM, kBwdBlockN>(p);
    }
}

}  // namespace cpu
}  // namespace ps
