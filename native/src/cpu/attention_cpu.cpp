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
// Short documents that do not line up with the large tiles (attention_cpu.h, prefer_small_tiles): 32 x 32 tiles
// forward and backward, float32.
using FwdF32  = KernelTraits<float, 32, kFwdBlockM, kFwdBlockN>;
using FwdF64  = KernelTraits<float, 64, kFwdBlockM, kFwdBlockN>;
using FwdF128 = KernelTraits<float, 128, kFwdBlockM, kFwdBlockN>;
using FwdFAny = KernelTraits<float, 0, kFwdBlockM, kFwdBlockN>;
using FwdD64  = KernelTraits<double, 64, kFwdBlockM, kFwdBlockN>;
using FwdD128 = KernelTraits<double, 128, kFwdBlockM, kFwdBlockN>;
using FwdDAny = KernelTraits<double, 0, kFwdBlockM, kFwdBlockN>;
using FwdS32  = KernelTraits<float, 32, kSmallBlock, kSmallBlock>;
using FwdS64  = KernelTraits<float, 64, kSmallBlock, kSmallBlock>;
using FwdS128 = KernelTraits<float, 128, kSmallBlock, kSmallBlock>;
using FwdSAny = KernelTraits<float, 0, kSmallBlock, kSmallBlock>;

// Backward tiles: BlockM=64 query rows, BlockN=64 keys (one task per key tile: 64 keys give T/64 tasks per
// (batch, kv head), enough to balance 2..16 threads at T >= 1024). Measured, T=2048 causal float32 D=64, min of 9:
//   64x64: 179 GFLOP/s, 128x64: 125 GFLOP/s (noisy machine; 64x64 also halves the per-thread tile scratch).
using BwdF32  = KernelTraits<float, 32, kBwdBlockM, kBwdBlockN>;
using BwdF64  = KernelTraits<float, 64, kBwdBlockM, kBwdBlockN>;
using BwdF128 = KernelTraits<float, 128, kBwdBlockM, kBwdBlockN>;
using BwdFAny = KernelTraits<float, 0, kBwdBlockM, kBwdBlockN>;
using BwdD64  = KernelTraits<double, 64, kBwdBlockM, kBwdBlockN>;
using BwdD128 = KernelTraits<double, 128, kBwdBlockM, kBwdBlockN>;
using BwdDAny = KernelTraits<double, 0, kBwdBlockM, kBwdBlockN>;
using BwdS32  = KernelTraits<float, 32, kSmallBlock, kSmallBlock>;
using BwdS64  = KernelTraits<float, 64, kSmallBlock, kSmallBlock>;
using BwdS128 = KernelTraits<float, 128, kSmallBlock, kSmallBlock>;
using BwdSAny = KernelTraits<float, 0, kSmallBlock, kSmallBlock>;

/** Whether the batch of p runs on the 32 x 32 tiles. */
static bool use_small_tiles(const ps_attn_fwd_params& p) {
    return prefer_small_tiles(p.node, p.subtree_end, p.batch, p.seqlen);
}

bool attention_fwd_dispatch(const ps_attn_fwd_params& p) {
    if (p.dtype == PS_FLOAT32 && use_small_tiles(p)) {
        switch (p.head_dim) {
            case 32: return attention_fwd<FwdS32>(p);
            case 64: return attention_fwd<FwdS64>(p);
            case 128: return attention_fwd<FwdS128>(p);
            default: return attention_fwd<FwdSAny>(p);
        }
    }
    if (p.dtype == PS_FLOAT32) {
        switch (p.head_dim) {
            case 32: return attention_fwd<FwdF32>(p);
            case 64: return attention_fwd<FwdF64>(p);
            case 128: return attention_fwd<FwdF128>(p);
            default: return attention_fwd<FwdFAny>(p);
        }
    }
    switch (p.head_dim) {
        case 64: return attention_fwd<FwdD64>(p);
        case 128: return attention_fwd<FwdD128>(p);
        default: return attention_fwd<FwdDAny>(p);
    }
}

bool attention_bwd_dispatch(const ps_attn_bwd_params& p) {
    if (p.fwd.dtype == PS_FLOAT32 && use_small_tiles(p.fwd)) {
        switch (p.fwd.head_dim) {
            case 32: return attention_bwd<BwdS32>(p);
            case 64: return attention_bwd<BwdS64>(p);
            case 128: return attention_bwd<BwdS128>(p);
            default: return attention_bwd<BwdSAny>(p);
        }
    }
    if (p.fwd.dtype == PS_FLOAT32) {
        switch (p.fwd.head_dim) {
            case 32: return attention_bwd<BwdF32>(p);
            case 64: return attention_bwd<BwdF64>(p);
            case 128: return attention_bwd<BwdF128>(p);
            default: return attention_bwd<BwdFAny>(p);
        }
    }
    switch (p.fwd.head_dim) {
        case 64: return attention_bwd<BwdD64>(p);
        case 128: return attention_bwd<BwdD128>(p);
        default: return attention_bwd<BwdDAny>(p);
    }
}

}  // namespace cpu
}  // namespace ps
