// Fused row-wise kernels of the decoder: RMSNorm, rotate-half RoPE and SwiGLU, forward and backward, float and
// double. They replace ND4J's broadcast element-wise ops (and their *_bp ops), which cost more per training step than
// the matmuls. Each kernel streams its rows once (twice for the RMSNorm backward), parallel over contiguous row
// blocks when the call is large enough (kPointwiseParallelMin), else inline.
//
// Precision: row reductions (sum of squares, sum of w dy x) and the RMSNorm weight gradient accumulate in double
// for both element types. The float sigmoid uses the vectorised exp of simd.h (~1.2e-7 relative); double uses
// std::exp. sigmoid(g) = 1 / (1 + exp(-g)) is never NaN for finite g: exp(-g) is 0 (g large) or huge/inf (g very
// negative), giving 1 or 0.
#include "cpu/pointwise_cpu.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/simd.h"

namespace ps {
namespace cpu {
namespace {

/** Threads for a call of rows x cols elements: 1 (inline) below the threshold, never more than rows. */
int team_size(int64_t rows, int64_t cols, int32_t requested) {
    if (rows < 2 || rows * cols < kPointwiseParallelMin) return 1;
    const int64_t nt = requested > 0 ? requested : omp_get_max_threads();
    return (int)std::max<int64_t>(1, std::min<int64_t>(nt, rows));
}

/**
 * Calls f(r0, r1, tid) on contiguous row blocks, one per thread of a team of nt (inline when nt is 1). The split
 * depends only on the team size, so per-thread partial sums are reduced in the same order every time. Returns the
 * team size OpenMP actually gave (<= nt).
 */
template <class F> int for_row_blocks(int64_t rows, int nt, F&& f) {
    if (nt <= 1) {
        f(int64_t{0}, rows, 0);
        return 1;
    }
    int used = 1;
#pragma omp parallel num_threads(nt)
    {
        const int n = omp_get_num_threads(), tid = omp_get_thread_num();
        if (tid == 0) used = n;
        f(rows * tid / n, rows * (tid + 1) / n, tid);
    }
    return used;
}

// ---- double-accumulated reductions -------------------------------------------------------------------------------

inline __m256d lo_pd(__m256 v) { return _mm256_cvtps_pd(_mm256_castps256_ps128(v)); }
inline __m256d hi_pd(__m256 v) { return _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)); }

/** sum_j a[j] b[j], accumulated in double. */
double dot_d(const float* a, const float* b, int64_t n) {
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m256 va = _mm256_loadu_ps(a + j), vb = _mm256_loadu_ps(b + j);
        s0 = _mm256_fmadd_pd(lo_pd(va), lo_pd(vb), s0);
        s1 = _mm256_fmadd_pd(hi_pd(va), hi_pd(vb), s1);
    }
    double s = Simd<double>::hsum(_mm256_add_pd(s0, s1));
    for (; j < n; ++j) s += (double)a[j] * (double)b[j];
    return s;
}

double dot_d(const double* a, const double* b, int64_t n) {
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        s0 = _mm256_fmadd_pd(_mm256_loadu_pd(a + j), _mm256_loadu_pd(b + j), s0);
        s1 = _mm256_fmadd_pd(_mm256_loadu_pd(a + j + 4), _mm256_loadu_pd(b + j + 4), s1);
    }
    double s = Simd<double>::hsum(_mm256_add_pd(s0, s1));
    for (; j < n; ++j) s += a[j] * b[j];
    return s;
}

/** sum_j a[j] b[j] c[j], accumulated in double. */
double dot3_d(const float* a, const float* b, const float* c, int64_t n) {
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m256 va = _mm256_loadu_ps(a + j), vb = _mm256_loadu_ps(b + j), vc = _mm256_loadu_ps(c + j);
        s0 = _mm256_fmadd_pd(_mm256_mul_pd(lo_pd(va), lo_pd(vb)), lo_pd(vc), s0);
        s1 = _mm256_fmadd_pd(_mm256_mul_pd(hi_pd(va), hi_pd(vb)), hi_pd(vc), s1);
    }
    double s = Simd<double>::hsum(_mm256_add_pd(s0, s1));
    for (; j < n; ++j) s += (double)a[j] * (double)b[j] * (double)c[j];
    return s;
}

