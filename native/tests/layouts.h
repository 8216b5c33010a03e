// Row layouts (node / subtree_end) of the test harnesses: random documents, hand-made blind rows, and the
// causal / pair / packed layouts of the benchmarks. Shared by test_harness.cpp and cuda_harness.cu.
#ifndef PREFIXSHARE_TESTS_LAYOUTS_H
#define PREFIXSHARE_TESTS_LAYOUTS_H

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

namespace ps_test {

// ---------------------------------------------------------------------------------------------------------------
// Row layouts
// ---------------------------------------------------------------------------------------------------------------

struct Layout {
    int B = 0, T = 0;
    std::vector<int32_t> node, end;  // [B][T]
};

/** One document: prompt (node n0, subtree_end n0+R) then R responses (node = subtree_end = n0+r). */
inline int put_document(int32_t* node, int32_t* end, int pos, int prompt, const std::vector<int>& resp, int n0) {
    const int R = (int)resp.size();
    for (int i = 0; i < prompt; ++i, ++pos) node[pos] = n0, end[pos] = n0 + R;
    for (int r = 0; r < R; ++r)
        for (int i = 0; i < resp[r]; ++i, ++pos) node[pos] = n0 + 1 + r, end[pos] = n0 + 1 + r;
    return pos;
}

/** Random documents packed in each row (prompts of length 0, 1 or more; 2-4 branches), padding as its own node. */
inline Layout random_layout(std::mt19937_64& rng, int B, int T) {
    Layout L;
    L.B = B, L.T = T;
    L.node.assign((size_t)B * T, 0);
    L.end.assign((size_t)B * T, 0);
    for (int b = 0; b < B; ++b) {
        int32_t* node = &L.node[(size_t)b * T];
        int32_t* end = &L.end[(size_t)b * T];
        int pos = 0, n0 = 0;
        for (int doc = 0; pos < T; ++doc) {
            const int kind = (int)(rng() % 4);
            int prompt = kind == 0 ? 0 : kind == 1 ? 1 : 1 + (int)(rng() % (T / 4 + 1));
            const int R = 2 + (int)(rng() % 3);
            std::vector<int> resp(R);
            int total = prompt;
            for (int r = 0; r < R; ++r) total += resp[r] = 1 + (int)(rng() % (T / 8 + 1));
            if (pos + total > T) {
                if (doc > 0 && rng() % 2) break;  // leave the rest as padding
                // shrink to fit
                int room = T - pos;
                prompt = std::min(prompt, room / 3);
                room -= prompt;
                for (int r = 0; r < R; ++r) {
                    resp[r] = std::min(resp[r], std::max(0, room - (R - 1 - r)));
                    room -= resp[r];
                }
            }
            pos = put_document(node, end, pos, prompt, resp, n0);
            n0 += R + 1;
        }
        for (; pos < T; ++pos) node[pos] = n0, end[pos] = n0;  // padding: its own node
    }
    return L;
}

/** Hand-made row 0: the first `blind` queries see no key at all (subtree_end < node), the rest is one document. */
inline void make_blind_rows(Layout& L, int blind) {
    int32_t* node = &L.node[0];
    int32_t* end = &L.end[0];
    for (int i = 0; i < blind; ++i) node[i] = i + 1, end[i] = i;
    const int n0 = blind + 1, rest = L.T - blind, prompt = rest / 2;
    std::vector<int> resp = {rest / 4, rest - prompt - rest / 4};
    put_document(node, end, blind, prompt, resp, n0);
}

/**
 * Random N-way trees packed in each row: pre-order node ids, each node a run of 0.. tokens (an empty inner node is
 * legal: its descendants still see its ancestors), 1-4 children per inner node, depth up to max_depth. Trees follow
 * each other until the row is full; a tree cut by the row end simply stops. Rows are either full or end in padding
 * whose every token is a node of its own (as RowAssembler pads).
 */
inline Layout tree_layout(std::mt19937_64& rng, int B, int T, int max_depth = 3) {
    Layout L = {};
    L.B = B, L.T = T;
    L.node.assign((size_t)B * T, 0);
    L.end.assign((size_t)B * T, 0);
    for (int b = 0; b < B; ++b) {
        int32_t* node = &L.node[(size_t)b * T];
        int32_t* end = &L.end[(size_t)b * T];
        int pos = 0, next_id = 0;
        const int pad_from = rng() % 3 == 0 ? T - 1 - (int)(rng() % (T / 5 + 1)) : T;  // a third of rows padded
        // emit(depth): one node and its subtree in pre-order; returns nothing, advances pos and next_id
        auto emit = [&](auto&& self, int depth) -> void {
            if (pos >= pad_from) return;
            const int id = next_id++;
            const bool inner = depth < max_depth && rng() % 3 != 0;
            int len = inner && rng() % 8 == 0 ? 0 : 1 + (int)(rng() % (T / 10 + 1));
            len = std::min(len, pad_from - pos);
            const int start = pos;
            for (int i = 0; i < len; ++i, ++pos) node[pos] = id;
            if (inner) {
                const int children = 1 + (int)(rng() % 4);
                for (int c = 0; c < children; ++c) self(self, depth + 1);
            }
            for (int i = start; i < start + len; ++i) end[i] = next_id - 1;  // the last id of its subtree
        };
        while (pos < pad_from) emit(emit, 0);
        for (int i = pos; i < T; ++i) node[i] = end[i] = next_id + (i - pos);
    }
    return L;
}

inline Layout causal_layout(int B, int T) {
    Layout L;
    L.B = B, L.T = T;
    L.node.assign((size_t)B * T, 0);
    L.end.assign((size_t)B * T, 0);
    return L;
}

/** `groups` documents per row of (prompt 2L, two responses of L), L = T / (4 groups); the rest is padding. */
inline Layout pair_layout(int B, int T, int groups) {
    Layout L = causal_layout(B, T);
    const int len = T / (4 * groups);
    for (int b = 0; b < B; ++b) {
        int pos = 0, n0 = 0;
        for (int g = 0; g < groups; ++g, n0 += 3)
            pos = put_document(&L.node[(size_t)b * T], &L.end[(size_t)b * T], pos, 2 * len, {len, len}, n0);
        for (; pos < T; ++pos) L.node[(size_t)b * T + pos] = n0, L.end[(size_t)b * T + pos] = n0;
    }
    return L;
}

/**
 * Rows of length T packed with examples of a prompt P and two responses C (short documents, as in bench training's
 * packed modes):
 * `shared`: one document per example (prompt node, two response nodes); otherwise paired: prompt + chosen and
 * prompt + rejected as two causal documents. Rows are filled until the next document does not fit; each padding
 * token is a node of its own. `examples` examples in all; B is how many rows that took.
 */
inline Layout training_layout(int T, int P, int C, int examples, bool shared) {
    std::vector<std::vector<int32_t>> nodes, ends;
    int pos = T, n0 = 0;
    auto put = [&](int prompt, std::vector<int> resp) {
        int len = prompt;
        for (int r : resp) len += r;
        if (pos + len > T) {
            nodes.emplace_back(T, 0), ends.emplace_back(T, 0);
            pos = 0, n0 = 0;
        }
        pos = put_document(nodes.back().data(), ends.back().data(), pos, prompt, resp, n0);
        n0 += (int)resp.size() + 1;
        // padding after it, for now: each token a node of its own, as RowAssembler lays it out (padding sees only
        // itself, so it costs the kernels one diagonal tile per padding tile instead of a causal block)
        for (int i = pos; i < T; ++i) nodes.back()[i] = ends.back()[i] = n0 + (i - pos);
    };
    for (int e = 0; e < examples; ++e) {
        if (shared) {
            put(P, {C, C});
        } else {
            put(P + C, {});
            put(P + C, {});
        }
    }
    Layout L;
    L.B = (int)nodes.size(), L.T = T;
    for (size_t b = 0; b < nodes.size(); ++b) {
        L.node.insert(L.node.end(), nodes[b].begin(), nodes[b].end());
        L.end.insert(L.end.end(), ends[b].begin(), ends[b].end());
    }
    return L;
}

}  // namespace ps_test

#endif
