// Tests of the fused LM head + label log-probabilities (ps_lm_head_logprob_fwd_cpu / _bwd_cpu) against float64 loops
// that materialise the logits: logp, lse, dhidden and dhead, float64 to 1e-12 and float32 to 1e-5 relative to the
// largest reference value, for vocabularies that are not a multiple of the chunk, blocks of a few rows and a few
// dozen columns (the kernel's own chunking, called directly) as well as the default, n = 1 and n = 0, labels at 0 and
// v - 1; a bfloat16 head against a float32 head holding the same values (bit for bit); accumulate flags; the errors;
// and the memory bound: n = 2048 over v = 152,064 must not grow the resident set by anything near the 1.2 GB an
// [n, v] float array would take. `ps_lm_head_test` is registered with ctest.
//
// `ps_lm_head_test --perf N H V [bf16]` times forward and backward (trained head; frozen head) at several scratch
// bounds, beside the materialised path (the linear layers' GEMM into [N, V] logits, the label log-prob kernels, and the
// two backward products).
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "cpu/lm_head_cpu.h"
#include "prefixshare/api.h"

namespace {

using Vec = std::vector<double>;
using ps::cpu::LmHeadChunks;

int g_cases = 0, g_failures = 0;

void report(bool ok, const std::string& what, const std::vector<double>& errs, const char* err = nullptr) {
    ++g_cases;
    if (!ok) ++g_failures;
    std::printf("%s %s", ok ? "  ok" : "FAIL", what.c_str());
    for (double e : errs) std::printf(" %.1e", e);
    if (err) std::printf("  (%s)", err);
    std::printf("\n");
}

template <class T> ps_dtype dtype_of() { return sizeof(T) == 4 ? PS_FLOAT32 : PS_FLOAT64; }
template <class T> const char* name() { return sizeof(T) == 4 ? "f32" : "f64"; }

/** max |a - ref| / max |ref| (absolute when ref is all zero); NaN gives +inf. */
template <class T> double rel_err(const std::vector<T>& a, const Vec& ref) {
    double diff = 0, scale = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
        if (std::isnan((double)a[i])) return INFINITY;
        diff = std::max(diff, std::fabs((double)a[i] - ref[i]));
        scale = std::max(scale, std::fabs(ref[i]));
    }
    return scale < 1e-300 ? diff : diff / scale;
}

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

struct Problem {
    int64_t n, h, v;
    Vec hidden, head, dy, dhidden0, dhead0;  // inputs (rounded to the tested type) and the accumulate bases
    std::vector<int32_t> label;
};

Problem make_problem(std::mt19937_64& rng, int64_t n, int64_t h, int64_t v, bool to_float, double spread) {
    std::uniform_real_distribution<double> u(-1, 1);
    Problem p{n, h, v, Vec(n * h), Vec(v * h), Vec(n), Vec(n * h), Vec(v * h), std::vector<int32_t>(n)};
    // logits of about +-spread: hidden entries of size 1, head rows of norm ~spread
    const double hs = spread / std::sqrt((double)h);
    for (double& x : p.hidden) x = u(rng);
    for (double& x : p.head) x = u(rng) * hs;
    for (double& x : p.dy) x = u(rng);
    for (double& x : p.dhidden0) x = u(rng);
    for (double& x : p.dhead0) x = u(rng);
    std::uniform_int_distribution<int32_t> pick(0, (int32_t)v - 1);
    for (auto& l : p.label) l = pick(rng);
    if (n > 0) p.label[0] = (int32_t)v - 1;
    if (n > 1) p.label[1] = 0;
    if (to_float)
        for (Vec* a : {&p.hidden, &p.head, &p.dy, &p.dhidden0, &p.dhead0})
            for (double& x : *a) x = (double)(float)x;
    return p;
}

struct Reference {
    Vec logp, lse, dhidden, dhead;
};

