// Tests of the fused row-wise kernels (RMSNorm, rotate-half RoPE, SwiGLU, forward and backward; the Adam step)
// through the public C API, against straightforward scalar float64 loops of the textbook formulas. Shapes include
// odd row counts, widths that are not a multiple of the vector width, calls above the parallel threshold with 1, 3
// and the default number of threads, and gates far outside sigmoid's range (no NaN). `ps_pointwise_test` is
// registered with ctest.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "prefixshare/api.h"

namespace {

using Vec = std::vector<double>;

int g_cases = 0, g_failures = 0;

Vec random_vec(std::mt19937_64& rng, size_t n, double lo, double hi) {
    std::uniform_real_distribution<double> u(lo, hi);
    Vec v(n);
    for (double& e : v) e = u(rng);
    return v;
}

template <class T> std::vector<T> typed(const Vec& v) { return std::vector<T>(v.begin(), v.end()); }

/** Rounds to T in place (the reference then sees exactly the kernel's inputs). */
template <class T> void round_to(Vec& v) {
    for (double& e : v) e = (double)(T)e;
}

/** max |a - ref| / max |ref| (absolute where ref is all zero). NaN anywhere gives +inf. */
template <class T> double rel_err(const std::vector<T>& a, const Vec& ref) {
    double diff = 0, scale = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
        if (std::isnan((double)a[i])) return INFINITY;
        diff = std::max(diff, std::fabs((double)a[i] - ref[i]));
        scale = std::max(scale, std::fabs(ref[i]));
    }
    return scale < 1e-300 ? diff : diff / scale;
}

template <class T> ps_dtype dtype_of() { return sizeof(T) == 4 ? PS_FLOAT32 : PS_FLOAT64; }
template <class T> double tol() { return sizeof(T) == 4 ? 2e-6 : 1e-13; }
template <class T> const char* name() { return sizeof(T) == 4 ? "f32" : "f64"; }

void report(bool ok, const std::string& what, int rc, const std::vector<double>& errs) {
    ++g_cases;
    if (!ok) ++g_failures;
    std::printf("%s %s ", ok ? "  ok" : "FAIL", what.c_str());
    for (double e : errs) std::printf(" %.1e", e);
    if (rc != PS_OK) std::printf("  rc=%d %s", rc, ps_last_error());
    std::printf("\n");
}

// ---- RMSNorm ----------------------------------------------------------------------------------------------------

template <class T> void rms_case(std::mt19937_64& rng, int64_t M, int64_t H, int threads) {
    const double eps = 1e-6;
    Vec x = random_vec(rng, M * H, -2, 2), w = random_vec(rng, H, 0.5, 1.5), dy = random_vec(rng, M * H, -1, 1);
    round_to<T>(x), round_to<T>(w), round_to<T>(dy);
    Vec y(M * H), dx(M * H), dw(H, 0.0);
    for (int64_t m = 0; m < M; ++m) {
        double ss = 0, s = 0;
        for (int64_t j = 0; j < H; ++j) ss += x[m * H + j] * x[m * H + j];
        const double r = 1.0 / std::sqrt(ss / H + eps);
        for (int64_t j = 0; j < H; ++j) s += w[j] * dy[m * H + j] * x[m * H + j];
        for (int64_t j = 0; j < H; ++j) {
            const size_t i = m * H + j;
            y[i] = x[i] * r * w[j];
            dx[i] = r * w[j] * dy[i] - x[i] * r * r * r * s / H;
            dw[j] += dy[i] * x[i] * r;
        }
    }
    std::vector<T> tx = typed<T>(x), tw = typed<T>(w), tdy = typed<T>(dy), ty(M * H), tdx(M * H), tdw(H);
    int rc = ps_rms_norm_fwd_cpu(dtype_of<T>(), tx.data(), tw.data(), ty.data(), M, H, eps, threads);
    if (rc == PS_OK)
        rc = ps_rms_norm_bwd_cpu(dtype_of<T>(), tx.data(), tw.data(), tdy.data(), tdx.data(), tdw.data(), M, H, eps,
                                 threads);
    std::vector<double> e = {INFINITY, INFINITY, INFINITY};
    bool det = true;
    if (rc == PS_OK) {
        e = {rel_err(ty, y), rel_err(tdx, dx), rel_err(tdw, dw)};
        // the same thread count gives the bitwise same dw
        std::vector<T> dx2(M * H), dw2(H);
        ps_rms_norm_bwd_cpu(dtype_of<T>(), tx.data(), tw.data(), tdy.data(), dx2.data(), dw2.data(), M, H, eps,
                            threads);
        det = std::memcmp(dw2.data(), tdw.data(), H * sizeof(T)) == 0 &&
              std::memcmp(dx2.data(), tdx.data(), M * H * sizeof(T)) == 0;
    }
    // dw sums M rows: allow for the longer float accumulation of the reference's rounding of inputs (none: double)
    const bool ok = rc == PS_OK && det && e[0] <= tol<T>() && e[1] <= tol<T>() && e[2] <= tol<T>();
    char what[160];
    std::snprintf(what, sizeof what, "rms_norm %s M=%5lld H=%4lld thr=%d%s  y dx dw", name<T>(), (long long)M,
                  (long long)H, threads, det ? "" : " (NOT DETERMINISTIC)");
    report(ok, what, rc, e);
}

