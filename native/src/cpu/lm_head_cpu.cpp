// Fused LM head + label log-probabilities on the CPU, forward and backward, without [N, V] logits.
//
// Liger Kernel chunks the tokens: on a GPU the head is cheap to re-read. Here every GEMM call packs its B operand,
// so the loop runs over chunks of the vocabulary instead, with all labelled rows in one block: the head (B of the
// logits product and of dhidden's) is then read and packed once per call, and only hidden (B of dhead's product,
// N x H) is packed again per chunk, which costs 1 / (2 x chunk width) of that product's arithmetic. Row chunks of
// N appear only when N alone would overflow the scratch bound with the narrowest vocabulary chunk.
//
// Forward, per block: logits = hidden head^T (the linear layers' GEMM, so each logit is bit for bit what the
// decomposed linear computes), then per row the running max and sum of exp (online softmax; the sum in double, as the
// label log-prob kernel), and the label's logit when it falls in the chunk. Backward, per block: the logits again,
// overwritten in place by dlogit = dy ([j == label] - exp(logit - lse)), then dhidden (+)= dlogit head and, for a
// trained head, dhead (+)= dlogit^T hidden.
#include "cpu/lm_head_cpu.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/gemm_cpu.h"
#include "cpu/simd.h"

namespace ps {
namespace cpu {
namespace {

/**
 * Bound of the reused logits block. Measured (ps_lm_head_test --perf 2048 512 32000, CPU milliseconds on a
 * loaded 2-core Zen4, forward / backward / backward with a frozen head): 16 MiB 812 / 2773 / 1730, 32 MiB
 * 924 / 2728 / 1702, 64 MiB 905 / 2675 / 1707, 128 MiB 887 / 3593 / 1944; the materialised [N, V] path 927 / 2832.
 * Flat up to 64 MiB, which keeps N = 8,192 float rows in one block at the narrowest vocabulary chunk.
 */
constexpr int64_t kScratchBytes = int64_t(64) << 20;
/** Narrowest vocabulary chunk before rows are split: the GEMM's N per call stays wide enough to run at full rate. */
constexpr int64_t kMinVocabChunk = 2048;
/** Vocabulary chunks are whole GEMM panels (16 floats), so no chunk but the last has a partial panel. */
constexpr int64_t kPanel = 16;
/** Below this many logits a row pass runs on the calling thread (as the row-wise kernels). */
constexpr int64_t kParallelMin = 32768;

inline __m256d lo_pd(__m256 v) { return _mm256_cvtps_pd(_mm256_castps256_ps128(v)); }
inline __m256d hi_pd(__m256 v) { return _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)); }

template <class T> constexpr ps_dtype dtype_of() { return sizeof(T) == 4 ? PS_FLOAT32 : PS_FLOAT64; }
template <class TB> constexpr ps_dtype storage_of() {
    return sizeof(TB) == 2 ? PS_BFLOAT16 : sizeof(TB) == 4 ? PS_FLOAT32 : PS_FLOAT64;
}

int team(int64_t rows, int64_t cols, int32_t requested) {
    if (rows < 2 || rows * cols < kParallelMin) return 1;
    const int64_t nt = requested > 0 ? requested : omp_get_max_threads();
    return (int)std::max<int64_t>(1, std::min<int64_t>(nt, rows));
}

/** Folds a row block x [n] into the running max m and sum s of exp(x - m) (m = -inf, s = 0 before the first). */
void online_softmax(const float* x, int64_t n, double& m, double& s) {
    using V = Simd<float>;
    int64_t j = 0;
    V::reg vmax = V::set1(-INFINITY);
    for (; j + 8 <= n; j += 8) vmax = V::max(vmax, V::load(x + j));
    float cm = V::hmax(vmax);
    for (; j < n; ++j) cm = std::max(cm, x[j]);
    if (cm > m) {
        s *= std::exp(m - (double)cm);  // 0 before the first block (m = -inf)
        m = cm;
    }
    const float mf = (float)m;  // a float: the max of float logits
    const V::reg vm = V::set1(mf);
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    for (j = 0; j + 8 <= n; j += 8) {
        const __m256 e = V::exp(V::sub(V::load(x + j), vm));
        s0 = _mm256_add_pd(s0, lo_pd(e));
        s1 = _mm256_add_pd(s1, hi_pd(e));
    }
    double sum = Simd<double>::hsum(_mm256_add_pd(s0, s1));
    for (; j < n; ++j) sum += std::exp((double)x[j] - m);
    s += sum;
}

void online_softmax(const double* x, int64_t n, double& m, double& s) {
    double cm = -INFINITY;
    for (int64_t j = 0; j < n; ++j) cm = std::max(cm, x[j]);
    if (cm > m) {
        s *= std::exp(m - cm);
        m = cm;
    }
    double sum = 0;
    for (int64_t j = 0; j < n; ++j) sum += std::exp(x[j] - m);
    s += sum;
}

/** x [n] becomes dlogit = -dy exp(x - lse) (the label's entry is set by the caller). */
void scaled_probs(float* x, int64_t n, double lse, double dy) {
    using V = Simd<float>;
    const V::reg vl = V::set1((float)lse), vg = V::set1((float)-dy);
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) V::store(x + j, V::mul(V::exp(V::sub(V::load(x + j), vl)), vg));
    for (; j < n; ++j) x[j] = (float)(-dy * std::exp((double)x[j] - lse));
}

