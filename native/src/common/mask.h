// The ancestor mask rule and tile classification, shared by every kernel (CPU and CUDA: PS_HD functions).
//
// Key k is visible to query q iff  k <= q  &&  node[k] <= node[q]  &&  node[q] <= subtree_end[k]:
// the key's node is an ancestor-or-self of the query's node (pre-order numbering: node q lies in k's subtree)
// and the key does not come later in the row. Causal attention is the special case node == subtree_end == 0.
//
// Tile classification (docs/design.md, "The mask rule, and where it lives") needs only per-tile min/max of
// position, node and subtree_end, computed once per (batch row, tile size) by summarize_tiles() and reused by every
// (q, k) tile pair:
//   EMPTY   if minK(k) > maxQ(q) or minK(node) > maxQ(node) or maxK(subtreeEnd) < minQ(node);
//   FULL    if maxK(k) <= minQ(q) and maxK(node) <= minQ(node) and minK(subtreeEnd) >= maxQ(node);
//   PARTIAL otherwise (the kernel evaluates visible() per element).
#ifndef PREFIXSHARE_COMMON_MASK_H
#define PREFIXSHARE_COMMON_MASK_H

#include <stdint.h>

#if defined(__CUDACC__)
#define PS_HD __host__ __device__ __forceinline__
#else
#define PS_HD inline
#endif

namespace ps {

/** The ancestor rule for one (query, key) pair of one batch row. */
PS_HD bool visible(int32_t q, int32_t k, const int32_t* node, const int32_t* subtree_end) {
    const int32_t nq = node[q];
    return k <= q && node[k] <= nq && nq <= subtree_end[k];
}

enum TileKind : uint8_t { TILE_EMPTY = 0, TILE_FULL = 1, TILE_PARTIAL = 2 };

/** Min/max of position, node and subtree_end over the tokens [first, last] of one tile. */
struct TileSummary {
    int32_t first, last;           // positions (token indices) of the tile's first and last real token
    int32_t min_node, max_node;
    int32_t min_end, max_end;
};

PS_HD TileKind classify_tile(const TileSummary& q, const TileSummary& k) {
    if (k.first > q.last || k.min_node > q.max_node || k.max_end < q.min_node) return TILE_EMPTY;
    if (k.last <= q.first && k.max_node <= q.min_node && k.min_end >= q.max_node) return TILE_FULL;
    return TILE_PARTIAL;
}

/**
 * True when the node/subtree part of the rule holds for every (q, k) of the two tiles, so that inside a PARTIAL tile
 * only the position test k <= q remains (the diagonal tiles of a causal run, of a prompt, of a response): kernels
 * then mask a contiguous column range per row instead of evaluating the rule per element.
 */
PS_HD bool tree_full(const TileSummary& q, const TileSummary& k) {
    return k.max_node <= q.min_node && k.min_end >= q.max_node;
}

/**
 * Summaries of the ceil(seqlen / tile) tiles of one batch row (node, subtree_end: that row's [T] arrays).
 * The last tile covers only the real tokens; kernels that pad it mask the padding themselves.
 */
/** Summary of tile t (tokens [t * tile, min((t + 1) * tile, seqlen) - 1]) of one batch row (CPU and CUDA). */
PS_HD TileSummary summarize_tile(const int32_t* node, const int32_t* subtree_end, int32_t seqlen, int32_t tile,
                                 int32_t t) {
    const int32_t lo = t * tile;
    const int32_t hi = (lo + tile < seqlen ? lo + tile : seqlen) - 1;
    TileSummary s{lo, hi, node[lo], node[lo], subtree_end[lo], subtree_end[lo]};
    for (int32_t i = lo + 1; i <= hi; ++i) {
        const int32_t n = node[i], e = subtree_end[i];
        s.min_node = n < s.min_node ? n : s.min_node;
        s.max_node = n > s.max_node ? n : s.max_node;
        s.min_end = e < s.min_end ? e : s.min_end;
        s.max_end = e > s.max_end ? e : s.max_end;
    }
    return s;
}

inline void summarize_tiles(const int32_t* node, const int32_t* subtree_end, int32_t seqlen, int32_t tile,
                            TileSummary* out) {
    const int32_t n_tiles = (seqlen + tile - 1) / tile;
    for (int32_t t = 0; t < n_tiles; ++t) out[t] = summarize_tile(node, subtree_end, seqlen, tile, t);
}

}  // namespace ps

#endif