// ---- RoPE -------------------------------------------------------------------------------------------------------

template <class T> void rope_case(std::mt19937_64& rng, int64_t M, int heads, int D, int threads) {
    const int64_t C = (int64_t)heads * D;
    const int half = D / 2;
    Vec x = random_vec(rng, M * C, -2, 2), dy = random_vec(rng, M * C, -1, 1);
    // real tables: angle = pos * theta^(-2 (j mod D/2) / D)
    Vec cs(M * D), sn(M * D);
    for (int64_t m = 0; m < M; ++m)
        for (int j = 0; j < D; ++j) {
            const double a = (double)(m * 7 % 101) * std::pow(10000.0, -2.0 * (j % half) / D);
            cs[m * D + j] = std::cos(a), sn[m * D + j] = std::sin(a);
        }
    round_to<T>(x), round_to<T>(dy), round_to<T>(cs), round_to<T>(sn);
    // y = x cos + rot(x) sin as written; dx = the transpose of that linear map, built element by element
    Vec y(M * C), dx(M * C, 0.0);
    for (int64_t m = 0; m < M; ++m)
        for (int h = 0; h < heads; ++h)
            for (int j = 0; j < D; ++j) {
                const size_t base = m * C + (size_t)h * D;
                const double c = cs[m * D + j], s = sn[m * D + j];
                const int partner = j < half ? j + half : j - half;
                const double sign = j < half ? -1.0 : 1.0;  // rot(x)[j] = sign * x[partner]
                y[base + j] = x[base + j] * c + sign * x[base + partner] * s;
                dx[base + j] += dy[base + j] * c;
                dx[base + partner] += sign * dy[base + j] * s;
            }
    std::vector<T> tx = typed<T>(x), tdy = typed<T>(dy), tc = typed<T>(cs), ts = typed<T>(sn), ty(M * C), tdx(M * C);
    int rc = ps_rope_fwd_cpu(dtype_of<T>(), tx.data(), tc.data(), ts.data(), ty.data(), M, heads, D, threads);
    if (rc == PS_OK)
        rc = ps_rope_bwd_cpu(dtype_of<T>(), tdy.data(), tc.data(), ts.data(), tdx.data(), M, heads, D, threads);
    std::vector<double> e = {INFINITY, INFINITY};
    if (rc == PS_OK) e = {rel_err(ty, y), rel_err(tdx, dx)};
    const bool ok = rc == PS_OK && e[0] <= tol<T>() && e[1] <= tol<T>();
    char what[160];
    std::snprintf(what, sizeof what, "rope     %s M=%5lld heads=%d D=%3d thr=%d  y dx", name<T>(), (long long)M, heads,
                  D, threads);
    report(ok, what, rc, e);
}

// ---- SwiGLU -----------------------------------------------------------------------------------------------------