double dot3_d(const double* a, const double* b, const double* c, int64_t n) {
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        s0 = _mm256_fmadd_pd(_mm256_mul_pd(_mm256_loadu_pd(a + j), _mm256_loadu_pd(b + j)), _mm256_loadu_pd(c + j), s0);
        s1 = _mm256_fmadd_pd(_mm256_mul_pd(_mm256_loadu_pd(a + j + 4), _mm256_loadu_pd(b + j + 4)),
                             _mm256_loadu_pd(c + j + 4), s1);
    }
    double s = Simd<double>::hsum(_mm256_add_pd(s0, s1));
    for (; j < n; ++j) s += a[j] * b[j] * c[j];
    return s;
}

/** acc[j] += (double) dy[j] * ((double) x[j] * r). */
void accumulate_dw(double* __restrict acc, const float* __restrict dy, const float* __restrict x, double r,
                   int64_t n) {
    const __m256d vr = _mm256_set1_pd(r);
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m256 vd = _mm256_loadu_ps(dy + j), vx = _mm256_loadu_ps(x + j);
        _mm256_storeu_pd(acc + j, _mm256_fmadd_pd(lo_pd(vd), _mm256_mul_pd(lo_pd(vx), vr), _mm256_loadu_pd(acc + j)));
        _mm256_storeu_pd(acc + j + 4,
                         _mm256_fmadd_pd(hi_pd(vd), _mm256_mul_pd(hi_pd(vx), vr), _mm256_loadu_pd(acc + j + 4)));
    }
    for (; j < n; ++j) acc[j] += (double)dy[j] * ((double)x[j] * r);
}

void accumulate_dw(double* __restrict acc, const double* __restrict dy, const double* __restrict x, double r,
                   int64_t n) {
    for (int64_t j = 0; j < n; ++j) acc[j] += dy[j] * (x[j] * r);
}

// ---- RMSNorm ----------------------------------------------------------------------------------------------------

template <class T>
void rms_fwd_rows(const T* __restrict x, const T* __restrict w, T* __restrict y, int64_t r0, int64_t r1, int64_t H,
                  double eps) {
    for (int64_t m = r0; m < r1; ++m) {
        const T* __restrict xr = x + m * H;
        T* __restrict yr = y + m * H;
        const T r = (T)(1.0 / std::sqrt(dot_d(xr, xr, H) / (double)H + eps));
        for (int64_t j = 0; j < H; ++j) yr[j] = (xr[j] * r) * w[j];
    }
}

/** dx rows r0..r1 and their dw contribution, added into acc [H] (double). */
template <class T>
void rms_bwd_rows(const T* __restrict x, const T* __restrict w, const T* __restrict dy, T* __restrict dx,
                  double* __restrict acc, int64_t r0, int64_t r1, int64_t H, double eps) {
    for (int64_t m = r0; m < r1; ++m) {
        const T* __restrict xr = x + m * H;
        const T* __restrict dyr = dy + m * H;
        T* __restrict dxr = dx + m * H;
        const double rd = 1.0 / std::sqrt(dot_d(xr, xr, H) / (double)H + eps);
        // dx = r (w dy) - x r^3 mean(w dy x)
        const double cd = rd * rd * rd * (dot3_d(w, dyr, xr, H) / (double)H);
        const T r = (T)rd, c = (T)cd;
        for (int64_t j = 0; j < H; ++j) dxr[j] = r * (w[j] * dyr[j]) - xr[j] * c;
        accumulate_dw(acc, dyr, xr, rd, H);
    }
}