/** Float64 loops over the materialised logits; dhidden / dhead include the accumulate bases when asked. */
Reference reference(const Problem& p, bool acc_dh, bool acc_dw) {
    const int64_t n = p.n, h = p.h, v = p.v;
    Reference r{Vec(n), Vec(n), acc_dh ? p.dhidden0 : Vec(n * h, 0.0), acc_dw ? p.dhead0 : Vec(v * h, 0.0)};
    Vec logits(v);
    for (int64_t i = 0; i < n; ++i) {
        double m = -INFINITY;
        for (int64_t j = 0; j < v; ++j) {
            double s = 0;
            for (int64_t k = 0; k < h; ++k) s += p.hidden[i * h + k] * p.head[j * h + k];
            logits[j] = s;
            m = std::max(m, s);
        }
        double sum = 0;
        for (int64_t j = 0; j < v; ++j) sum += std::exp(logits[j] - m);
        r.lse[i] = m + std::log(sum);
        r.logp[i] = logits[p.label[i]] - r.lse[i];
        for (int64_t j = 0; j < v; ++j) {
            const double g = p.dy[i] * ((j == p.label[i] ? 1.0 : 0.0) - std::exp(logits[j] - r.lse[i]));
            for (int64_t k = 0; k < h; ++k) {
                r.dhidden[i * h + k] += g * p.head[j * h + k];
                r.dhead[j * h + k] += g * p.hidden[i * h + k];
            }
        }
    }
    return r;
}

template <class T> std::vector<T> typed(const Vec& v) { return std::vector<T>(v.begin(), v.end()); }

/**
 * The errors (logp, -, dhidden, dhead) of the float32 path with materialised logits: the GEMM into [n, v], the label
 * log-prob kernels, the two backward products.
 */
std::vector<double> materialised_errors(const Problem& p, const Reference& ref, bool acc) {
    const int64_t n = p.n, h = p.h, v = p.v;
    const auto F = PS_FLOAT32;
    std::vector<float> hid = typed<float>(p.hidden), head = typed<float>(p.head), dy = typed<float>(p.dy),
                       logits(n * v), dl(n * v), logp(n), dh = typed<float>(p.dhidden0), dw = typed<float>(p.dhead0);
    ps_gemm_cpu(F, F, n, v, h, hid.data(), h, 1, head.data(), 1, h, logits.data(), v, 0, 0);
    ps_label_logprob_fwd_cpu(F, logits.data(), p.label.data(), logp.data(), n, v, 0);
    ps_label_logprob_bwd_cpu(F, logits.data(), p.label.data(), dy.data(), dl.data(), n, v, 0);
    ps_gemm_cpu(F, F, n, h, v, dl.data(), v, 1, head.data(), h, 1, dh.data(), h, acc, 0);
    ps_gemm_cpu(F, F, v, h, n, dl.data(), 1, v, hid.data(), h, 1, dw.data(), h, acc, 0);
    return {rel_err(logp, ref.logp), 0.0, rel_err(dh, ref.dhidden), rel_err(dw, ref.dhead)};
}

/**
 * One problem through the kernel (chunks given: the internal entry; rows == 0: the C API with its default chunks),
 * compared with the reference. Both accumulate flags are exercised.
 */
