// AVX2/FMA vector wrappers for float (8 lanes) and double (4 lanes), with a vectorised exp for each.
// The kernels are written once against Simd<T>; nothing here knows about attention.
#ifndef PREFIXSHARE_CPU_SIMD_H
#define PREFIXSHARE_CPU_SIMD_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <new>

namespace ps {
namespace cpu {

template <class T> struct Simd;

template <> struct Simd<float> {
    using reg = __m256;
    static constexpr int W = 8;
    static inline reg load(const float* p) { return _mm256_loadu_ps(p); }
    static inline void store(float* p, reg v) { _mm256_storeu_ps(p, v); }
    static inline reg set1(float x) { return _mm256_set1_ps(x); }
    static inline reg zero() { return _mm256_setzero_ps(); }
    static inline reg fma(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
    static inline reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
    static inline reg sub(reg a, reg b) { return _mm256_sub_ps(a, b); }
    static inline reg mul(reg a, reg b) { return _mm256_mul_ps(a, b); }
    static inline reg max(reg a, reg b) { return _mm256_max_ps(a, b); }
    static inline float hsum(reg v) {
        __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        s = _mm_add_ss(s, _mm_movehdup_ps(s));
        return _mm_cvtss_f32(s);
    }
    static inline float hmax(reg v) {
        __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        s = _mm_max_ps(s, _mm_movehl_ps(s, s));
        s = _mm_max_ss(s, _mm_movehdup_ps(s));
        return _mm_cvtss_f32(s);
    }
    /** Lanes where x > y as all-ones (int32 inputs, one per lane: W consecutive values or a broadcast). */
    static inline reg gt_i32(const int32_t* x, int32_t y) {
        return _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_loadu_si256((const __m256i*)x), _mm256_set1_epi32(y)));
    }
    static inline reg lt_i32(const int32_t* x, int32_t y) {
        return _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(y), _mm256_loadu_si256((const __m256i*)x)));
    }
    static inline reg bit_or(reg a, reg b) { return _mm256_or_ps(a, b); }
    /** Lanes of `a` where mask is clear, of `b` where it is set. */
    static inline reg select(reg mask, reg a, reg b) { return _mm256_blendv_ps(a, b, mask); }
    /** r[c] lane i = r[i] lane c before: an 8 x 8 transpose in registers (unpack, shuffle, swap 128-bit halves). */
    static inline void transpose(reg r[8]) {
        __m256 t[8];
        for (int i = 0; i < 8; i += 2) {
            t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
            t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
        }
        for (int i = 0; i < 8; i += 4) {
            r[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
            r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
            r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
            r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
        }
        for (int i = 0; i < 4; ++i) {
            t[i] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x20);
            t[i + 4] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x31);
        }
        for (int i = 0; i < 8; ++i) r[i] = t[i];
    }
    /** dst[c * ldd + r] = src[r * lds + c] for one 8 x 8 block. */
    static inline void transpose_block(const float* src, ptrdiff_t lds, float* dst, ptrdiff_t ldd) {
        __m256 r[8];
        for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * lds);
        transpose(r);
        for (int i = 0; i < 8; ++i) _mm256_storeu_ps(dst + i * ldd, r[i]);
    }
    /**
     * exp(x), Cephes expf scheme: x = n ln2 + r (Cody-Waite), degree-7 polynomial in r, times 2^n.
     * Relative error ~1.2e-7 on [-87.3, 88.3]; x < -87.3 (and -inf) gives exactly 0, never NaN for x <= 88.3.
     */
    static inline reg exp(reg x) {
        const reg lo = _mm256_set1_ps(-87.33654f);
        const __m256 valid = _mm256_cmp_ps(x, lo, _CMP_GE_OQ);
        x = _mm256_min_ps(_mm256_max_ps(x, lo), _mm256_set1_ps(88.37626f));
        const reg fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                       _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        reg r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
        r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), r);
        reg y = _mm256_set1_ps(1.9875691500E-4f);
        y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507E-3f));
        y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073E-3f));
        y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894E-2f));
        y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459E-1f));
        y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201E-1f));
        y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
        const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
        return _mm256_and_ps(_mm256_mul_ps(y, _mm256_castsi256_ps(e)), valid);
    }
};