template <class T> void swiglu_case(std::mt19937_64& rng, int64_t M, int64_t I, int threads, double amp) {
    Vec g = random_vec(rng, M * I, -amp, amp), u = random_vec(rng, M * I, -2, 2), dy = random_vec(rng, M * I, -1, 1);
    round_to<T>(g), round_to<T>(u), round_to<T>(dy);
    Vec y(M * I), dg(M * I), du(M * I);
    for (size_t i = 0; i < g.size(); ++i) {
        const double s = 1.0 / (1.0 + std::exp(-g[i]));
        y[i] = g[i] * s * u[i];
        dg[i] = dy[i] * u[i] * s * (1 + g[i] * (1 - s));
        du[i] = dy[i] * g[i] * s;
    }
    std::vector<T> tg = typed<T>(g), tu = typed<T>(u), tdy = typed<T>(dy), ty(M * I), tdg(M * I), tdu(M * I);
    int rc = ps_swiglu_fwd_cpu(dtype_of<T>(), tg.data(), tu.data(), ty.data(), M, I, threads);
    if (rc == PS_OK)
        rc = ps_swiglu_bwd_cpu(dtype_of<T>(), tg.data(), tu.data(), tdy.data(), tdg.data(), tdu.data(), M, I, threads);
    std::vector<double> e = {INFINITY, INFINITY, INFINITY};
    if (rc == PS_OK) e = {rel_err(ty, y), rel_err(tdg, dg), rel_err(tdu, du)};
    // float: the vectorised exp (1.2e-7) plus float rounding of a few products
    const double t = sizeof(T) == 4 ? 4e-6 : 1e-13;
    const bool ok = rc == PS_OK && e[0] <= t && e[1] <= t && e[2] <= t;
    char what[160];
    std::snprintf(what, sizeof what, "swiglu   %s M=%5lld I=%4lld thr=%d amp=%g  y dgate dup", name<T>(), (long long)M,
                  (long long)I, threads, amp);
    report(ok, what, rc, e);
}

/** Gates far outside sigmoid's range, where a naive sigmoid gives NaN: finite results, each within tol of the
 *  reference relative to max(1, |reference|). */
template <class T> void swiglu_extremes() {
    const Vec g = {100.0, -100.0, 1000.0, -1000.0, 88.5, -88.5, 87.0, -87.0, 1e30, -1e30, 0.0, 20.0, -20.0};
    const size_t n = g.size();
    Vec u(n, 1.5), dy(n, -0.75);
    std::vector<T> tg = typed<T>(g), tu = typed<T>(u), tdy = typed<T>(dy), ty(n), tdg(n), tdu(n);
    int rc = ps_swiglu_fwd_cpu(dtype_of<T>(), tg.data(), tu.data(), ty.data(), 1, (int64_t)n, 1);
    if (rc == PS_OK)
        rc = ps_swiglu_bwd_cpu(dtype_of<T>(), tg.data(), tu.data(), tdy.data(), tdg.data(), tdu.data(), 1,
                               (int64_t)n, 1);
    double worst = 0;
    bool finite = true;
    for (size_t i = 0; i < n && rc == PS_OK; ++i) {
        const double gi = (double)tg[i];
        const double s = 1.0 / (1.0 + std::exp(-gi));
        const double ref[3] = {gi * s * u[i], dy[i] * u[i] * s * (1 + gi * (1 - s)), dy[i] * gi * s};
        const double got[3] = {(double)ty[i], (double)tdg[i], (double)tdu[i]};
        for (int k = 0; k < 3; ++k) {
            finite = finite && std::isfinite(got[k]);
            worst = std::max(worst, std::fabs(got[k] - ref[k]) / std::max(1.0, std::fabs(ref[k])));
        }
    }
    const bool ok = rc == PS_OK && finite && worst <= (sizeof(T) == 4 ? 4e-6 : 1e-13);
    report(ok, std::string("swiglu   ") + name<T>() + " extreme gates (|g| up to 1e30)" + (finite ? "" : " NOT FINITE"),
           rc, {worst});
}

// ---- Adam --------------------------------------------------------------------------------------------------------

/**
 * Three steps of ps_adam_cpu against the textbook bias-corrected Adam in float64 (ND4J's form: the correction folded
 * into the step size, eps outside it), with decoupled decay; parameter, m, v and the returned update.
 */