template <class T> void lm_case(std::mt19937_64& rng, int64_t n, int64_t h, int64_t v, LmHeadChunks c, int threads,
                                bool acc) {
    const Problem p = make_problem(rng, n, h, v, sizeof(T) == 4, 12.0);
    const Reference ref = reference(p, acc, acc);
    std::vector<T> hid = typed<T>(p.hidden), head = typed<T>(p.head), dy = typed<T>(p.dy), logp(n), lse(n),
                   dh = typed<T>(p.dhidden0), dw = typed<T>(p.dhead0);
    int rc = PS_OK;
    const ps_dtype dt = dtype_of<T>();
    if (c.rows == 0) {
        rc = ps_lm_head_logprob_fwd_cpu(dt, dt, hid.data(), head.data(), p.label.data(), logp.data(), lse.data(), n, h,
                                        v, threads);
        if (rc == PS_OK)
            rc = ps_lm_head_logprob_bwd_cpu(dt, dt, hid.data(), head.data(), p.label.data(), lse.data(), dy.data(),
                                            dh.data(), dw.data(), n, h, v, acc, acc, threads);
    } else {
        ps::cpu::lm_head_logprob_fwd(dt, dt, hid.data(), head.data(), p.label.data(), logp.data(), lse.data(), n, h,
                                     v, c, threads);
        ps::cpu::lm_head_logprob_bwd(dt, dt, hid.data(), head.data(), p.label.data(), lse.data(), dy.data(),
                                     dh.data(), dw.data(), n, h, v, acc, acc, c, threads);
    }
    std::vector<double> e = rc == PS_OK ? std::vector<double>{rel_err(logp, ref.logp), rel_err(lse, ref.lse),
                                                               rel_err(dh, ref.dhidden), rel_err(dw, ref.dhead)}
                                        : std::vector<double>{INFINITY};
    // float32: 1e-5, or twice the error of the same arithmetic with materialised logits (FlashAttention's rule: a
    // gradient summed over v = 152,064 vocabulary entries in float carries ~3e-5 whichever way it is computed)
    std::vector<double> tol(4, sizeof(T) == 4 ? 1e-5 : 1e-12);
    if (sizeof(T) == 4 && rc == PS_OK) {
        const std::vector<double> m = materialised_errors(p, ref, acc);
        for (int k : {0, 2, 3}) tol[k] = std::max(tol[k], 2 * m[k]);
        e.insert(e.end(), {m[0], m[2], m[3]});
    }
    bool ok = rc == PS_OK;
    for (size_t k = 0; k < tol.size() && k < e.size(); ++k) ok = ok && e[k] <= tol[k];
    char what[200];
    std::snprintf(what, sizeof what, "lm_head %s n=%4lld h=%3lld v=%6lld chunks=%s%lldx%lld thr=%d acc=%d  logp lse "
                  "dhidden dhead%s", name<T>(), (long long)n, (long long)h, (long long)v, c.rows ? "" : "default ",
                  (long long)(c.rows ? c.rows : ps::cpu::lm_head_chunks(dt, n, v).rows),
                  (long long)(c.rows ? c.vocab : ps::cpu::lm_head_chunks(dt, n, v).vocab), threads, acc,
                  sizeof(T) == 4 ? " (materialised: logp dhidden dhead)" : "");
    report(ok, what, e, rc != PS_OK ? ps_last_error() : nullptr);
}

/** A bfloat16 head against a float32 head holding the widened values: logp, lse and dhidden identical. */
void bf16_case(std::mt19937_64& rng, int64_t n, int64_t h, int64_t v, LmHeadChunks c) {
    const Problem p = make_problem(rng, n, h, v, true, 12.0);
    std::vector<uint16_t> hh(p.head.size());
    std::vector<float> hw(p.head.size());
    for (size_t i = 0; i < hh.size(); ++i) hh[i] = to_bf16((float)p.head[i]), hw[i] = from_bf16(hh[i]);
    std::vector<float> hid = typed<float>(p.hidden), dy = typed<float>(p.dy);
    std::vector<float> out[2][3];
    for (int b = 0; b < 2; ++b) {
        const ps_dtype hdt = b ? PS_BFLOAT16 : PS_FLOAT32;
        const void* head = b ? (const void*)hh.data() : (const void*)hw.data();
        std::vector<float>&logp = out[b][0], &lse = out[b][1], &dh = out[b][2];
        logp.assign(n, 0.f), lse.assign(n, 0.f), dh.assign(n * h, 0.f);
        ps::cpu::lm_head_logprob_fwd(PS_FLOAT32, hdt, hid.data(), head, p.label.data(), logp.data(), lse.data(), n, h,
                                     v, c, 0);
        ps::cpu::lm_head_logprob_bwd(PS_FLOAT32, hdt, hid.data(), head, p.label.data(), lse.data(), dy.data(),
                                     dh.data(), nullptr, n, h, v, false, false, c, 0);
    }
    bool same = true;
    for (int k = 0; k < 3; ++k)
        same = same && std::memcmp(out[0][k].data(), out[1][k].data(), out[0][k].size() * sizeof(float)) == 0;
    char what[160];
    std::snprintf(what, sizeof what, "lm_head bf16 head == f32 head n=%lld h=%lld v=%lld chunks=%lldx%lld", (long long)n,
                  (long long)h, (long long)v, (long long)c.rows, (long long)c.vocab);
    report(same, what, {});
}

