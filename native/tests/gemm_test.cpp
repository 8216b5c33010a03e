// Tests of ps_gemm_cpu (the linear layers' matrix product) against a float64 triple loop: odd sizes, sizes that are
// not multiples of the micro-tile (6 rows, 2 vectors of columns) or of the depth block, k = 0, transposed A and B
// through strides, accumulate on and off, float and double, 1, 3 and the default number of threads, and a C with
// rows wider than n (columns past n must stay untouched). `ps_gemm_test` is registered with ctest.
// `ps_gemm_test --perf` times the bench model's shapes (forward x W and the two backward products).
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "prefixshare/api.h"

namespace {

int g_cases = 0, g_failures = 0;

struct Case {
    int64_t m, n, k;
    bool ta, tb, acc;
    int threads;
};

template <class T> ps_dtype dtype_of() { return sizeof(T) == 4 ? PS_FLOAT32 : PS_FLOAT64; }

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
    const int rc = ps_gemm_cpu(dtype_of<T>(), c.m, c.n, c.k, a.data(), a_rs, a_cs, b.data(), b_rs, b_cs, out.data(),
                               ldc, c.acc ? 1 : 0, c.threads);
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

int run_tests() {
    std::mt19937_64 rng(11);
    const int64_t sizes[][3] = {{1, 1, 1}, {7, 19, 5}, {13, 16, 0}, {6, 32, 64}, {100, 352, 128}, {130, 33, 257},
                                {5, 8, 600}, {73, 17, 300}, {300, 64, 32}};
    for (const auto& s : sizes)
        for (int t = 0; t < 4; ++t)
            for (int acc = 0; acc < 2; ++acc) {
                const Case c{s[0], s[1], s[2], (t & 1) != 0, (t & 2) != 0, acc != 0, (t + acc) % 3 == 0 ? 1 : 3};
                run_case<float>(rng, c);
                run_case<double>(rng, Case{c.m, c.n, c.k, c.ta, c.tb, c.acc, 0});
            }
    // Bad arguments are reported, not crashed on.
    ++g_cases;
    float x = 0;
    if (ps_gemm_cpu(PS_FLOAT32, 2, 2, 2, &x, 2, 1, &x, 2, 1, &x, 1, 0, 1) == PS_OK) {
        ++g_failures;
        std::printf("FAIL ldc < n was accepted\n");
    }
    std::printf("%d/%d gemm cases passed\n", g_cases - g_failures, g_cases);
    return g_failures == 0 ? 0 : 1;
}

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

/** The bench model's linear layers on 4459 rows (a Tulu-like (c) step): y = x W, dx = dy W^T, dW = x^T dy. */
int run_perf() {
    const int64_t M = 4459;
    const int64_t shapes[][2] = {{128, 352}, {352, 128}, {128, 128}, {128, 64}, {128, 260}};
    std::printf("ps_gemm_cpu float32, %d threads, median of 9\n", omp_get_max_threads());
    for (const auto& s : shapes) {
        const int64_t K = s[0], N = s[1];
        std::vector<float> x((size_t)(M * K), 0.5f), w((size_t)(K * N), 0.25f), y((size_t)(M * N)), dx((size_t)(M * K)),
            dw((size_t)(K * N));
        auto time = [&](auto&& f) {
            f();
            std::vector<double> t;
            for (int r = 0; r < 9; ++r) {
                const double t0 = now();
                f();
                t.push_back(now() - t0);
            }
            std::sort(t.begin(), t.end());
            return t[4];
        };
        const double flops = 2.0 * M * K * N;
        // w is [K,N] here; dx = dy w^T reads it transposed (strides 1, N), dW = x^T dy reads x transposed.
        const float *xp = x.data(), *wp = w.data(), *yp = y.data();
        const double tf = time([&] { ps_gemm_cpu(PS_FLOAT32, M, N, K, xp, K, 1, wp, N, 1, y.data(), N, 0, 0); });
        const double tx = time([&] { ps_gemm_cpu(PS_FLOAT32, M, K, N, yp, N, 1, wp, 1, N, dx.data(), K, 0, 0); });
        const double tw = time([&] { ps_gemm_cpu(PS_FLOAT32, K, N, M, xp, 1, K, yp, N, 1, dw.data(), N, 0, 0); });
        std::printf("M=%lld K=%3lld N=%3lld: y=xW %6.2f ms %6.1f GFLOP/s | dx=dyW^T %6.2f ms %6.1f | "
                    "dW=x^Tdy %6.2f ms %6.1f\n", (long long)M, (long long)K, (long long)N, tf * 1e3, flops / tf * 1e-9,
                    tx * 1e3, flops / tx * 1e-9, tw * 1e3, flops / tw * 1e-9);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc > 1 && !std::strcmp(argv[1], "--perf")) return run_perf();
    return run_tests();
}
