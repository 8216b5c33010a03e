// C = op(A) op(B) on the 6 x 2-vector micro-kernel of kernel_traits.h (the one the attention tiles use).
//
// B is packed once per call into column panels [panel][K][NR] (NR = two vectors, zero padded past N), shared by
// all threads; then one task per (block of kMc rows, group of kPanels panels) walks K in blocks of kKc, so a panel's
// depth block (kKc x NR, 16 KiB in float) stays in L1 while the task's rows stream over it, and the task's A block
// stays in L2 across its panels. Each panel product is kernel_traits.h's tile_gemm; the last panel, when N is not a
// multiple of NR, goes through a kMc x NR scratch tile so nothing is written past column N.
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

template <class T>
void gemm_t(int64_t M, int64_t N, int64_t K, const T* A, int64_t ars, int64_t acs, const T* B, int64_t brs,
            int64_t bcs, T* C, int64_t ldc, bool accumulate, int32_t num_threads) {
    constexpr int NR = 2 * Simd<T>::W;
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {  // an empty sum
        if (!accumulate)
            for (int64_t i = 0; i < M; ++i) std::fill(C + i * ldc, C + i * ldc + N, T(0));
        return;
    }
    const int64_t np = (N + NR - 1) / NR;
    const int64_t nmb = (M + kMc - 1) / kMc, npg = (np + kPanels - 1) / kPanels;
    // Kept per calling thread across calls: fresh pages cost ~0.8 ms/MB to fault in on the machines we measured.
    static thread_local AlignedBuf<T> packed;
    packed.reserve((size_t)(np * K * NR));
    T* bp = packed.data();
    const int nt = M * N * K < kParallelMinFma ? 1 : (num_threads > 0 ? num_threads : omp_get_max_threads());

#pragma omp parallel num_threads(nt)
    {
#pragma omp for schedule(static)
        for (int64_t p = 0; p < np; ++p) {
            T* dst = bp + p * K * NR;
            const int64_t n0 = p * NR, nn = std::min<int64_t>(NR, N - n0);
            for (int64_t k = 0; k < K; ++k, dst += NR) {
                const T* src = B + k * brs + n0 * bcs;
                int64_t j = 0;
                if (bcs == 1)
                    for (; j < nn; ++j) dst[j] = src[j];
                else
                    for (; j < nn; ++j) dst[j] = src[j * bcs];
                for (; j < NR; ++j) dst[j] = T(0);
            }
        }  // implicit barrier: the panels are ready

#pragma omp for schedule(dynamic, 1)
        for (int64_t task = 0; task < nmb * npg; ++task) {
            const int64_t i_begin = (task / npg) * kMc, i_end = std::min(M, i_begin + kMc);
            const int64_t p_begin = (task % npg) * kPanels, p_end = std::min(np, p_begin + kPanels);
            const int64_t rows = i_end - i_begin;
            alignas(64) T edge[kMc * NR];
            for (int64_t k0 = 0; k0 < K; k0 += kKc) {
                const int64_t kc = std::min(kKc, K - k0);
                const bool acc = accumulate || k0 > 0;
                const T* a = A + i_begin * ars + k0 * acs;
                for (int64_t p = p_begin; p < p_end; ++p) {
                    const T* b = bp + (p * K + k0) * NR;
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
        }
    }
}

}  // namespace

void gemm(ps_dtype dt, int64_t M, int64_t N, int64_t K, const void* a, int64_t a_rs, int64_t a_cs, const void* b,
          int64_t b_rs, int64_t b_cs, void* c, int64_t ldc, bool accumulate, int32_t num_threads) {
    if (dt == PS_FLOAT32)
        gemm_t<float>(M, N, K, static_cast<const float*>(a), a_rs, a_cs, static_cast<const float*>(b), b_rs, b_cs,
                      static_cast<float*>(c), ldc, accumulate, num_threads);
    else
        gemm_t<double>(M, N, K, static_cast<const double*>(a), a_rs, a_cs, static_cast<const double*>(b), b_rs, b_cs,
                       static_cast<double*>(c), ldc, accumulate, num_threads);
}

}  // namespace cpu
}  // namespace ps
