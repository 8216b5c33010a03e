// Tests of ps_gemm_cpu (the linear layers' matrix product) against a float64 triple loop: odd sizes, sizes that are
// not multiples of the micro-tile (6 rows, 2 vectors of columns) or of the depth block, k = 0, transposed A and B
// through strides, accumulate on and off, float and double, 1, 3 and the default number of threads, a C with rows
// wider than n (columns past n must stay untouched), and B wide enough to be packed in several chunks. A bfloat16 B
// must give bit for bit the float32 product of the widened values (same packing, same accumulation order), for odd
// sizes (1, 7, 97, 1025) and every B layout; the packed panels of every layout must equal a straightforward loop's.
// `ps_gemm_test` is registered with ctest.
//
// `ps_gemm_test --perf` times the bench model's shapes (forward x W and the two backward products), then the 7B
// shapes; `--perf bench` the first part only; `--perf M N K [reps]` one 7B-style case: forward y = x W^T and backward
// dx = dy W with W [N,K] (HF's [out, in]) in float32 and in bfloat16, and the packing of W alone, the round-1 loop
// (k outer, a gather across 16 rows per k) beside the panel-wise one. Medians of reps (default 3) after one warm-up.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include <time.h>

#include "cpu/gemm_cpu.h"
#include "prefixshare/api.h"

