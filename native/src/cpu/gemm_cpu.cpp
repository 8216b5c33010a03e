// C = op(A) op(B) on the 6 x 2-vector micro-kernel of kernel_traits.h (the one the attention tiles use).
//
// B is packed into column panels [panel][K][NR] (NR = two vectors, zero padded past N), shared by all threads, a
// chunk of panels at a time (kPackBudgetBytes); then one task per (block of kMc rows, group of kPanels panels of the
// chunk) walks K in blocks of kKc, so a panel's depth block (kKc x NR, 16 KiB in float) stays in L1 while the task's
// rows stream over it, and the task's A block stays in L2 across its panels. Each panel product is kernel_traits.h's
// tile_gemm; the last panel, when N is not a multiple of NR, goes through a kMc x NR scratch tile so nothing is
// written past column N. Chunking only reorders tasks: every C element sees the same products in the same k order.
//
// B may be stored in bfloat16 when A and C are float: the frozen base weights of a LoRA model stay 2 bytes a
// parameter, and the packing step widens them to float32 (exactly), so the arithmetic is the float32 product's.
#include "cpu/gemm_cpu.h"

#include <omp.h>

#include <algorithm>

#include "cpu/kernel_traits.h"

namespace ps {
namespace cpu {
namespace {

constexpr int64_t kKc = 256;     // depth block
constexpr int64_t kMc = 72;      // rows per task (12 micro-tiles of 6)
constexpr int64_t kPanels = 4;   // column panels per task
/** Below this many multiply-adds a call runs on the calling thread (a team wake-up costs ~10-50 us). */
constexpr int64_t kParallelMinFma = int64_t(1) << 18;
/**
 * Packed B is produced and consumed a chunk of panels at a time, so the scratch stays bounded (a 7B gate_proj packed
 * whole would be 235 MB of float per calling thread; an LM head of 152k x 3.5k, 2.2 GB) and a chunk is still in the
 * last-level cache when the row blocks read it. The bench model's B (K, N <= 352) is one chunk, as before. Measured
 * (ps_gemm_test --perf 512 14336 4096, GFLOP per CPU-second on a loaded 2-core Zen4, two interleaved runs): y = x W^T
 * 87/72 at 1 MiB, 78/67 at 4 MiB, 73/61 at 16 MiB, 65/71 whole; dx = dy W 69/64, 62/66, 59/66, 70/61: no cost
 * within the noise, so the bound is chosen for memory.
 */
constexpr int64_t kPackBudgetBytes = int64_t(4) << 20;
/** A chunk holds at least this many tasks per thread (whole panel groups), so short-M calls keep every core busy. */
constexpr int64_t kMinTasksPerThread = 4;

/** One panel: C[rows x NR] (+)= A[rows x k] B[k x NR] through tile_gemm (6-row micro-tiles, then the tail). */
template <class T>
inline void panel_product(bool acc, int64_t rows, int64_t k, const T* a, int64_t ars, int64_t acs, const T* b, T* c,
                          int64_t ldc) {
    constexpr int NR = 2 * Simd<T>::W;
    if (acc)
        tile_gemm<T, 0, true>((int)rows, NR, (int)k, a, ars, acs, b, NR, c, ldc);
    else
        tile_gemm<T, 0, false>((int)rows, NR, (int)k, a, ars, acs, b, NR, c, ldc);
}

/**
 * One column panel: dst[k * NR + j] = B(k, j) widened to T, for k < K and j < nn; zero for nn <= j < NR. B(k, j) at
 * b[k*brs + j*bcs], b pointing at the panel's first column. Three layouts:
 *  - rows of B contiguous (bcs == 1; x W and dy W in HF's [out, in] layout): vector copies;
 *  - columns contiguous (brs == 1; x W^T, each panel column is a row of W): W rows of the panel at a time, read
 *    along k a cache line each and transposed in W x W register blocks. Round 1 gathered one element from each of
 *    the 16 rows per k: packing a 4096 x 4096 W^T took 14-23 ms of one core, this 7.5-8.6 (bf16: 15-16 -> 6);
 *    4096 x 14336: 50-70 -> 27-31 (bf16: 65-69 -> 19-22);
 *  - anything else element by element.
 */
template <class T, class TB>
void pack_panel(const TB* b, int64_t brs, int64_t bcs, int64_t K, int64_t nn, T* __restrict dst) {
    using V = Simd<T>;
    constexpr int W = V::W, NR = 2 * W;
    if (bcs == 1 && nn == NR) {
        for (int64_t k = 0; k < K; ++k) {
            V::store(dst + k * NR, load_widened(b + k * brs));
            V::store(dst + k * NR + W, load_widened(b + k * brs + W));
        }
        return;
    }
    if (brs == 1 && bcs != 1) {
        constexpr int64_t KL = 64 / (int64_t)sizeof(TB);  // elements of one cache line (a multiple of W)
        const int64_t nw = nn / W * W, kl = K / KL * KL;
        for (int64_t j0 = 0; j0 < nw; j0 += W) {
            const TB* rows = b + j0 * bcs;  // W rows of W^T's source, each contiguous along k
            for (int64_t k0 = 0; k0 < kl; k0 += KL) {
#pragma GCC unroll 4
                for (int64_t kk = 0; kk < KL; kk += W) {
                    typename V::reg r[W];
                    for (int i = 0; i < W; ++i) r[i] = load_widened(rows + i * bcs + k0 + kk);
                    V::transpose(r);
                    for (int i = 0; i < W; ++i) V::store(dst + (k0 + kk + i) * NR + j0, r[i]);
                }
            }
            for (int i = 0; i < W; ++i)
                for (int64_t k = kl; k < K; ++k) dst[k * NR + j0 + i] = (T)widen(rows[i * bcs + k]);
        }
        for (int64_t j = nw; j < nn; ++j)
            for (int64_t k = 0; k < K; ++k) dst[k * NR + j] = (T)widen(b[j * bcs + k]);
        for (int64_t j = nn; j < NR; ++j)
            for (int64_t k = 0; k < K; ++k) dst[k * NR + j] = T(0);
        return;
    }
    for (int64_t k = 0; k < K; ++k) {
        const TB* src = b + k * brs;
        int64_t j = 0;
        for (; j < nn; ++j) dst[k * NR + j] = (T)widen(src[j * bcs]);
        for (; j < NR; ++j) dst[k * NR + j] = T(0);
    }
}

/** Panels [p0, p1) of B into dst (panel p0 first); call from inside a parallel region (a work-shared loop). */
template <class T, class TB>
inline void pack_panels(const TB* B, int64_t brs, int64_t bcs, int64_t N, int64_t K, int64_t p0, int64_t p1,
                        T* dst) {
    constexpr int NR = 2 * Simd<T>::W;
#pragma omp for schedule(static)
    for (int64_t p = p0; p < p1; ++p) {
        const int64_t n0 = p * NR;
        pack_panel(B + n0 * bcs, brs, bcs, K, std::min<int64_t>(NR, N - n0), dst + (p - p0) * K * NR);
    }
}

int team(int64_t work_fma, int32_t num_threads) {
    return work_fma < kParallelMinFma ? 1 : (num_threads > 0 ? num_threads : omp_get_max_threads());
}

template <class T, class TB>
void gemm_t(int64_t M, int64_t N, int64_t K, const T* A, int64_t ars, int64_t acs, const TB* B, int64_t brs,
            int64_t bcs, T* C, int64_t ldc, bool accumulate, int32_t num_threads) {
    constexpr int NR = 2 * Simd<T>::W;
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {  // an empty sum
        if (!accumulate)
            for (int64_t i = 0; i < M; ++i) std::fill(C + i * ldc, C + i * ldc + N, T(0));
        return;
    }
    const int64_t np = (N + NR - 1) / NR;
    const int64_t nmb = (M + kMc - 1) / kMc;
    const int nt = team(M * N * K, num_threads);
    // panels per chunk: the budget, but whole panel groups and enough tasks for the team
    const int64_t budget_panels = std::max<int64_t>(1, kPackBudgetBytes / (K * NR * (int64_t)sizeof(T)));
    const int64_t min_groups = (kMinTasksPerThread * nt + nmb - 1) / nmb;
    int64_t cp = std::max(budget_panels, min_groups * kPanels);
    cp = std::min(np, (cp + kPanels - 1) / kPanels * kPanels);
    // Kept per calling thread across calls: fresh pages cost ~0.8 ms/MB to fault in on the machines we measured.
    static thread_local AlignedBuf<T> packed;
    packed.reserve((size_t)(cp * K * NR));
    T* bp = packed.data();

#pragma omp parallel num_threads(nt)
    for (int64_t c0 = 0; c0 < np; c0 += cp) {
        const int64_t c1 = std::min(np, c0 + cp);
        const int64_t npg = (c1 - c0 + kPanels - 1) / kPanels;
        pack_panels(B, brs, bcs, N, K, c0, c1, bp);  // implicit barrier: the chunk's panels are ready

#pragma omp for schedule(dynamic, 1)
        for (int64_t task = 0; task < nmb * npg; ++task) {
            const int64_t i_begin = (task / npg) * kMc, i_end = std::min(M, i_begin + kMc);
            const int64_t p_begin = c0 + (task % npg) * kPanels, p_end = std::min(c1, p_begin + kPanels);
            const int64_t rows = i_end - i_begin;
            alignas(64) T edge[kMc * NR];
            for (int64_t k0 = 0; k0 < K; k0 += kKc) {
                const int64_t kc = std::min(kKc, K - k0);
                const bool acc = accumulate || k0 > 0;
                const T* a = A + i_begin * ars + k0 * acs;
                for (int64_t p = p_begin; p < p_end; ++p) {
                    const T* b = bp + ((p - c0) * K + k0) * NR;
                    const int64_t n0 = p * NR, nn = std::min<int64_t>(NR, N - n0);
                    T* c = C + i_begin * ldc + n0;
                    if (nn == NR) {
                        panel_product(acc, rows, kc, a, ars, acs, b, c, ldc);
                        continue;
                    }
                    for (int64_t r = 0; r < rows; ++r)
                        for (int64_t j = 0; j < NR; ++j) edge[r * NR + j] = acc && j < nn ? c[r * ldc + j] : T(0);
                    panel_product(acc, rows, kc, a, ars, acs, b, edge, NR);
                    for (int64_t r = 0; r < rows; ++r) std::copy(edge + r * NR, edge + r * NR + nn, c + r * ldc);
                }
            }
        }  // implicit barrier: the chunk's panels may be overwritten
    }
}

template <class T, class TB>
void pack_t(int64_t N, int64_t K, const TB* B, int64_t brs, int64_t bcs, T* dst, int32_t num_threads) {
    constexpr int NR = 2 * Simd<T>::W;
    const int64_t np = (N + NR - 1) / NR;
#pragma omp parallel num_threads(team(N * K * kMc, num_threads))
    pack_panels(B, brs, bcs, N, K, 0, np, dst);
}

}  // namespace

void gemm(ps_dtype dt, ps_dtype b_dt, int64_t M, int64_t N, int64_t K, const void* a, int64_t a_rs, int64_t a_cs,
          const void* b, int64_t b_rs, int64_t b_cs, void* c, int64_t ldc, bool accumulate, int32_t num_threads) {
    if (dt == PS_FLOAT64)
        gemm_t<double, double>(M, N, K, static_cast<const double*>(a), a_rs, a_cs, static_cast<const double*>(b),
                               b_rs, b_cs, static_cast<double*>(c), ldc, accumulate, num_threads);
    else if (b_dt == PS_BFLOAT16)
        gemm_t<float, Bf16>(M, N, K, static_cast<const float*>(a), a_rs, a_cs, static_cast<const Bf16*>(b), b_rs,
                            b_cs, static_cast<float*>(c), ldc, accumulate, num_threads);
    else
        gemm_t<float, float>(M, N, K, static_cast<const float*>(a), a_rs, a_cs, static_cast<const float*>(b), b_rs,
                             b_cs, static_cast<float*>(c), ldc, accumulate, num_threads);
}

void gemm_pack_b(ps_dtype dt, ps_dtype b_dt, int64_t N, int64_t K, const void* b, int64_t b_rs, int64_t b_cs,
                 void* dst, int32_t num_threads) {
    if (dt == PS_FLOAT64)
        pack_t(N, K, static_cast<const double*>(b), b_rs, b_cs, static_cast<double*>(dst), num_threads);
    else if (b_dt == PS_BFLOAT16)
        pack_t(N, K, static_cast<const Bf16*>(b), b_rs, b_cs, static_cast<float*>(dst), num_threads);
    else
        pack_t(N, K, static_cast<const float*>(b), b_rs, b_cs, static_cast<float*>(dst), num_threads);
}

}  // namespace cpu
}  // namespace ps