template <class T>
void rms_fwd(const T* x, const T* w, T* y, int64_t rows, int64_t H, double eps, int32_t threads) {
    for_row_blocks(rows, team_size(rows, H, threads),
                   [&](int64_t r0, int64_t r1, int) { rms_fwd_rows(x, w, y, r0, r1, H, eps); });
}

template <class T>
void rms_bwd(const T* x, const T* w, const T* dy, T* dx, T* dw, int64_t rows, int64_t H, double eps,
             int32_t threads) {
    const int nt = team_size(rows, H, threads);
    std::vector<double> acc((size_t)nt * (size_t)H, 0.0);  // one dw partial sum per thread
    const int used = for_row_blocks(rows, nt, [&](int64_t r0, int64_t r1, int tid) {
        rms_bwd_rows(x, w, dy, dx, acc.data() + (size_t)tid * (size_t)H, r0, r1, H, eps);
    });
    for (int64_t j = 0; j < H; ++j) {
        double s = 0;
        for (int t = 0; t < used; ++t) s += acc[(size_t)t * (size_t)H + (size_t)j];
        dw[j] = (T)s;
    }
}

// ---- RoPE -------------------------------------------------------------------------------------------------------

// y[j] = x[j] cos[j] - x[j+h] sin[j] (j < h), y[j+h] = x[j+h] cos[j+h] + x[j] sin[j+h]; h = D/2.
template <class T>
void rope_fwd_rows(const T* __restrict x, const T* __restrict cs, const T* __restrict sn, T* __restrict y,
                   int64_t r0, int64_t r1, int64_t heads, int64_t D) {
    const int64_t half = D / 2;
    for (int64_t m = r0; m < r1; ++m) {
        const T* __restrict c = cs + m * D;
        const T* __restrict s = sn + m * D;
        for (int64_t h = 0; h < heads; ++h) {
            const T* __restrict xa = x + (m * heads + h) * D;
            const T* __restrict xb = xa + half;
            T* __restrict ya = y + (m * heads + h) * D;
            T* __restrict yb = ya + half;
            for (int64_t j = 0; j < half; ++j) ya[j] = xa[j] * c[j] - xb[j] * s[j];
            for (int64_t j = 0; j < half; ++j) yb[j] = xb[j] * c[half + j] + xa[j] * s[half + j];
        }
    }
}

// The transpose: dx[j] = dy[j] cos[j] + dy[j+h] sin[j+h] (j < h), dx[j+h] = dy[j+h] cos[j+h] - dy[j] sin[j].
template <class T>
void rope_bwd_rows(const T* __restrict dy, const T* __restrict cs, const T* __restrict sn, T* __restrict dx,
                   int64_t r0, int64_t r1, int64_t heads, int64_t D) {
    const int64_t half = D / 2;
    for (int64_t m = r0; m < r1; ++m) {
        const T* __restrict c = cs + m * D;
        const T* __restrict s = sn + m * D;
        for (int64_t h = 0; h < heads; ++h) {
            const T* __restrict ga = dy + (m * heads + h) * D;
            const T* __restrict gb = ga + half;
            T* __restrict da = dx + (m * heads + h) * D;
            T* __restrict db = da + half;
            for (int64_t j = 0; j < half; ++j) da[j] = ga[j] * c[j] + gb[j] * s[half + j];
            for (int64_t j = 0; j < half; ++j) db[j] = gb[j] * c[half + j] - ga[j] * s[j];
        }
    }
}

// ---- SwiGLU -----------------------------------------------------------------------------------------------------

inline __m256 sigmoid8(__m256 g) {
    const __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(one, _mm256_add_ps(one, Simd<float>::exp(_mm256_sub_ps(_mm256_setzero_ps(), g))));
}

inline double sigmoid1(double g) { return 1.0 / (1.0 + std::exp(-g)); }

inline __m256 swiglu8(__m256 g, __m256 u) { return _mm256_mul_ps(_mm256_mul_ps(g, sigmoid8(g)), u); }