template <class T> void adam_case(std::mt19937_64& rng, int64_t n, int threads) {
    const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8, decay = 1 - lr * 0.1;
    Vec p = random_vec(rng, n, -1, 1), m(n, 0.0), v(n, 0.0);
    round_to<T>(p);
    std::vector<T> tp = typed<T>(p), tm(n, T(0)), tv(n, T(0)), tg(n);
    int rc = PS_OK;
    std::vector<double> e = {0, 0, 0, 0};
    Vec u(n);
    for (int t = 0; t < 3 && rc == PS_OK; ++t) {
        Vec g = random_vec(rng, n, -1, 1);
        round_to<T>(g);
        for (int64_t i = 0; i < n; ++i) tg[i] = (T)g[i];
        // The hyper-parameters as the kernel holds them in T (1 - 0.999f is 4e-5 off 0.001: that is not rounding
        // error of the kernel, so the reference starts from the same constants).
        const double b1t = (T)b1, b2t = (T)b2, c1 = (T)((T)1 - (T)b1), c2 = (T)((T)1 - (T)b2);
        const double a = lr * std::sqrt(1 - std::pow(b2t, t + 1)) / (1 - std::pow(b1t, t + 1));
        for (int64_t i = 0; i < n; ++i) {
            m[i] = b1t * m[i] + c1 * g[i];
            v[i] = b2t * v[i] + c2 * g[i] * g[i];
            u[i] = a * m[i] / (std::sqrt(v[i]) + eps);
            p[i] = p[i] * decay - u[i];
        }
        rc = ps_adam_cpu(dtype_of<T>(), n, tp.data(), tg.data(), tm.data(), tv.data(), lr, b1, b2, eps, t, decay,
                         threads);
        if (rc == PS_OK) e = {rel_err(tp, p), rel_err(tm, m), rel_err(tv, v), rel_err(tg, u)};
    }
    // float: three steps of float rounding in the state, and the step size computed in float as ND4J does (~3e-6)
    const double t = sizeof(T) == 4 ? 1e-5 : 1e-13;
    const bool ok = rc == PS_OK && e[0] <= t && e[1] <= t && e[2] <= t && e[3] <= t;
    char what[160];
    std::snprintf(what, sizeof what, "adam     %s n=%6lld thr=%d  param m v update", name<T>(), (long long)n, threads);
    report(ok, what, rc, e);
}

// ---- scatter-add of rows (the row gather's backward) -------------------------------------------------------------

/**
 * ps_scatter_add_rows_cpu against a float64 loop: n source rows scattered into `rows` rows, indices drawn with
 * repeats and some rows never named (they must come out zero, whatever dst held before).
 */
template <class T> void scatter_case(std::mt19937_64& rng, int64_t n, int64_t rows, int64_t cols, int threads) {
    Vec src = random_vec(rng, (size_t)(n * cols), -1, 1);
    round_to<T>(src);
    std::vector<int32_t> index((size_t)n);
    std::uniform_int_distribution<int32_t> pick(0, (int32_t)std::max<int64_t>(0, rows - 2));  // the last row stays out
    for (auto& i : index) i = pick(rng);
    Vec ref((size_t)(rows * cols), 0.0);
    for (int64_t i = 0; i < n; ++i)
        for (int64_t c = 0; c < cols; ++c) ref[(size_t)(index[(size_t)i] * cols + c)] += src[(size_t)(i * cols + c)];
    std::vector<T> ts = typed<T>(src), td((size_t)(rows * cols), T(7));
    const int rc = ps_scatter_add_rows_cpu(dtype_of<T>(), index.data(), n, ts.data(), td.data(), rows, cols, threads);
    const double e = rc == PS_OK ? rel_err(td, ref) : INFINITY;
    // one rounding of a double sum: half an ulp of T
    const bool ok = rc == PS_OK && e <= (sizeof(T) == 4 ? 1e-7 : 1e-15);
    char what[160];
    std::snprintf(what, sizeof what, "scatter  %s n=%6lld rows=%5lld cols=%3lld thr=%d", name<T>(), (long long)n,
                  (long long)rows, (long long)cols, threads);
    report(ok, what, rc, {e});
}

// ---- label log-probability (log-softmax at the label) -------------------------------------------------------

/**
 * ps_label_logprob_fwd_cpu / _bwd_cpu against float64 loops of the textbook formulas: logp = x[label] - lse,
 * dx = dy (onehot - softmax). `spread` is the logits' range: 80 puts some exp(x - max) below float's smallest normal.
 */