/** n = 0: nothing to compute; a trained head's gradient is zeroed (or left as it is when accumulating). */
void empty_case() {
    float x = 1, dw[6] = {1, 2, 3, 4, 5, 6};
    int rc = ps_lm_head_logprob_fwd_cpu(PS_FLOAT32, PS_FLOAT32, nullptr, &x, nullptr, nullptr, nullptr, 0, 2, 3, 0);
    rc = rc == PS_OK ? ps_lm_head_logprob_bwd_cpu(PS_FLOAT32, PS_FLOAT32, nullptr, &x, nullptr, nullptr, nullptr,
                                                  nullptr, dw, 0, 2, 3, 0, 1, 0)
                     : rc;
    bool ok = rc == PS_OK && dw[5] == 6;
    rc = rc == PS_OK ? ps_lm_head_logprob_bwd_cpu(PS_FLOAT32, PS_FLOAT32, nullptr, &x, nullptr, nullptr, nullptr,
                                                  nullptr, dw, 0, 2, 3, 0, 0, 0)
                     : rc;
    ok = ok && rc == PS_OK && std::all_of(dw, dw + 6, [](float e) { return e == 0; });
    report(ok, "lm_head n=0: ok, dhead zeroed (kept when accumulating)", {}, rc != PS_OK ? ps_last_error() : nullptr);
}

void error_cases() {
    float a[8] = {0}, b[8] = {0};
    const int32_t bad[1] = {3};
    uint16_t hb[8] = {0};
    bool ok = ps_lm_head_logprob_fwd_cpu(PS_FLOAT32, PS_FLOAT32, a, b, bad, a, a, 1, 2, 3, 0) ==
                  PS_ERR_INVALID_ARGUMENT &&
              std::strstr(ps_last_error(), "label[0] = 3 outside [0, 3)") != nullptr;
    const int32_t good[1] = {1};
    ok = ok && ps_lm_head_logprob_bwd_cpu(PS_FLOAT32, PS_BFLOAT16, a, hb, good, a, a, b, b, 1, 2, 3, 0, 0, 0) ==
                   PS_ERR_INVALID_ARGUMENT &&
         std::strstr(ps_last_error(), "dhead must be NULL") != nullptr;
    ok = ok && ps_lm_head_logprob_fwd_cpu(PS_FLOAT64, PS_BFLOAT16, a, hb, good, a, a, 1, 2, 3, 0) ==
                   PS_ERR_INVALID_ARGUMENT &&
         std::strstr(ps_last_error(), "head_dtype") != nullptr;
    ok = ok && ps_lm_head_logprob_fwd_cpu(PS_FLOAT32, PS_FLOAT32, a, nullptr, good, a, a, 1, 2, 3, 0) ==
                   PS_ERR_INVALID_ARGUMENT;
    report(ok, "lm_head bad arguments are reported (label range, frozen bf16 head, types, null)", {});
}

/** Resident-set figures of this process in kB ("VmRSS", "VmHWM"), or -1. */
long status_kb(const char* key) {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind(key, 0) == 0) return std::atol(line.c_str() + std::strlen(key) + 1);
    return -1;
}

/**
 * n = 2048 labelled positions over Qwen2's 152,064-token vocabulary (h = 16 to keep it quick): the peak resident set
 * during forward and backward (trained head) may grow by the reused block, never by the [n, v] logits (1.25 GB).
 */