inline void swiglu_bwd8(__m256 g, __m256 u, __m256 d, __m256& dg, __m256& du) {
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 s = sigmoid8(g);
    du = _mm256_mul_ps(_mm256_mul_ps(d, g), s);
    // dy * up * s * (1 + g (1 - s))
    const __m256 t = _mm256_add_ps(one, _mm256_mul_ps(g, _mm256_sub_ps(one, s)));
    dg = _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(d, u), s), t);
}

/** Elements [b, e) of the flat arrays. The tail (< 8) goes through the same vector code on padded copies. */
void swiglu_fwd_range(const float* g, const float* u, float* y, int64_t b, int64_t e) {
    int64_t i = b;
    for (; i + 8 <= e; i += 8) _mm256_storeu_ps(y + i, swiglu8(_mm256_loadu_ps(g + i), _mm256_loadu_ps(u + i)));
    if (i < e) {
        float tg[8] = {0}, tu[8] = {0}, ty[8];
        std::copy(g + i, g + e, tg), std::copy(u + i, u + e, tu);
        _mm256_storeu_ps(ty, swiglu8(_mm256_loadu_ps(tg), _mm256_loadu_ps(tu)));
        std::copy(ty, ty + (e - i), y + i);
    }
}

void swiglu_fwd_range(const double* g, const double* u, double* y, int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = (g[i] * sigmoid1(g[i])) * u[i];
}

void swiglu_bwd_range(const float* g, const float* u, const float* d, float* dg, float* du, int64_t b, int64_t e) {
    int64_t i = b;
    __m256 vg, vu;
    for (; i + 8 <= e; i += 8) {
        swiglu_bwd8(_mm256_loadu_ps(g + i), _mm256_loadu_ps(u + i), _mm256_loadu_ps(d + i), vg, vu);
        _mm256_storeu_ps(dg + i, vg);
        _mm256_storeu_ps(du + i, vu);
    }
    if (i < e) {
        float tg[8] = {0}, tu[8] = {0}, td[8] = {0}, og[8], ou[8];
        std::copy(g + i, g + e, tg), std::copy(u + i, u + e, tu), std::copy(d + i, d + e, td);
        swiglu_bwd8(_mm256_loadu_ps(tg), _mm256_loadu_ps(tu), _mm256_loadu_ps(td), vg, vu);
        _mm256_storeu_ps(og, vg);
        _mm256_storeu_ps(ou, vu);
        std::copy(og, og + (e - i), dg + i);
        std::copy(ou, ou + (e - i), du + i);
    }
}

void swiglu_bwd_range(const double* g, const double* u, const double* d, double* dg, double* du, int64_t b,
                      int64_t e) {
    for (int64_t i = b; i < e; ++i) {
        const double s = sigmoid1(g[i]);
        du[i] = (d[i] * g[i]) * s;
        dg[i] = ((d[i] * u[i]) * s) * (1.0 + g[i] * (1.0 - s));
    }
}

template <class T> const T* cp(const void* p) { return static_cast<const T*>(p); }
template <class T> T* mp(void* p) { return static_cast<T*>(p); }

}  // namespace

void rms_norm_fwd(ps_dtype dt, const void* x, const void* w, void* y, int64_t rows, int64_t cols, double eps,
                  int32_t num_threads) {
    if (dt == PS_FLOAT32)
        rms_fwd(cp<float>(x), cp<float>(w), mp<float>(y), rows, cols, eps, num_threads);
    else
        rms_fwd(cp<double>(x), cp<double>(w), mp<double>(y), rows, cols, eps, num_threads);
}

void rms_norm_bwd(ps_dtype dt, const void* x, const void* w, const void* dy, void* dx, void* dw, int64_t rows,
                  int64_t cols, double eps, int32_t num_threads) {
    if (dt == PS_FLOAT32)
        rms_bwd(cp<float>(x), cp<float>(w), cp<float>(dy), mp<float>(dx), mp<float>(dw), rows, cols, eps,
                num_threads);
    else
        rms_bwd(cp<double>(x), cp<double>(w), cp<double>(dy), mp<double>(dx), mp<double>(dw), rows, cols, eps,
                num_threads);
}