template <class T> void label_case(std::mt19937_64& rng, int64_t rows, int64_t cols, int threads, double spread) {
    Vec x = random_vec(rng, (size_t)(rows * cols), -spread / 2, spread / 2), dy = random_vec(rng, (size_t)rows, -1, 1);
    round_to<T>(x), round_to<T>(dy);
    std::vector<int32_t> label((size_t)rows);
    std::uniform_int_distribution<int32_t> pick(0, (int32_t)cols - 1);
    for (auto& l : label) l = pick(rng);
    Vec logp((size_t)rows), dx((size_t)(rows * cols));
    for (int64_t r = 0; r < rows; ++r) {
        const double* row = &x[(size_t)(r * cols)];
        const double m = *std::max_element(row, row + cols);
        double s = 0;
        for (int64_t j = 0; j < cols; ++j) s += std::exp(row[j] - m);
        logp[(size_t)r] = row[label[(size_t)r]] - m - std::log(s);
        for (int64_t j = 0; j < cols; ++j)
            dx[(size_t)(r * cols + j)] = dy[(size_t)r] * ((j == label[(size_t)r] ? 1.0 : 0.0) - std::exp(row[j] - m) / s);
    }
    std::vector<T> tx = typed<T>(x), tdy = typed<T>(dy), tl((size_t)rows, T(7)), tdx((size_t)(rows * cols), T(7));
    int rc = ps_label_logprob_fwd_cpu(dtype_of<T>(), tx.data(), label.data(), tl.data(), rows, cols, threads);
    if (rc == PS_OK)
        rc = ps_label_logprob_bwd_cpu(dtype_of<T>(), tx.data(), label.data(), tdy.data(), tdx.data(), rows, cols,
                                      threads);
    const double e1 = rc == PS_OK ? rel_err(tl, logp) : INFINITY, e2 = rc == PS_OK ? rel_err(tdx, dx) : INFINITY;
    const bool ok = rc == PS_OK && e1 <= tol<T>() && e2 <= tol<T>();
    char what[160];
    std::snprintf(what, sizeof what, "label    %s rows=%5lld cols=%5lld thr=%d spread=%g", name<T>(), (long long)rows,
                  (long long)cols, threads, spread);
    report(ok, what, rc, {e1, e2});
}

// ---- argument validation ----------------------------------------------------------------------------------------

void check_errors() {
    float a[8] = {0}, b[8] = {0}, c[8] = {0}, d[8] = {0};
    bool ok = ps_rope_fwd_cpu(PS_FLOAT32, a, b, c, d, 1, 1, 7, 0) == PS_ERR_INVALID_ARGUMENT &&
              std::strstr(ps_last_error(), "even") != nullptr;
    ok = ok && ps_swiglu_fwd_cpu(PS_BFLOAT16, a, b, c, 1, 8, 0) == PS_ERR_INVALID_ARGUMENT;
    ok = ok && ps_swiglu_fwd_cpu(PS_FLOAT32, a, nullptr, c, 1, 8, 0) == PS_ERR_INVALID_ARGUMENT;
    ok = ok && ps_rms_norm_fwd_cpu(PS_FLOAT32, a, b, c, 1, 0, 1e-6, 0) == PS_ERR_INVALID_ARGUMENT;
    ok = ok && ps_rms_norm_fwd_cpu(PS_FLOAT32, a, b, c, 1, 8, NAN, 0) == PS_ERR_INVALID_ARGUMENT;
    ok = ok && ps_adam_cpu(PS_FLOAT32, 8, a, b, c, d, 0.1, 0.9, 0.999, 1e-8, -1, 1, 0) == PS_ERR_INVALID_ARGUMENT;
    ok = ok && ps_adam_cpu(PS_FLOAT32, 8, a, nullptr, c, d, 0.1, 0.9, 0.999, 1e-8, 0, 1, 0) == PS_ERR_INVALID_ARGUMENT;
    const int32_t bad[2] = {0, 8};
    ok = ok && ps_scatter_add_rows_cpu(PS_FLOAT32, bad, 2, a, b, 8, 1, 0) == PS_ERR_INVALID_ARGUMENT &&
         std::strstr(ps_last_error(), "index[1] = 8") != nullptr;
    ok = ok && ps_scatter_add_rows_cpu(PS_FLOAT32, nullptr, 2, a, b, 8, 1, 0) == PS_ERR_INVALID_ARGUMENT;
    const int32_t badLabel[1] = {5};
    ok = ok && ps_label_logprob_fwd_cpu(PS_FLOAT32, a, badLabel, b, 1, 5, 0) == PS_ERR_INVALID_ARGUMENT &&
         std::strstr(ps_last_error(), "label[0] = 5 outside [0, 5)") != nullptr;
    ok = ok && ps_label_logprob_bwd_cpu(PS_FLOAT32, a, badLabel, b, nullptr, 1, 8, 0) == PS_ERR_INVALID_ARGUMENT;
    // no source rows: the destination is zeroed
    b[3] = 5;
    ok = ok && ps_scatter_add_rows_cpu(PS_FLOAT32, nullptr, 0, nullptr, b, 8, 1, 0) == PS_OK && b[3] == 0.0f;
    // zero rows: nothing to do, and the weight gradient is zero
    d[0] = 5;
    ok = ok && ps_rms_norm_bwd_cpu(PS_FLOAT32, nullptr, nullptr, nullptr, nullptr, d, 0, 8, 1e-6, 0) == PS_OK &&
         d[0] == 0.0f;
    ++g_cases;
    if (!ok) ++g_failures;
    std::printf("%s argument validation (%s)\n", ok ? "  ok" : "FAIL", ps_last_error());
}

}  // namespace