template <> struct Simd<double> {
    using reg = __m256d;
    static constexpr int W = 4;
    static inline reg load(const double* p) { return _mm256_loadu_pd(p); }
    static inline void store(double* p, reg v) { _mm256_storeu_pd(p, v); }
    static inline reg set1(double x) { return _mm256_set1_pd(x); }
    static inline reg zero() { return _mm256_setzero_pd(); }
    static inline reg fma(reg a, reg b, reg c) { return _mm256_fmadd_pd(a, b, c); }
    static inline reg add(reg a, reg b) { return _mm256_add_pd(a, b); }
    static inline reg sub(reg a, reg b) { return _mm256_sub_pd(a, b); }
    static inline reg mul(reg a, reg b) { return _mm256_mul_pd(a, b); }
    static inline reg max(reg a, reg b) { return _mm256_max_pd(a, b); }
    static inline double hsum(reg v) {
        __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
        return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
    }
    static inline double hmax(reg v) {
        __m128d s = _mm_max_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
        return _mm_cvtsd_f64(_mm_max_sd(s, _mm_unpackhi_pd(s, s)));
    }
    /** Lanes where x > y as all-ones (int32 inputs, one per lane: W consecutive values or a broadcast). */
    static inline reg gt_i32(const int32_t* x, int32_t y) {
        const __m128i c = _mm_cmpgt_epi32(_mm_loadu_si128((const __m128i*)x), _mm_set1_epi32(y));
        return _mm256_castsi256_pd(_mm256_cvtepi32_epi64(c));  // sign extension keeps all-ones
    }
    static inline reg lt_i32(const int32_t* x, int32_t y) {
        const __m128i c = _mm_cmpgt_epi32(_mm_set1_epi32(y), _mm_loadu_si128((const __m128i*)x));
        return _mm256_castsi256_pd(_mm256_cvtepi32_epi64(c));
    }
    static inline reg bit_or(reg a, reg b) { return _mm256_or_pd(a, b); }
    /** Lanes of `a` where mask is clear, of `b` where it is set. */
    static inline reg select(reg mask, reg a, reg b) { return _mm256_blendv_pd(a, b, mask); }
    /** r[c] lane i = r[i] lane c before: a 4 x 4 transpose in registers. */
    static inline void transpose(reg r[4]) {
        const __m256d t0 = _mm256_unpacklo_pd(r[0], r[1]), t1 = _mm256_unpackhi_pd(r[0], r[1]),
                      t2 = _mm256_unpacklo_pd(r[2], r[3]), t3 = _mm256_unpackhi_pd(r[2], r[3]);
        r[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
        r[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
        r[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
        r[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
    }
    /** dst[c * ldd + r] = src[r * lds + c] for one 4 x 4 block. */
    static inline void transpose_block(const double* src, ptrdiff_t lds, double* dst, ptrdiff_t ldd) {
        __m256d r[4] = {_mm256_loadu_pd(src), _mm256_loadu_pd(src + lds), _mm256_loadu_pd(src + 2 * lds),
                        _mm256_loadu_pd(src + 3 * lds)};
        transpose(r);
        for (int i = 0; i < 4; ++i) _mm256_storeu_pd(dst + i * ldd, r[i]);
    }
    /**
     * exp(x): x = n ln2 + r with a two-constant Cody-Waite split (|r| <= 0.347), degree-13 Taylor polynomial
     * (truncation < 1e-17 relative), times 2^n. ~2 ulp; x < -708 (and -inf) gives exactly 0.
     */
    static inline reg exp(reg x) {
        const reg lo = _mm256_set1_pd(-708.0);
        const __m256d valid = _mm256_cmp_pd(x, lo, _CMP_GE_OQ);
        x = _mm256_min_pd(_mm256_max_pd(x, lo), _mm256_set1_pd(709.0));
        const reg fx = _mm256_round_pd(_mm256_mul_pd(x, _mm256_set1_pd(1.4426950408889634074)),
                                       _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        reg r = _mm256_fnmadd_pd(fx, _mm256_set1_pd(6.93147180369123816490e-01), x);
        r = _mm256_fnmadd_pd(fx, _mm256_set1_pd(1.90821492927058770002e-10), r);
        reg y = _mm256_set1_pd(1.0 / 6227020800.0);                       // 1/13!
        y = _mm256_fmadd_pd(y, r, _mm256_set1_pd(1.0 / 479001600.0));    // 1/12!
        y = _mm256_fmadd_pd(y, r, _mm256_set1_pd(1.0 / 39916800.0));
        y = _mm256_fmadd_pd(y, r, _mm256_set1_pd(1.0 / 3628800.0));
        y = _mm256_fmadd_pd(y, r, _mm256_set1_pd(1.0 / 362880.0));
        y = _mm256_fmadd_pd(y, r, _mm256_set1_pd(1.0 / 40320.0));
        y = _mm256_fmadd_pd(y, r, _mm256_set1_pd(1.0 / 5040.0));
        y = _mm256_fmadd_pd(y, r, _mm256_set1_pd(1.0 / 720.0));
        y = _mm256_fmadd_pd(y, r, _mm256_set1_pd(1.0 / 120.0));
        y = _mm256_fmadd_pd(y, r, _mm256_set1_pd(1.0 / 24.0));
        y = _mm256_fmadd_pd(y, r, _mm256_set1_pd(1.0 / 6.0));
        y = _mm256_fmadd_pd(y, r, _mm256_set1_pd(0.5));
        y = _mm256_fmadd_pd(y, r, _mm256_set1_pd(1.0));
        y = _mm256_fmadd_pd(y, r, _mm256_set1_pd(1.0));
        const __m128i n32 = _mm256_cvtpd_epi32(fx);
        const __m256i e = _mm256_slli_epi64(_mm256_add_epi64(_mm256_cvtepi32_epi64(n32), _mm256_set1_epi64x(1023)), 52);
        return _mm256_and_pd(_mm256_mul_pd(y, _mm256_castsi256_pd(e)), valid);
    }
};

/**
 * bfloat16 storage: the upper 16 bits of an IEEE float32 (what ND4J's BFLOAT16 and safetensors' BF16 hold). The
 * kernels never compute in it; they widen it to float32, which is exact (the low 16 mantissa bits become zeros).
 */
struct Bf16 {
    uint16_t bits;
};
static_assert(sizeof(Bf16) == 2, "Bf16 is two bytes");

inline float widen(Bf16 x) {
    const uint32_t u = (uint32_t)x.bits << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
inline float widen(float x) { return x; }
inline double widen(double x) { return x; }

/** One vector of Simd<T> lanes read from storage of T, or of bfloat16 widened to float. */
inline __m256 load_widened(const float* p) { return _mm256_loadu_ps(p); }
inline __m256d load_widened(const double* p) { return _mm256_loadu_pd(p); }
inline __m256 load_widened(const Bf16* p) {
    const __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
}

/** 64-byte aligned scratch buffer (per thread, sized by tiles; never T x T). */
template <class T> class AlignedBuf {
public:
    AlignedBuf() = default;
    explicit AlignedBuf(size_t n) { resize(n); }
    ~AlignedBuf() { free(p_); }
    AlignedBuf(const AlignedBuf&) = delete;
    AlignedBuf& operator=(const AlignedBuf&) = delete;
    void resize(size_t n) {
        free(p_);
        p_ = nullptr;
        size_t bytes = ((n * sizeof(T) + 63) / 64) * 64;
        if (bytes == 0) bytes = 64;
        p_ = static_cast<T*>(aligned_alloc(64, bytes));
        if (!p_) throw std::bad_alloc();
        n_ = n;
    }
    /** Makes room for n elements, keeping the block (and its touched pages) when it is already large enough. */
    void reserve(size_t n) {
        if (p_ == nullptr || n_ < n) resize(n);
    }
    void zero() { memset(p_, 0, n_ * sizeof(T)); }
    T* data() { return p_; }
    size_t size() const { return n_; }

private:
    T* p_ = nullptr;
    size_t n_ = 0;
};

}  // namespace cpu
}  // namespace ps

#endif