void rope_fwd(ps_dtype dt, const void* x, const void* cos, const void* sin, void* y, int64_t rows, int32_t heads,
              int32_t head_dim, int32_t num_threads) {
    const int nt = team_size(rows, (int64_t)heads * head_dim, num_threads);
    for_row_blocks(rows, nt, [&](int64_t r0, int64_t r1, int) {
        if (dt == PS_FLOAT32)
            rope_fwd_rows(cp<float>(x), cp<float>(cos), cp<float>(sin), mp<float>(y), r0, r1, heads, head_dim);
        else
            rope_fwd_rows(cp<double>(x), cp<double>(cos), cp<double>(sin), mp<double>(y), r0, r1, heads, head_dim);
    });
}

void rope_bwd(ps_dtype dt, const void* dy, const void* cos, const void* sin, void* dx, int64_t rows, int32_t heads,
              int32_t head_dim, int32_t num_threads) {
    const int nt = team_size(rows, (int64_t)heads * head_dim, num_threads);
    for_row_blocks(rows, nt, [&](int64_t r0, int64_t r1, int) {
        if (dt == PS_FLOAT32)
            rope_bwd_rows(cp<float>(dy), cp<float>(cos), cp<float>(sin), mp<float>(dx), r0, r1, heads, head_dim);
        else
            rope_bwd_rows(cp<double>(dy), cp<double>(cos), cp<double>(sin), mp<double>(dx), r0, r1, heads,
                          head_dim);
    });
}

namespace {

/**
 * libnd4j's adam_updater to the letter (the same expressions in T; AdamWTest finds float results within 1e-6 of
 * ND4J's, float64 within 1e-12): m = b1 m + g (1 - b1), v = b2 v + g g (1 - b2), u = m a / (sqrt(v) + eps) with
 * a = lr sqrt(1 - b2^(t+1)) / (1 - b1^(t+1)) (eps when that is 0 or not finite); then p = p * decay - u, and g = u.
 */
template <class T>
__attribute__((optimize("fp-contract=off")))  // no fused multiply-adds: ND4J rounds each product and sum
void adam_range(T* p, T* g, T* m, T* v, T lr, T b1, T b2, T eps, int32_t iteration, T decay, int64_t b, int64_t e) {
    const T b1t = std::pow(b1, T(iteration + 1)), b2t = std::pow(b2, T(iteration + 1));
    T a = lr * std::sqrt(T(1) - b2t) / (T(1) - b1t);
    if (!std::isfinite(a) || a == T(0)) a = eps;
    for (int64_t i = b; i < e; ++i) {
        const T mi = b1 * m[i] + g[i] * (T(1) - b1);
        const T vi = b2 * v[i] + g[i] * g[i] * (T(1) - b2);
        const T u = (mi * a) / (std::sqrt(vi) + eps);
        m[i] = mi;
        v[i] = vi;
        g[i] = u;
        p[i] = (decay == T(1) ? p[i] : p[i] * decay) - u;
    }
}

}  // namespace

void adam_update(ps_dtype dt, int64_t n, void* param, void* grad, void* m, void* v, double lr, double beta1,
                 double beta2, double eps, int32_t iteration, double decay, int32_t num_threads) {
    for_row_blocks(n, team_size(n, 1, num_threads), [&](int64_t b, int64_t e, int) {
        if (dt == PS_FLOAT32)
            adam_range(mp<float>(param), mp<float>(grad), mp<float>(m), mp<float>(v), (float)lr, (float)beta1,
                       (float)beta2, (float)eps, iteration, (float)decay, b, e);
        else
            adam_range(mp<double>(param), mp<double>(grad), mp<double>(m), mp<double>(v), lr, beta1, beta2, eps,
                       iteration, decay, b, e);
    });
}