void scaled_probs(double* x, int64_t n, double lse, double dy) {
    for (int64_t j = 0; j < n; ++j) x[j] = -dy * std::exp(x[j] - lse);
}

/** The logits block [rows, vw] of rows r0.. and vocabulary v0..: logits = hidden head^T (head rows v0..v0+vw). */
template <class T, class TB>
void logits_block(const T* hidden, const TB* head, int64_t h, int64_t r0, int64_t rows, int64_t v0, int64_t vw,
                  T* logits, int32_t threads) {
    gemm(dtype_of<T>(), storage_of<TB>(), rows, vw, h, hidden + r0 * h, h, 1, head + v0 * h, 1, h, logits, vw, false,
         threads);
}

/** The block's scratch, kept per calling thread across calls (fresh pages cost ~0.8 ms/MB to fault in). */
template <class T> T* block_scratch(const LmHeadChunks& c) {
    static thread_local AlignedBuf<T> buf;
    buf.reserve((size_t)(c.rows * c.vocab));
    return buf.data();
}

template <class T, class TB>
void fwd_t(const T* hidden, const TB* head, const int32_t* label, T* logp, T* lse, int64_t n, int64_t h, int64_t v,
           LmHeadChunks c, int32_t threads) {
    T* logits = block_scratch<T>(c);
    std::vector<double> m((size_t)c.rows), s((size_t)c.rows), picked((size_t)c.rows);
    for (int64_t r0 = 0; r0 < n; r0 += c.rows) {
        const int64_t rows = std::min(c.rows, n - r0);
        std::fill(m.begin(), m.end(), -INFINITY);
        std::fill(s.begin(), s.end(), 0.0);
        for (int64_t v0 = 0; v0 < v; v0 += c.vocab) {
            const int64_t vw = std::min(c.vocab, v - v0);
            logits_block(hidden, head, h, r0, rows, v0, vw, logits, threads);
#pragma omp parallel for schedule(static) num_threads(team(rows, vw, threads))
            for (int64_t r = 0; r < rows; ++r) {
                const T* row = logits + r * vw;
                online_softmax(row, vw, m[(size_t)r], s[(size_t)r]);
                const int64_t j = label[r0 + r] - v0;
                if (j >= 0 && j < vw) picked[(size_t)r] = (double)row[j];
            }
        }
        for (int64_t r = 0; r < rows; ++r) {
            const double l = m[(size_t)r] + std::log(s[(size_t)r]);
            lse[r0 + r] = (T)l;
            logp[r0 + r] = (T)(picked[(size_t)r] - l);
        }
    }
}

