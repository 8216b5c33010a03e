// Internal entry points of the CPU kernels (arguments already validated by api.cpp).
#ifndef PREFIXSHARE_CPU_ATTENTION_CPU_H
#define PREFIXSHARE_CPU_ATTENTION_CPU_H

#include <stdint.h>

#include <vector>

#include "common/mask.h"
#include "prefixshare/params.h"

namespace ps {
namespace cpu {

/**
 * Tile shapes of the float32 kernels (attention_cpu.cpp instantiates them; choose_tiles weighs them): forward
 * kFwdBlockM x kFwdBlockN, backward kBwdBlockM x kBwdBlockN, and square kSmallBlock or kTinyBlock tiles in both passes
 * for batches of short documents. float64 uses the large shapes.
 */
constexpr int32_t kFwdBlockM = 128, kFwdBlockN = 64, kBwdBlockM = 64, kBwdBlockN = 64, kSmallBlock = 32,
                  kTinyBlock = 16;

/**
 * Score elements a kernel with BM x BN tiles computes over a batch: BM x BN for every (query tile, key tile) pair of
 * a row that is not EMPTY under the ancestor rule (common/mask.h), up to the query tile's last key tile.
 */
inline double tiled_area(const int32_t* node, const int32_t* end, int64_t batch, int32_t seqlen, int32_t bm, int32_t bn) {
    const int32_t nq = (seqlen + bm - 1) / bm, nk = (seqlen + bn - 1) / bn;
    double area = 0;
    std::vector<TileSummary> ks(nk > 0 ? nk : 1);
    for (int64_t b = 0; b < batch; ++b) {
        const int32_t* n = node + b * seqlen;
        const int32_t* e = end + b * seqlen;
        for (int32_t t = 0; t < nk; ++t) ks[t] = summarize_tile(n, e, seqlen, bn, t);
        for (int32_t qt = 0; qt < nq; ++qt) {
            const TileSummary qs = summarize_tile(n, e, seqlen, bm, qt);
            const int32_t last = qs.last / bn < nk - 1 ? qs.last / bn : nk - 1;
            for (int32_t kt = 0; kt <= last; ++kt)
                if (classify_tile(qs, ks[kt]) != TILE_EMPTY) area += static_cast<double>(bm) * bn;
        }
    }
    return area;
}

/**
 * How much more a score element costs on 32 x 32 tiles than on the large ones (per-tile overhead: packing K and V,
 * softmax bookkeeping, shorter micro-kernel runs). Measured on 2026-12-06 (one and two threads, forward + backward
 * timed in turns in one process, D = 32 / 64 / 128): where the large tiles computed 1.25x the elements of the small
 * ones (large = forward 128 x 64 plus twice backward 64 x 64, small = three times 32 x 32), the two ran within
 * +-5%; packed training rows of 40-260-token documents (1.4-2.9x) ran 10-30% faster on 32 x 32; tile-aligned
 * 256-2048-token documents and long causal rows (1.05-1.25x) 3-10% slower.
 */
constexpr double kSmallTileCost = 1.3;

/**
 * The same for 16 x 16 tiles. Measured on 2026-12-07 (one thread, forward + backward of the bench's packed
 * UltraFeedback rows, 32 x 32 and 16 x 16 builds timed in turns): 16 x 16 computed 0.69x the elements of 32 x 32
 * and took 0.84-0.86x the time, 1.24x the cost of a 32 x 32 element.
 */
constexpr double kTinyTileCost = kSmallTileCost * 1.24;

/** The tile shapes of the float32 kernels. */
enum class TileShape { LARGE, SMALL, TINY };

/**
 * The float32 kernels' tiles for a batch: the shape with the least weighted work, the score elements each would
 * compute (tiled_area; the backward's tiles count twice) times its per-element cost (kSmallTileCost,
 * kTinyTileCost). Short documents that do not line up with the large tiles are what makes the smaller ones win.
 */
inline TileShape choose_tiles(const int32_t* node, const int32_t* end, int64_t batch, int32_t seqlen) {
    const double large = tiled_area(node, end, batch, seqlen, kFwdBlockM, kFwdBlockN) +
                         2 * tiled_area(node, end, batch, seqlen, kBwdBlockM, kBwdBlockN);
    const double small = kSmallTileCost * 3 * tiled_area(node, end, batch, seqlen, kSmallBlock, kSmallBlock);
    const double tiny = kTinyTileCost * 3 * tiled_area(node, end, batch, seqlen, kTinyBlock, kTinyBlock);
    if (large <= small && large <= tiny) return TileShape::LARGE;
    return small <= tiny ? TileShape::SMALL : TileShape::TINY;
}

/** Name of a tile shape (tests, logs). */
inline const char* tile_shape_name(TileShape s) {
    return s == TileShape::LARGE ? "large" : s == TileShape::SMALL ? "small" : "tiny";
}

/** Return false only when scratch memory could not be allocated. */
bool attention_fwd_dispatch(const ps_attn_fwd_params& p);
bool attention_bwd_dispatch(const ps_attn_bwd_params& p);

}  // namespace cpu
}  // namespace ps

#endif