void swiglu_fwd(ps_dtype dt, const void* gate, const void* up, void* y, int64_t rows, int64_t cols,
                int32_t num_threads) {
    for_row_blocks(rows, team_size(rows, cols, num_threads), [&](int64_t r0, int64_t r1, int) {
        if (dt == PS_FLOAT32)
            swiglu_fwd_range(cp<float>(gate), cp<float>(up), mp<float>(y), r0 * cols, r1 * cols);
        else
            swiglu_fwd_range(cp<double>(gate), cp<double>(up), mp<double>(y), r0 * cols, r1 * cols);
    });
}

void swiglu_bwd(ps_dtype dt, const void* gate, const void* up, const void* dy, void* dgate, void* dup,
                int64_t rows, int64_t cols, int32_t num_threads) {
    for_row_blocks(rows, team_size(rows, cols, num_threads), [&](int64_t r0, int64_t r1, int) {
        if (dt == PS_FLOAT32)
            swiglu_bwd_range(cp<float>(gate), cp<float>(up), cp<float>(dy), mp<float>(dgate), mp<float>(dup),
                             r0 * cols, r1 * cols);
        else
            swiglu_bwd_range(cp<double>(gate), cp<double>(up), cp<double>(dy), mp<double>(dgate), mp<double>(dup),
                             r0 * cols, r1 * cols);
    });
}

namespace {

// ---- label log-probability (log-softmax read at the label) -----------------------------------------------------

/** A row's max and sum_j exp(x[j] - max), the sum in double: lse = max + log(sum). */
struct RowSoftmax {
    double max, sum;
};

RowSoftmax row_softmax(const float* x, int64_t n) {
    using V = Simd<float>;
    int64_t j = 0;
    V::reg vmax = V::set1(-INFINITY);
    for (; j + 8 <= n; j += 8) vmax = V::max(vmax, V::load(x + j));
    float m = V::hmax(vmax);
    for (; j < n; ++j) m = std::max(m, x[j]);
    const V::reg vm = V::set1(m);
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    for (j = 0; j + 8 <= n; j += 8) {
        const __m256 e = V::exp(V::sub(V::load(x + j), vm));
        s0 = _mm256_add_pd(s0, lo_pd(e));
        s1 = _mm256_add_pd(s1, hi_pd(e));
    }
    double s = Simd<double>::hsum(_mm256_add_pd(s0, s1));
    for (; j < n; ++j) s += std::exp((double)x[j] - (double)m);
    return {(double)m, s};
}

RowSoftmax row_softmax(const double* x, int64_t n) {
    double m = -INFINITY;
    for (int64_t j = 0; j < n; ++j) m = std::max(m, x[j]);
    double s = 0;
    for (int64_t j = 0; j < n; ++j) s += std::exp(x[j] - m);
    return {m, s};
}

template <class T>
void label_logprob_fwd_rows(const T* x, const int32_t* label, T* logp, int64_t cols, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
        const T* row = x + r * cols;
        const RowSoftmax s = row_softmax(row, cols);
        logp[r] = (T)(((double)row[label[r]] - s.max) - std::log(s.sum));
    }
}

/** dx[j] = -dy p[j] off the label and dy (1 - p[label]) at it, p = exp(x - max) / sum. */
void label_logprob_bwd_row(const float* x, int32_t label, double dy, float* dx, int64_t n) {
    using V = Simd<float>;
    const RowSoftmax s = row_softmax(x, n);
    const V::reg vm = V::set1((float)s.max), vscale = V::set1((float)(-dy / s.sum));
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) V::store(dx + j, V::mul(V::exp(V::sub(V::load(x + j), vm)), vscale));
    for (; j < n; ++j) dx[j] = (float)(-dy * std::exp((double)x[j] - s.max) / s.sum);
    dx[label] = (float)(dy * (1.0 - std::exp((double)x[label] - s.max) / s.sum));
}