void memory_case() {
    const int64_t n = 2048, h = 16, v = 152064;
    std::mt19937_64 rng(3);
    std::uniform_real_distribution<float> u(-1, 1);
    std::vector<float> hid(n * h), head(v * h), dy(n), logp(n), lse(n), dh(n * h), dw(v * h);
    std::vector<int32_t> label(n);
    for (float& x : hid) x = u(rng);
    for (float& x : head) x = u(rng);
    for (float& x : dy) x = u(rng);
    for (int64_t i = 0; i < n; ++i) label[i] = (int32_t)((i * 7919) % v);
    std::fill(dw.begin(), dw.end(), 0.f);  // touch every output page before the measurement
    std::fill(dh.begin(), dh.end(), 0.f);
    const long rss0 = status_kb("VmRSS:");
    { std::ofstream("/proc/self/clear_refs") << "5"; }  // the peak (VmHWM) restarts from the current size
    const bool reset = status_kb("VmHWM:") <= rss0 + 1024;
    int rc = ps_lm_head_logprob_fwd_cpu(PS_FLOAT32, PS_FLOAT32, hid.data(), head.data(), label.data(), logp.data(),
                                        lse.data(), n, h, v, 0);
    if (rc == PS_OK)
        rc = ps_lm_head_logprob_bwd_cpu(PS_FLOAT32, PS_FLOAT32, hid.data(), head.data(), label.data(), lse.data(),
                                        dy.data(), dh.data(), dw.data(), n, h, v, 0, 0, 0);
    const double grown_mb = (status_kb("VmHWM:") - rss0) / 1024.0, logits_mb = n * v * 4.0 / 1048576.0;
    const double scratch_mb = (double)ps_lm_head_scratch_bytes_cpu(PS_FLOAT32, n, v) / 1048576.0;
    bool finite = true;
    for (int64_t i = 0; i < n; ++i) finite = finite && std::isfinite(logp[i]) && logp[i] <= 0;
    // the block (64 MiB), the GEMM's packed panels (a few MiB), thread stacks: far below an eighth of the logits
    const bool ok = rc == PS_OK && finite && scratch_mb <= 64 && (!reset || grown_mb < logits_mb / 8);
    char what[240];
    std::snprintf(what, sizeof what, "lm_head memory n=%lld v=%lld: peak RSS grew %.0f MB (scratch %.0f MB; [n,v] "
                  "logits would be %.0f MB)%s", (long long)n, (long long)v, grown_mb, scratch_mb, logits_mb,
                  reset ? "" : " [peak reset unsupported: RSS bound not checked]");
    report(ok, what, {}, rc != PS_OK ? ps_last_error() : nullptr);
}

int run_tests() {
    std::mt19937_64 rng(21);
    // (n, h, v) x chunkings: the default, a few dozen vocabulary entries (not a multiple of 16 or of v), few rows
    const int64_t shapes[][3] = {{1, 7, 97}, {13, 33, 1025}, {97, 16, 2100}, {2, 1, 1}, {5, 64, 32000}};
    const LmHeadChunks chunkings[] = {{0, 0}, {1000000, 37}, {3, 16}, {1, 1000000}};
    int i = 0;
    for (const auto& s : shapes)
        for (const LmHeadChunks& c : chunkings) {
            if (s[2] >= 32000 && c.vocab == 16) continue;  // 2000 chunks of 16: slow, nothing new
            const LmHeadChunks cc = c.rows ? LmHeadChunks{std::min(c.rows, s[0]), std::min(c.vocab, s[2])} : c;
            lm_case<double>(rng, s[0], s[1], s[2], cc, i % 3 == 0 ? 1 : 0, i % 2 == 0);
            lm_case<float>(rng, s[0], s[1], s[2], cc, i % 3 == 1 ? 3 : 0, i % 2 == 1);
            ++i;
        }
    lm_case<float>(rng, 3, 16, 152064, {0, 0}, 0, false);  // Qwen2's vocabulary through the C API
    for (const LmHeadChunks& c : {LmHeadChunks{97, 2100}, LmHeadChunks{40, 37}, LmHeadChunks{1, 512}})
        bf16_case(rng, 97, 33, 2100, c);
    empty_case();
    error_cases();
    memory_case();
    std::printf("%d/%d lm_head cases passed\n", g_cases - g_failures, g_cases);
    return g_failures == 0 ? 0 : 1;
}

// ---- --perf ---------------------------------------------------------------------------------------------------

/** Wall seconds, or with PS_PERF_CLOCK=cpu the process's CPU seconds (see ps_gemm_test). */
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