template <class T, class TB>
void bwd_t(const T* hidden, const TB* head, const int32_t* label, const T* lse, const T* dy, T* dhidden, T* dhead,
           int64_t n, int64_t h, int64_t v, bool acc_dhidden, bool acc_dhead, LmHeadChunks c, int32_t threads) {
    if (n == 0) {  // an empty sum
        if (dhead && !acc_dhead) std::fill(dhead, dhead + v * h, T(0));
        return;
    }
    T* dl = block_scratch<T>(c);
    for (int64_t r0 = 0; r0 < n; r0 += c.rows) {
        const int64_t rows = std::min(c.rows, n - r0);
        for (int64_t v0 = 0; v0 < v; v0 += c.vocab) {
            const int64_t vw = std::min(c.vocab, v - v0);
            logits_block(hidden, head, h, r0, rows, v0, vw, dl, threads);
#pragma omp parallel for schedule(static) num_threads(team(rows, vw, threads))
            for (int64_t r = 0; r < rows; ++r) {
                T* row = dl + r * vw;
                const double g = (double)dy[r0 + r], l = (double)lse[r0 + r];
                const int64_t j = label[r0 + r] - v0;
                const double at_label = j >= 0 && j < vw ? g * (1.0 - std::exp((double)row[j] - l)) : 0.0;
                scaled_probs(row, vw, l, g);
                if (j >= 0 && j < vw) row[j] = (T)at_label;
            }
            // dhidden rows (+)= dl [rows, vw] head[v0..v0+vw) [vw, h]: the head chunk read along its rows
            gemm(dtype_of<T>(), storage_of<TB>(), rows, h, vw, dl, vw, 1, head + v0 * h, h, 1, dhidden + r0 * h, h,
                 acc_dhidden || v0 > 0, threads);
            // dhead[v0..v0+vw) (+)= dl^T [vw, rows] hidden rows [rows, h]
            if (dhead)
                gemm(dtype_of<T>(), dtype_of<T>(), vw, h, rows, dl, 1, vw, hidden + r0 * h, h, 1, dhead + v0 * h, h,
                     acc_dhead || r0 > 0, threads);
        }
    }
}

template <class T> const T* cp(const void* p) { return static_cast<const T*>(p); }
template <class T> T* mp(void* p) { return static_cast<T*>(p); }

}  // namespace

LmHeadChunks lm_head_chunks(ps_dtype dt, int64_t n, int64_t v) {
    const int64_t elem = dt == PS_FLOAT64 ? 8 : 4;
    const int64_t cap = std::max<int64_t>(1, kScratchBytes / elem);  // logits in the block
    const int64_t min_vc = std::min(v, kMinVocabChunk);
    const int64_t rows = std::max<int64_t>(1, std::min(std::max<int64_t>(n, 1), cap / min_vc));
    int64_t vocab = std::min(v, std::max(min_vc, cap / rows));
    if (vocab < v) vocab = std::max(kPanel, vocab / kPanel * kPanel);
    return {rows, vocab};
}

int64_t lm_head_scratch_bytes(ps_dtype dt, int64_t n, int64_t v) {
    const LmHeadChunks c = lm_head_chunks(dt, n, v);
    return c.rows * c.vocab * (dt == PS_FLOAT64 ? 8 : 4);
}

void lm_head_logprob_fwd(ps_dtype dt, ps_dtype head_dt, const void* hidden, const void* head, const int32_t* label,
                         void* logp, void* lse, int64_t n, int64_t h, int64_t v, LmHeadChunks c,
                         int32_t num_threads) {
    if (dt == PS_FLOAT64)
        fwd_t(cp<double>(hidden), cp<double>(head), label, mp<double>(logp), mp<double>(lse), n, h, v, c, num_threads);
    else if (head_dt == PS_BFLOAT16)
        fwd_t(cp<float>(hidden), cp<Bf16>(head), label, mp<float>(logp), mp<float>(lse), n, h, v, c, num_threads);
    else
        fwd_t(cp<float>(hidden), cp<float>(head), label, mp<float>(logp), mp<float>(lse), n, h, v, c, num_threads);
}

void lm_head_logprob_bwd(ps_dtype dt, ps_dtype head_dt, const void* hidden, const void* head, const int32_t* label,
                         const void* lse, const void* dy, void* dhidden, void* dhead, int64_t n, int64_t h, int64_t v,
                         bool accumulate_dhidden, bool accumulate_dhead, LmHeadChunks c, int32_t num_threads) {
    if (dt == PS_FLOAT64)
        bwd_t(cp<double>(hidden), cp<double>(head), label, cp<double>(lse), cp<double>(dy), mp<double>(dhidden),
              mp<double>(dhead), n, h, v, accumulate_dhidden, accumulate_dhead, c, num_threads);
    else if (head_dt == PS_BFLOAT16)
        bwd_t(cp<float>(hidden), cp<Bf16>(head), label, cp<float>(lse), cp<float>(dy), mp<float>(dhidden),
              static_cast<float*>(nullptr), n, h, v, accumulate_dhidden, accumulate_dhead, c, num_threads);
    else
        bwd_t(cp<float>(hidden), cp<float>(head), label, cp<float>(lse), cp<float>(dy), mp<float>(dhidden),
              mp<float>(dhead), n, h, v, accumulate_dhidden, accumulate_dhead, c, num_threads);
}

}  // namespace cpu
}  // namespace ps