namespace {

int g_cases = 0, g_failures = 0;

struct Case {
    int64_t m, n, k;
    bool ta, tb, acc;
    int threads;
};

template <class T> ps_dtype dtype_of() { return sizeof(T) == 4 ? PS_FLOAT32 : PS_FLOAT64; }

/** bfloat16 bits of x, rounded to nearest even (x finite). */
uint16_t to_bf16(float x) {
    uint32_t u;
    std::memcpy(&u, &x, 4);
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

float from_bf16(uint16_t h) {
    const uint32_t u = (uint32_t)h << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

template <class T> void run_case(std::mt19937_64& rng, const Case& c) {
    ++g_cases;
    std::uniform_real_distribution<double> u(-1, 1);
    // A stored as [m,k] (or [k,m] when transposed), B as [k,n] (or [n,k]); C rows padded by 3 columns.
    const int64_t ldc = c.n + 3;
    std::vector<T> a((size_t)(c.m * c.k)), b((size_t)(c.k * c.n)), out((size_t)(c.m * ldc));
    for (T& x : a) x = (T)u(rng);
    for (T& x : b) x = (T)u(rng);
    for (T& x : out) x = (T)u(rng);
    const std::vector<T> before = out;
    const int64_t a_rs = c.ta ? 1 : c.k, a_cs = c.ta ? c.m : 1;
    const int64_t b_rs = c.tb ? 1 : c.n, b_cs = c.tb ? c.k : 1;
    const int rc = ps_gemm_cpu(dtype_of<T>(), dtype_of<T>(), c.m, c.n, c.k, a.data(), a_rs, a_cs, b.data(), b_rs,
                               b_cs, out.data(), ldc, c.acc ? 1 : 0, c.threads);
    double err = 0, scale = 1e-300;
    bool pad_ok = true;
    for (int64_t i = 0; i < c.m; ++i) {
        for (int64_t j = 0; j < c.n; ++j) {
            double ref = c.acc ? (double)before[i * ldc + j] : 0.0;
            for (int64_t k = 0; k < c.k; ++k) ref += (double)a[i * a_rs + k * a_cs] * (double)b[k * b_rs + j * b_cs];
            const double got = (double)out[i * ldc + j];
            err = std::isnan(got) ? INFINITY : std::max(err, std::fabs(got - ref));
            scale = std::max(scale, std::fabs(ref));
        }
        for (int64_t j = c.n; j < ldc; ++j) pad_ok = pad_ok && out[i * ldc + j] == before[i * ldc + j];
    }
    const double rel = err / std::max(scale, 1e-3);
    const double tol = sizeof(T) == 4 ? 1e-5 : 1e-12;
    if (rc != PS_OK || !(rel <= tol) || !pad_ok) {
        ++g_failures;
        std::printf("FAIL %s m=%lld n=%lld k=%lld ta=%d tb=%d acc=%d threads=%d: rc=%d rel=%.2e pad_ok=%d %s\n",
                    sizeof(T) == 4 ? "float" : "double", (long long)c.m, (long long)c.n, (long long)c.k, c.ta, c.tb,
                    c.acc, c.threads, rc, rel, pad_ok, rc != PS_OK ? ps_last_error() : "");
    }
}

/** B layouts: rows contiguous ([k,n]), transposed ([n,k], W^T of HF weights), and neither (every other element of a
 * [n, 2k] array, read transposed: strides 2 and 2k). */
enum BLayout { kRows = 0, kTransposed = 1, kStrided = 2 };
const char* layout_name(int l) { return l == kRows ? "rows" : l == kTransposed ? "transposed" : "strided"; }

void b_strides(int layout, int64_t n, int64_t k, int64_t& brs, int64_t& bcs, size_t& size) {
    if (layout == kRows) brs = n, bcs = 1, size = (size_t)(k * n);
    else if (layout == kTransposed) brs = 1, bcs = k, size = (size_t)(k * n);
    else brs = 2, bcs = 2 * k, size = (size_t)(2 * k * n);
}

/** A bfloat16 B against float32 B holding the widened values: the outputs must be identical bit for bit. */
void bf16_case(std::mt19937_64& rng, int64_t m, int64_t n, int64_t k, int layout, bool acc, int threads) {
    ++g_cases;
    std::uniform_real_distribution<float> u(-1, 1);
    int64_t brs, bcs;
    size_t bsize;
    b_strides(layout, n, k, brs, bcs, bsize);
    std::vector<float> a((size_t)(m * k)), bw(bsize), c0((size_t)(m * n)), c1;
    std::vector<uint16_t> bh(bsize);
    for (float& x : a) x = u(rng);
    for (size_t i = 0; i < bsize; ++i) bh[i] = to_bf16(u(rng)), bw[i] = from_bf16(bh[i]);
    for (float& x : c0) x = u(rng);
    c1 = c0;
    const int r0 = ps_gemm_cpu(PS_FLOAT32, PS_FLOAT32, m, n, k, a.data(), k, 1, bw.data(), brs, bcs, c0.data(), n,
                               acc, threads);
    const int r1 = ps_gemm_cpu(PS_FLOAT32, PS_BFLOAT16, m, n, k, a.data(), k, 1, bh.data(), brs, bcs, c1.data(), n,
                               acc, threads);
    const bool same = std::memcmp(c0.data(), c1.data(), c0.size() * sizeof(float)) == 0;
    if (r0 != PS_OK || r1 != PS_OK || !same) {
        ++g_failures;
        std::printf("FAIL bf16 B m=%lld n=%lld k=%lld %s acc=%d threads=%d: rc=%d/%d identical=%d %s\n", (long long)m,
                    (long long)n, (long long)k, layout_name(layout), acc, threads, r0, r1, same, ps_last_error());
    }
}

/** The round-1 packing loop (k outer, every column gathered): the layout oracle, and the "before" of --perf. */
template <class T, class TB, class W>
void reference_pack(int64_t N, int64_t K, const TB* b, int64_t brs, int64_t bcs, T* dst, W widen) {
    constexpr int NR = sizeof(T) == 4 ? 16 : 8;
    const int64_t np = (N + NR - 1) / NR;
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < np; ++p) {
        T* d = dst + p * K * NR;
        const int64_t n0 = p * NR, nn = std::min<int64_t>(NR, N - n0);
        for (int64_t k = 0; k < K; ++k, d += NR) {
            const TB* src = b + k * brs + n0 * bcs;
            int64_t j = 0;
            for (; j < nn; ++j) d[j] = (T)widen(src[j * bcs]);
            for (; j < NR; ++j) d[j] = T(0);
        }
    }
}

template <class T, class TB, class W>
void pack_case(std::mt19937_64& rng, ps_dtype dt, ps_dtype bdt, int64_t n, int64_t k, int layout, W widen) {
    ++g_cases;
    constexpr int NR = sizeof(T) == 4 ? 16 : 8;
    int64_t brs, bcs;
    size_t bsize;
    b_strides(layout, n, k, brs, bcs, bsize);
    std::vector<TB> b(bsize);
    for (TB& x : b) x = (TB)(rng() & 0xffff);  // any bits: packing moves them, it never computes
    const size_t psize = (size_t)((n + NR - 1) / NR * NR * k);
    std::vector<T> want(psize), got(psize, T(-7));
    reference_pack(n, k, b.data(), brs, bcs, want.data(), widen);
    ps::cpu::gemm_pack_b(dt, bdt, n, k, b.data(), brs, bcs, got.data(), 3);
    if (std::memcmp(want.data(), got.data(), psize * sizeof(T)) != 0) {
        ++g_failures;
        std::printf("FAIL pack %s B n=%lld k=%lld %s: panels differ from the straightforward loop\n",
                    bdt == PS_BFLOAT16 ? "bf16" : sizeof(T) == 4 ? "f32" : "f64", (long long)n, (long long)k,
                    layout_name(layout));
    }
}

int run_tests() {
    std::mt19937_64 rng(11);
    const int64_t sizes[][3] = {{1, 1, 1},   {7, 19, 5},   {13, 16, 0},  {6, 32, 64},  {100, 352, 128},
                                {130, 33, 257}, {5, 8, 600}, {73, 17, 300}, {300, 64, 32}};
    for (const auto& s : sizes)
        for (int t = 0; t < 4; ++t)
            for (int acc = 0; acc < 2; ++acc) {
                const Case c{s[0], s[1], s[2], (t & 1) != 0, (t & 2) != 0, acc != 0, (t + acc) % 3 == 0 ? 1 : 3};
                run_case<float>(rng, c);
                run_case<double>(rng, Case{c.m, c.n, c.k, c.ta, c.tb, c.acc, 0});
            }
    // B in several packing chunks (4 MiB of packed panels: 63 panels of 16 floats at k = 1025), accumulating
    run_case<float>(rng, Case{97, 2100, 1025, false, true, true, 0});
    run_case<double>(rng, Case{13, 1100, 1025, true, false, false, 3});

    // bfloat16 B: odd sizes, every layout, several chunks (n = 2100 at k = 1025)
    const int64_t odd[] = {1, 7, 97, 1025};
    int i = 0;
    for (int64_t m : odd)
        for (int64_t n : odd)
            for (int64_t k : odd) {
                if (m * n * k > (int64_t)1 << 26) continue;  // 1025^3: covered by the chunked case below
                bf16_case(rng, m, n, k, i % 3, i % 2 == 1, i % 4 == 0 ? 1 : 0);
                ++i;
            }
    for (int layout = 0; layout < 3; ++layout) bf16_case(rng, 97, 2100, 1025, layout, layout == 1, 0);

    // packed panels of every layout and storage type against the straightforward loop
    const auto f32 = [](float x) { return x; };
    const auto f64 = [](double x) { return x; };
    const auto h16 = [](uint16_t x) { return from_bf16(x); };
    const int64_t pack_sizes[][2] = {{1, 1}, {16, 16}, {17, 33}, {100, 7}, {37, 130}, {1025, 97}};
    for (const auto& s : pack_sizes)
        for (int layout = 0; layout < 3; ++layout) {
            pack_case<float, float>(rng, PS_FLOAT32, PS_FLOAT32, s[0], s[1], layout, f32);
            pack_case<float, uint16_t>(rng, PS_FLOAT32, PS_BFLOAT16, s[0], s[1], layout, h16);
            pack_case<double, double>(rng, PS_FLOAT64, PS_FLOAT64, s[0], s[1], layout, f64);
        }

    // Bad arguments are reported, not crashed on.
    ++g_cases;
    float x = 0;
    if (ps_gemm_cpu(PS_FLOAT32, PS_FLOAT32, 2, 2, 2, &x, 2, 1, &x, 2, 1, &x, 1, 0, 1) == PS_OK) {
        ++g_failures;
        std::printf("FAIL ldc < n was accepted\n");
    }
    ++g_cases;
    if (ps_gemm_cpu(PS_FLOAT64, PS_BFLOAT16, 1, 1, 1, &x, 1, 1, &x, 1, 1, &x, 1, 0, 1) == PS_OK ||
        !std::strstr(ps_last_error(), "b_dtype")) {
        ++g_failures;
        std::printf("FAIL a bfloat16 B with float64 A was accepted\n");
    }
    std::printf("%d/%d gemm cases passed\n", g_cases - g_failures, g_cases);
    return g_failures == 0 ? 0 : 1;
}

/**
 * Seconds on the wall clock, or with PS_PERF_CLOCK=cpu the CPU seconds of the whole process: on a machine loaded by
 * others the wall clock mostly measures the wait for a core; run that with OMP_WAIT_POLICY=passive, so threads
 * waiting at a barrier sleep instead of spinning (rates are then per CPU-second, about half the 2-thread wall rate).
 */
double now() {
    static const bool cpu = std::getenv("PS_PERF_CLOCK") && !std::strcmp(std::getenv("PS_PERF_CLOCK"), "cpu");
    if (cpu) {
        timespec t;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
        return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

template <class F> double median_time(int reps, F&& f) {
    f();
    std::vector<double> t;
    for (int r = 0; r < reps; ++r) {
        const double t0 = now();
        f();
        t.push_back(now() - t0);
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

/** The bench model's linear layers on 4459 rows (a Tulu-like (c) step): y = x W, dx = dy W^T, dW = x^T dy. */
void run_perf_bench() {
    const int64_t M = 4459;
    const int64_t shapes[][2] = {{128, 352}, {352, 128}, {128, 128}, {128, 64}, {128, 260}};
    std::printf("ps_gemm_cpu float32, %d threads, median of 9\n", omp_get_max_threads());
    for (const auto& s : shapes) {
        const int64_t K = s[0], N = s[1];
        std::vector<float> x((size_t)(M * K), 0.5f), w((size_t)(K * N), 0.25f), y((size_t)(M * N)), dx((size_t)(M * K)),
            dw((size_t)(K * N));
        const double flops = 2.0 * M * K * N;
        // w is [K,N] here; dx = dy w^T reads it transposed (strides 1, N), dW = x^T dy reads x transposed.
        const float *xp = x.data(), *wp = w.data(), *yp = y.data();
        const auto F = PS_FLOAT32;
        const double tf = median_time(9, [&] { ps_gemm_cpu(F, F, M, N, K, xp, K, 1, wp, N, 1, y.data(), N, 0, 0); });
        const double tx = median_time(9, [&] { ps_gemm_cpu(F, F, M, K, N, yp, N, 1, wp, 1, N, dx.data(), K, 0, 0); });
        const double tw = median_time(9, [&] { ps_gemm_cpu(F, F, K, N, M, xp, 1, K, yp, N, 1, dw.data(), N, 0, 0); });
        std::printf("M=%lld K=%3lld N=%3lld: y=xW %6.2f ms %6.1f GFLOP/s | dx=dyW^T %6.2f ms %6.1f | "
                    "dW=x^Tdy %6.2f ms %6.1f\n", (long long)M, (long long)K, (long long)N, tf * 1e3, flops / tf * 1e-9,
                    tx * 1e3, flops / tx * 1e-9, tw * 1e3, flops / tw * 1e-9);
    }
}

/**
 * One 7B-style case: W [N,K] as HF stores it; forward y = x W^T (B = W^T: strides 1, K), backward dx = dy W (B = W:
 * strides K, 1); float32 and bfloat16 W. Prints GFLOP/s of each product and the time of packing the whole W alone
 * (round-1 loop and panel-wise), as a share of the float32 product it belongs to.
 */
void run_perf_case(int64_t M, int64_t N, int64_t K, int reps) {
    std::mt19937_64 rng(5);
    std::uniform_real_distribution<float> u(-1, 1);
    std::vector<float> x((size_t)(M * K)), dy((size_t)(M * N)), w((size_t)(N * K)), y((size_t)(M * N)),
        dx((size_t)(M * K)), packed((size_t)((N + 15) / 16 * 16 * K + (K + 15) / 16 * 16 * N));
    std::vector<uint16_t> wh((size_t)(N * K));
    for (float& e : x) e = u(rng);
    for (float& e : dy) e = u(rng);
    for (size_t i = 0; i < w.size(); ++i) wh[i] = to_bf16(u(rng)), w[i] = from_bf16(wh[i]);
    const auto F = PS_FLOAT32, H = PS_BFLOAT16;
    const double flops = 2.0 * M * N * K;
    const auto id = [](float v) { return v; };
    const double fwd32 = median_time(reps, [&] {
        ps_gemm_cpu(F, F, M, N, K, x.data(), K, 1, w.data(), 1, K, y.data(), N, 0, 0);
    });
    const double fwd16 = median_time(reps, [&] {
        ps_gemm_cpu(F, H, M, N, K, x.data(), K, 1, wh.data(), 1, K, y.data(), N, 0, 0);
    });
    const double bwd32 = median_time(reps, [&] {
        ps_gemm_cpu(F, F, M, K, N, dy.data(), N, 1, w.data(), K, 1, dx.data(), K, 0, 0);
    });
    const double bwd16 = median_time(reps, [&] {
        ps_gemm_cpu(F, H, M, K, N, dy.data(), N, 1, wh.data(), K, 1, dx.data(), K, 0, 0);
    });
    const double pf_old = median_time(reps, [&] { reference_pack(N, K, w.data(), 1, K, packed.data(), id); });
    const double pf32 = median_time(reps, [&] { ps::cpu::gemm_pack_b(F, F, N, K, w.data(), 1, K, packed.data(), 0); });
    const double pf16 = median_time(reps, [&] { ps::cpu::gemm_pack_b(F, H, N, K, wh.data(), 1, K, packed.data(), 0); });
    const double pb_old = median_time(reps, [&] { reference_pack(K, N, w.data(), K, 1, packed.data(), id); });
    const double pb32 = median_time(reps, [&] { ps::cpu::gemm_pack_b(F, F, K, N, w.data(), K, 1, packed.data(), 0); });
    const double pb16 = median_time(reps, [&] { ps::cpu::gemm_pack_b(F, H, K, N, wh.data(), K, 1, packed.data(), 0); });
    const auto pct = [](double p, double t) { return 100.0 * p / t; };
    std::printf("M=%5lld N=%5lld K=%5lld | y=xW^T f32 %6.1f GFLOP/s bf16 %6.1f | pack W^T: round-1 %6.1f ms "
                "(%4.1f%%) f32 %6.1f ms (%4.1f%%) bf16 %6.1f ms (%4.1f%%)\n",
                (long long)M, (long long)N, (long long)K, flops / fwd32 * 1e-9, flops / fwd16 * 1e-9, pf_old * 1e3,
                pct(pf_old, fwd32), pf32 * 1e3, pct(pf32, fwd32), pf16 * 1e3, pct(pf16, fwd16));
    std::printf("M=%5lld N=%5lld K=%5lld | dx=dyW  f32 %6.1f GFLOP/s bf16 %6.1f | pack W:   round-1 %6.1f ms "
                "(%4.1f%%) f32 %6.1f ms (%4.1f%%) bf16 %6.1f ms (%4.1f%%)\n",
                (long long)M, (long long)N, (long long)K, flops / bwd32 * 1e-9, flops / bwd16 * 1e-9, pb_old * 1e3,
                pct(pb_old, bwd32), pb32 * 1e3, pct(pb32, bwd32), pb16 * 1e3, pct(pb16, bwd16));
    std::fflush(stdout);
}

int run_perf(int argc, char** argv) {
    if (argc >= 5) {
        run_perf_case(std::atoll(argv[2]), std::atoll(argv[3]), std::atoll(argv[4]), argc > 5 ? std::atoi(argv[5]) : 3);
        return 0;
    }
    run_perf_bench();
    if (argc > 2 && !std::strcmp(argv[2], "bench")) return 0;
    // Mistral-7B's projections: q/o (4096 x 4096), k/v (1024 x 4096), gate/up (14336 x 4096), down (4096 x 14336)
    std::printf("7B shapes, %d threads, median of 3 (share: packing the whole W alone / the product)\n",
                omp_get_max_threads());
    const int64_t nk[][2] = {{4096, 4096}, {1024, 4096}, {14336, 4096}, {4096, 14336}};
    for (int64_t m : {512, 1024, 2048})
        for (const auto& s : nk) run_perf_case(m, s[0], s[1], 3);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc > 1 && !std::strcmp(argv[1], "--perf")) return run_perf(argc, argv);
    return run_tests();
}