int run_perf(int64_t n, int64_t h, int64_t v, bool bf16, int reps) {
    std::mt19937_64 rng(4);
    std::uniform_real_distribution<float> u(-1, 1);
    const float hs = 12.f / std::sqrt((float)h);
    std::vector<float> hid(n * h), head(v * h), dy(n), logp(n), lse(n), dh(n * h), dw(v * h);
    std::vector<uint16_t> hh(bf16 ? v * h : 0);
    std::vector<int32_t> label(n);
    for (float& x : hid) x = u(rng);
    for (float& x : head) x = u(rng) * hs;
    for (size_t i = 0; i < hh.size(); ++i) hh[i] = to_bf16(head[i]), head[i] = from_bf16(hh[i]);
    for (float& x : dy) x = u(rng);
    for (int64_t i = 0; i < n; ++i) label[i] = (int32_t)((i * 7919) % v);
    const ps_dtype F = PS_FLOAT32, hdt = bf16 ? PS_BFLOAT16 : PS_FLOAT32;
    const void* hp = bf16 ? (const void*)hh.data() : (const void*)head.data();
    const double gf = 2.0 * n * h * v * 1e-9;
    std::printf("lm_head N=%lld H=%lld V=%lld head %s, %d threads, median of %d (GFLOP/s counts one product per "
                "pass)\n", (long long)n, (long long)h, (long long)v, bf16 ? "bf16" : "f32", omp_get_max_threads(),
                reps);
    for (int64_t mb : {16, 32, 64, 128}) {
        const int64_t vc = std::min(v, std::max<int64_t>(16, (mb << 20) / 4 / n / 16 * 16));
        const LmHeadChunks c{n, vc};
        const double tf = median_time(reps, [&] {
            ps::cpu::lm_head_logprob_fwd(F, hdt, hid.data(), hp, label.data(), logp.data(), lse.data(), n, h, v, c, 0);
        });
        const double tb = bf16 ? 0 : median_time(reps, [&] {
            ps::cpu::lm_head_logprob_bwd(F, hdt, hid.data(), hp, label.data(), lse.data(), dy.data(), dh.data(),
                                         dw.data(), n, h, v, false, false, c, 0);
        });
        const double tbf = median_time(reps, [&] {
            ps::cpu::lm_head_logprob_bwd(F, hdt, hid.data(), hp, label.data(), lse.data(), dy.data(), dh.data(),
                                         nullptr, n, h, v, false, false, c, 0);
        });
        std::printf("fused, block %3lld MB (%5lld x %6lld): fwd %8.1f ms %6.1f GFLOP/s | bwd %8.1f ms %6.1f | bwd "
                    "frozen head %8.1f ms %6.1f\n", (long long)mb, (long long)n, (long long)vc, tf * 1e3, gf / tf,
                    tb * 1e3, tb > 0 ? 3 * gf / tb : 0.0, tbf * 1e3, 2 * gf / tbf);
    }
    // materialised: logits [n, v] by the GEMM, the label log-prob kernels, the backward's two products
    std::vector<float> logits(n * v), dlogits(n * v);
    const double tf = median_time(reps, [&] {
        ps_gemm_cpu(F, hdt, n, v, h, hid.data(), h, 1, hp, 1, h, logits.data(), v, 0, 0);
        ps_label_logprob_fwd_cpu(F, logits.data(), label.data(), logp.data(), n, v, 0);
    });
    const double tb = median_time(reps, [&] {
        ps_gemm_cpu(F, hdt, n, v, h, hid.data(), h, 1, hp, 1, h, logits.data(), v, 0, 0);
        ps_label_logprob_bwd_cpu(F, logits.data(), label.data(), dy.data(), dlogits.data(), n, v, 0);
        ps_gemm_cpu(F, hdt, n, h, v, dlogits.data(), v, 1, hp, h, 1, dh.data(), h, 0, 0);
        if (!bf16) ps_gemm_cpu(F, F, v, h, n, dlogits.data(), 1, v, hid.data(), h, 1, dw.data(), h, 0, 0);
    });
    std::printf("materialised [N,V] (%.0f MB x 2): fwd %8.1f ms %6.1f GFLOP/s | bwd (logits recomputed) %8.1f ms "
                "%6.1f\n", n * v * 4.0 / 1048576.0, tf * 1e3, gf / tf, tb * 1e3, (bf16 ? 2 : 3) * gf / tb);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc > 1 && !std::strcmp(argv[1], "--perf")) {
        if (argc < 5) {
            std::fprintf(stderr, "usage: ps_lm_head_test --perf N H V [bf16] [reps]\n");
            return 2;
        }
        const bool bf16 = argc > 5 && !std::strcmp(argv[5], "bf16");
        return run_perf(std::atoll(argv[2]), std::atoll(argv[3]), std::atoll(argv[4]), bf16,
                        argc > 6 ? std::atoi(argv[6]) : 3);
    }
    return run_tests();
}