int main() {
    std::mt19937_64 rng(20240611);
    std::printf("prefixshare %s fused row-wise kernels\n", ps_version());
    check_errors();
    // rows x widths: small (inline) and above the 32k-element parallel threshold; odd M, H % 8 != 0
    const int64_t Ms[] = {1, 7, 33, 513};
    const int64_t Hs[] = {5, 64, 100, 333};
    const int thr[] = {0, 1, 3};
    int c = 0;
    for (int64_t M : Ms)
        for (int64_t H : Hs) {
            const int t = thr[c++ % 3];
            rms_case<float>(rng, M, H, t);
            rms_case<double>(rng, M, H, t);
            swiglu_case<float>(rng, M, H, t, 6.0);
            swiglu_case<double>(rng, M, H, t, 6.0);
        }
    swiglu_extremes<float>();
    swiglu_extremes<double>();
    rms_case<float>(rng, 4097, 96, 0);
    rms_case<double>(rng, 4097, 96, 3);
    swiglu_case<float>(rng, 1025, 259, 0, 30.0);
    swiglu_case<double>(rng, 1025, 259, 3, 30.0);
    const int Ds[] = {2, 16, 32, 64, 128};
    const int heads[] = {1, 3, 4};
    for (int D : Ds)
        for (int h : heads) {
            const int t = thr[c++ % 3];
            for (int64_t M : {(int64_t)1, (int64_t)37, (int64_t)301}) {
                rope_case<float>(rng, M, h, D, t);
                rope_case<double>(rng, M, h, D, t);
            }
        }
    for (int64_t n : {(int64_t)1, (int64_t)1000, (int64_t)100003}) {
        const int t = thr[c++ % 3];
        adam_case<float>(rng, n, t);
        adam_case<double>(rng, n, t);
    }
    // the bench's two calls a step (labelled rows of a [T, H] table; the embedding: T tokens into the vocabulary)
    // and small odd shapes, inline and in parallel
    for (int t : thr) {
        scatter_case<float>(rng, 1500, 3328, 256, t);
        scatter_case<double>(rng, 3328, 260, 256, t);
        scatter_case<float>(rng, 7, 5, 3, t);
    }
    scatter_case<float>(rng, 0, 9, 4, 0);
    // the bench model's byte vocabulary over a step's labelled positions, a Llama-2-sized vocabulary, odd widths
    for (int t : thr) {
        label_case<float>(rng, 3001, 260, t, 20.0);
        label_case<double>(rng, 3001, 260, t, 20.0);
        label_case<float>(rng, 5, 3, t, 4.0);
    }
    label_case<float>(rng, 17, 32000, 0, 30.0);
    label_case<double>(rng, 9, 32000, 3, 30.0);
    label_case<float>(rng, 64, 259, 1, 80.0);
    label_case<double>(rng, 64, 1, 0, 80.0);
    std::printf("%d/%d cases passed\n", g_cases - g_failures, g_cases);
    return g_failures == 0 ? 0 : 1;
}