void label_logprob_bwd_row(const double* x, int32_t label, double dy, double* dx, int64_t n) {
    const RowSoftmax s = row_softmax(x, n);
    for (int64_t j = 0; j < n; ++j) dx[j] = -dy * std::exp(x[j] - s.max) / s.sum;
    dx[label] = dy * (1.0 - std::exp(x[label] - s.max) / s.sum);
}

template <class T>
void label_logprob_bwd_rows(const T* x, const int32_t* label, const T* dy, T* dx, int64_t cols, int64_t r0,
                            int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) label_logprob_bwd_row(x + r * cols, label[r], (double)dy[r], dx + r * cols, cols);
}

}  // namespace

void label_logprob_fwd(ps_dtype dt, const void* x, const int32_t* label, void* logp, int64_t rows, int64_t cols,
                       int32_t num_threads) {
    for_row_blocks(rows, team_size(rows, cols, num_threads), [&](int64_t r0, int64_t r1, int) {
        if (dt == PS_FLOAT32)
            label_logprob_fwd_rows(cp<float>(x), label, mp<float>(logp), cols, r0, r1);
        else
            label_logprob_fwd_rows(cp<double>(x), label, mp<double>(logp), cols, r0, r1);
    });
}

void label_logprob_bwd(ps_dtype dt, const void* x, const int32_t* label, const void* dy, void* dx, int64_t rows,
                       int64_t cols, int32_t num_threads) {
    for_row_blocks(rows, team_size(rows, cols, num_threads), [&](int64_t r0, int64_t r1, int) {
        if (dt == PS_FLOAT32)
            label_logprob_bwd_rows(cp<float>(x), label, cp<float>(dy), mp<float>(dx), cols, r0, r1);
        else
            label_logprob_bwd_rows(cp<double>(x), label, cp<double>(dy), mp<double>(dx), cols, r0, r1);
    });
}

namespace {

/** Rows r0..r1 of the scatter: the sources of row r are order[start[r]..start[r+1]), in increasing index. */
template <class T>
void scatter_rows_range(const int64_t* order, const int64_t* start, const T* src, T* dst, int64_t cols, int64_t r0,
                        int64_t r1) {
    std::vector<double> acc((size_t)cols);
    for (int64_t r = r0; r < r1; ++r) {
        T* out = dst + r * cols;
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t j = start[r]; j < start[r + 1]; ++j) {
            const T* s = src + order[j] * cols;
            for (int64_t c = 0; c < cols; ++c) acc[(size_t)c] += (double)s[c];
        }
        for (int64_t c = 0; c < cols; ++c) out[c] = (T)acc[(size_t)c];
    }
}

}  // namespace

void scatter_add_rows(ps_dtype dt, const int32_t* index, int64_t n, const void* src, void* dst, int64_t rows,
                      int64_t cols, int32_t num_threads) {
    // counting sort of the source positions by destination row, stable: each row adds its sources in index order
    std::vector<int64_t> start((size_t)rows + 1, 0), order((size_t)n);
    for (int64_t i = 0; i < n; ++i) ++start[(size_t)index[i] + 1];
    for (int64_t r = 0; r < rows; ++r) start[(size_t)r + 1] += start[(size_t)r];
    std::vector<int64_t> next(start.begin(), start.end() - 1);
    for (int64_t i = 0; i < n; ++i) order[(size_t)next[(size_t)index[i]]++] = i;
    for_row_blocks(rows, team_size(rows, cols, num_threads), [&](int64_t r0, int64_t r1, int) {
        if (dt == PS_FLOAT32)
            scatter_rows_range(order.data(), start.data(), cp<float>(src), mp<float>(dst), cols, r0, r1);
        else
            scatter_rows_range(order.data(), start.data(), cp<double>(src), mp<double>(dst), cols, r0, r1);
    });
}

}  // namespace cpu
}  // namespace ps
