// The one test harness of the native library (ggml style): every case builds a random prefix-shared row layout,
// runs the CPU kernels through the public C API and compares with a dense float64 reference (masked softmax and
// its analytic gradients). `ps_test` runs the correctness grid (ctest); `ps_test --perf` prints timings
// (PS_PERF_LAYOUT=0/1/2 and PS_PERF_D=64/128 narrow it for perf record; `--perf --tree ...` times the training
// benchmark's shared against paired packing).
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "cpu/kernel_traits.h"
#include "prefixshare/api.h"
#include "layouts.h"
#include "cpu/attention_cpu.h"

using namespace ps_test;

namespace {

// The rule itself (common/mask.h), per element: the reference the tiled kernels are checked against.
bool ref_visible(const Layout& L, int b, int q, int k) {
    return ps::visible(q, k, &L.node[(size_t)b * L.T], &L.end[(size_t)b * L.T]);
}

double visible_pairs(const Layout& L) {
    double n = 0;
    for (int b = 0; b < L.B; ++b)
        for (int q = 0; q < L.T; ++q)
            for (int k = 0; k <= q; ++k) n += ref_visible(L, b, q, k);
    return n;
}

// ---------------------------------------------------------------------------------------------------------------
// Strided tensors [B,T,H,D]
// ---------------------------------------------------------------------------------------------------------------

struct Tensor {
    int B, T, H, D;
    int64_t bs, rs, hs;          // element strides
    std::vector<double> data;    // storage (as double; converted per dtype when running)
    size_t at(int b, int t, int h, int d) const { return (size_t)(b * bs + (int64_t)t * rs + (int64_t)h * hs + d); }
    double& operator()(int b, int t, int h, int d) { return data[at(b, t, h, d)]; }
    double operator()(int b, int t, int h, int d) const { return data[at(b, t, h, d)]; }
};

/** mode 0: dense [B,T,H,D]; 1: head-major [B,H,T,D]; 2: [B,T,H,D+3] (padded rows). */
Tensor make_tensor(int B, int T, int H, int D, int mode) {
    Tensor x{B, T, H, D, 0, 0, 0, {}};
    if (mode == 1) {
        x.hs = (int64_t)T * D, x.rs = D, x.bs = (int64_t)H * T * D;
    } else {
        const int Dp = mode == 2 ? D + 3 : D;
        x.hs = Dp, x.rs = (int64_t)H * Dp, x.bs = (int64_t)T * H * Dp;
    }
    x.data.assign((size_t)(x.bs * B), std::numeric_limits<double>::quiet_NaN());
    return x;
}

void fill_random(Tensor& x, std::mt19937_64& rng, double amp) {
    std::uniform_real_distribution<double> u(-amp, amp);
    for (int b = 0; b < x.B; ++b)
        for (int t = 0; t < x.T; ++t)
            for (int h = 0; h < x.H; ++h)
                for (int d = 0; d < x.D; ++d) x(b, t, h, d) = u(rng);
}

template <class T> std::vector<T> to_typed(const Tensor& x) {
    std::vector<T> v(x.data.size());
    for (size_t i = 0; i < v.size(); ++i) v[i] = (T)x.data[i];
    return v;
}

template <class T> void round_to(Tensor& x) {
    for (double& e : x.data) e = (double)(T)e;
}

// ---------------------------------------------------------------------------------------------------------------
// Dense float64 reference
// ---------------------------------------------------------------------------------------------------------------

struct RefOut {
    Tensor out, dq, dk, dv;
    std::vector<double> lse;  // [B,Hq,T]
};

RefOut reference(const Layout& L, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& dout, double scale) {
    const int B = L.B, T = L.T, Hq = q.H, Hkv = k.H, D = q.D, G = Hq / Hkv;
    RefOut r{make_tensor(B, T, Hq, D, 0), make_tensor(B, T, Hq, D, 0), make_tensor(B, T, Hkv, D, 0),
             make_tensor(B, T, Hkv, D, 0), std::vector<double>((size_t)B * Hq * T)};
    std::fill(r.dk.data.begin(), r.dk.data.end(), 0.0);
    std::fill(r.dv.data.begin(), r.dv.data.end(), 0.0);
    std::vector<double> P((size_t)T * T), dS((size_t)T * T);
    for (int b = 0; b < B; ++b)
        for (int h = 0; h < Hq; ++h) {
            const int kh = h / G;
            for (int i = 0; i < T; ++i) {
                double m = -INFINITY;
                for (int j = 0; j < T; ++j) {
                    double s = -INFINITY;
                    if (ref_visible(L, b, i, j)) {
                        s = 0;
                        for (int d = 0; d < D; ++d) s += q(b, i, h, d) * k(b, j, kh, d);
                        s *= scale;
                    }
                    P[(size_t)i * T + j] = s;
                    m = std::max(m, s);
                }
                double l = 0;
                for (int j = 0; j < T; ++j) {
                    double& e = P[(size_t)i * T + j];
                    e = m == -INFINITY ? 0.0 : std::exp(e - m);
                    l += e;
                }
                r.lse[((size_t)b * Hq + h) * T + i] = l > 0 ? m + std::log(l) : INFINITY;
                for (int j = 0; j < T; ++j) P[(size_t)i * T + j] = l > 0 ? P[(size_t)i * T + j] / l : 0.0;
                double di = 0;
                for (int d = 0; d < D; ++d) {
                    double o = 0;
                    for (int j = 0; j < T; ++j) o += P[(size_t)i * T + j] * v(b, j, kh, d);
                    r.out(b, i, h, d) = o;
                    di += o * dout(b, i, h, d);
                }
                for (int j = 0; j < T; ++j) {
                    double dp = 0;
                    for (int d = 0; d < D; ++d) dp += dout(b, i, h, d) * v(b, j, kh, d);
                    dS[(size_t)i * T + j] = P[(size_t)i * T + j] * (dp - di);
                }
            }
            for (int i = 0; i < T; ++i)
                for (int d = 0; d < D; ++d) {
                    double a = 0;
                    for (int j = 0; j < T; ++j) a += dS[(size_t)i * T + j] * k(b, j, kh, d);
                    r.dq(b, i, h, d) = scale * a;
                }
            for (int j = 0; j < T; ++j)
                for (int d = 0; d < D; ++d) {
                    double a = 0, c = 0;
                    for (int i = 0; i < T; ++i) {
                        a += dS[(size_t)i * T + j] * q(b, i, h, d);
                        c += P[(size_t)i * T + j] * dout(b, i, h, d);
                    }
                    r.dk(b, j, kh, d) += scale * a;
                    r.dv(b, j, kh, d) += c;
                }
        }
    return r;
}

// ---------------------------------------------------------------------------------------------------------------
// Running the kernels
// ---------------------------------------------------------------------------------------------------------------

template <class T> struct Run {
    std::vector<T> q, k, v, out, lse, dout, dq, dk, dv;
    ps_attn_bwd_params p{};
};

template <class T>
void setup_run(Run<T>& r, const Layout& L, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
               const Tensor& dout, const Tensor& dq, const Tensor& dk, const Tensor& dv, double scale, int threads) {
    r.q = to_typed<T>(q), r.k = to_typed<T>(k), r.v = to_typed<T>(v), r.dout = to_typed<T>(dout);
    const T nan = std::numeric_limits<T>::quiet_NaN();
    r.out.assign(out.data.size(), nan);
    r.dq.assign(dq.data.size(), nan);
    r.dk.assign(dk.data.size(), nan);
    r.dv.assign(dv.data.size(), nan);
    r.lse.assign((size_t)L.B * q.H * L.T, nan);
    ps_attn_fwd_params& f = r.p.fwd;
    f.q = r.q.data(), f.k = r.k.data(), f.v = r.v.data(), f.out = r.out.data(), f.lse = r.lse.data();
    f.node = L.node.data(), f.subtree_end = L.end.data();
    f.q_batch_stride = q.bs, f.q_row_stride = q.rs, f.q_head_stride = q.hs;
    f.k_batch_stride = k.bs, f.k_row_stride = k.rs, f.k_head_stride = k.hs;
    f.v_batch_stride = v.bs, f.v_row_stride = v.rs, f.v_head_stride = v.hs;
    f.o_batch_stride = out.bs, f.o_row_stride = out.rs, f.o_head_stride = out.hs;
    f.batch = L.B, f.seqlen = L.T, f.heads_q = q.H, f.heads_kv = k.H, f.head_dim = q.D;
    f.scale = scale;
    f.dtype = sizeof(T) == 4 ? PS_FLOAT32 : PS_FLOAT64;
    f.num_threads = threads;
    r.p.dout = r.dout.data(), r.p.dq = r.dq.data(), r.p.dk = r.dk.data(), r.p.dv = r.dv.data();
    r.p.do_batch_stride = dout.bs, r.p.do_row_stride = dout.rs, r.p.do_head_stride = dout.hs;
    r.p.dq_batch_stride = dq.bs, r.p.dq_row_stride = dq.rs, r.p.dq_head_stride = dq.hs;
    r.p.dk_batch_stride = dk.bs, r.p.dk_row_stride = dk.rs, r.p.dk_head_stride = dk.hs;
    r.p.dv_batch_stride = dv.bs, r.p.dv_row_stride = dv.rs, r.p.dv_head_stride = dv.hs;
}

/**
 * max|a - ref| / max|ref| over the tensor's elements; NaN anywhere (or a mismatch in infinities) gives +inf.
 * The denominator is floored at 1e-3 so a reference that is analytically 0 (e.g. dq with one visible key) is
 * compared absolutely instead of as roundoff / roundoff.
 */
template <class T> double rel_err(const std::vector<T>& a, const Tensor& shape, const Tensor& ref) {
    double num = 0, den = 0;
    for (int b = 0; b < shape.B; ++b)
        for (int t = 0; t < shape.T; ++t)
            for (int h = 0; h < shape.H; ++h)
                for (int d = 0; d < shape.D; ++d) {
                    const double x = (double)a[shape.at(b, t, h, d)], y = ref(b, t, h, d);
                    if (std::isnan(x)) return INFINITY;
                    num = std::max(num, std::fabs(x - y));
                    den = std::max(den, std::fabs(y));
                }
    return num / std::max(den, 1e-3);
}

template <class T> double lse_err(const std::vector<T>& a, const std::vector<double>& ref) {
    double num = 0, den = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
        const double x = (double)a[i], y = ref[i];
        if (std::isnan(x)) return INFINITY;
        if (std::isinf(y) || std::isinf(x)) {
            if (x != y) return INFINITY;
            continue;
        }
        num = std::max(num, std::fabs(x - y));
        den = std::max(den, std::fabs(y));
    }
    return den > 0 ? num / den : num;
}

int g_failures = 0, g_cases = 0;

enum LayoutKind { RANDOM, CAUSAL, PACKED_SHARED, PACKED_PAIRED, TREE };

/**
 * The layout of a case: random rows; causal rows; rows of Tn packed with 8 examples (training_layout); or nested
 * N-way trees (tree_layout).
 */
Layout case_layout(std::mt19937_64& rng, LayoutKind kind, int B, int Tn) {
    switch (kind) {
        case CAUSAL: return causal_layout(B, Tn);
        case PACKED_SHARED: return training_layout(Tn, Tn / 8, Tn / 12, 8, true);
        case PACKED_PAIRED: return training_layout(Tn, Tn / 8, Tn / 12, 8, false);
        case TREE: return tree_layout(rng, B, Tn);
        default: return random_layout(rng, B, Tn);
    }
}

template <class T>
void run_case(std::mt19937_64& rng, int B, int Tn, int Hq, int Hkv, int D, int mode, int threads, int blind,
              double amp = 2.0, LayoutKind kind = RANDOM) {
    Layout L = case_layout(rng, kind, B, Tn);
    B = L.B;
    if (blind > 0) make_blind_rows(L, blind);
    Tensor q = make_tensor(B, Tn, Hq, D, mode), k = make_tensor(B, Tn, Hkv, D, mode == 1 ? 2 : mode),
           v = make_tensor(B, Tn, Hkv, D, 0), dout = make_tensor(B, Tn, Hq, D, mode);
    // Large amplitude so the softmax is far from uniform (exercises the online rescaling); amp 8 makes logits jump
    // by tens between key tiles, so the forward's reference max must move (kRescaleSlack) on most rows.
    fill_random(q, rng, amp), fill_random(k, rng, amp), fill_random(v, rng, 1.0), fill_random(dout, rng, 1.0);
    round_to<T>(q), round_to<T>(k), round_to<T>(v), round_to<T>(dout);
    const double scale = 1.0 / std::sqrt((double)D);
    const RefOut ref = reference(L, q, k, v, dout, scale);
    Tensor out = make_tensor(B, Tn, Hq, D, mode), dq = make_tensor(B, Tn, Hq, D, mode == 2 ? 1 : mode),
           dk = make_tensor(B, Tn, Hkv, D, mode), dv = make_tensor(B, Tn, Hkv, D, mode == 1 ? 0 : mode);

    Run<T> r;
    setup_run(r, L, q, k, v, out, dout, dq, dk, dv, scale, threads);
    int rc = ps_attn_fwd_cpu(&r.p.fwd);
    if (rc == PS_OK) rc = ps_attn_bwd_cpu(&r.p);
    const double tol = sizeof(T) == 4 ? 1e-4 : 1e-9;
    double e[5] = {INFINITY, INFINITY, INFINITY, INFINITY, INFINITY};
    if (rc == PS_OK) {
        e[0] = rel_err(r.out, out, ref.out), e[1] = lse_err(r.lse, ref.lse);
        e[2] = rel_err(r.dq, dq, ref.dq), e[3] = rel_err(r.dk, dk, ref.dk), e[4] = rel_err(r.dv, dv, ref.dv);
    }
    bool ok = rc == PS_OK;
    for (double x : e) ok = ok && x <= tol;
    // Blind queries: out, dq exactly 0 and lse = +inf.
    if (blind > 0 && rc == PS_OK)
        for (int t = 0; t < blind; ++t)
            for (int h = 0; h < Hq; ++h) {
                if (!std::isinf(r.lse[(size_t)h * Tn + t])) ok = false;
                for (int d = 0; d < D; ++d)
                    if (r.out[out.at(0, t, h, d)] != 0 || r.dq[dq.at(0, t, h, d)] != 0) ok = false;
            }
    ++g_cases;
    if (!ok) ++g_failures;
    const ps::cpu::TileShape tiles = sizeof(T) == 4 ? ps::cpu::choose_tiles(L.node.data(), L.end.data(), B, Tn)
                                                    : ps::cpu::TileShape::LARGE;
    std::printf("%s %-4s B=%d T=%4d Hq=%d Hkv=%d D=%3d mode=%d thr=%d blind=%d amp=%g %s tiles  out %.1e lse %.1e dq %.1e dk %.1e dv %.1e%s\n",
                ok ? "  ok" : "FAIL", sizeof(T) == 4 ? "f32" : "f64", B, Tn, Hq, Hkv, D, mode, threads, blind, amp,
                ps::cpu::tile_shape_name(tiles), e[0],
                e[1], e[2], e[3], e[4], rc == PS_OK ? "" : (std::string("  rc=") + ps_last_error()).c_str());
}

void check_errors() {
    float x = 0;
    int32_t n = 0;
    ps_attn_fwd_params p{};
    p.q = p.k = p.v = &x, p.out = p.lse = &x, p.node = p.subtree_end = &n;
    p.batch = 1, p.seqlen = 1, p.heads_q = 3, p.heads_kv = 2, p.head_dim = 8, p.scale = 1, p.dtype = PS_FLOAT32;
    bool ok = ps_attn_fwd_cpu(&p) == PS_ERR_INVALID_ARGUMENT && std::strstr(ps_last_error(), "multiple") != nullptr;
    p.heads_q = 2, p.head_dim = 300;
    ok = ok && ps_attn_fwd_cpu(&p) == PS_ERR_UNSUPPORTED;
    p.head_dim = 8, p.q = nullptr;
    ok = ok && ps_attn_fwd_cpu(&p) == PS_ERR_INVALID_ARGUMENT;
    ok = ok && ps_attn_fwd_cpu(nullptr) == PS_ERR_INVALID_ARGUMENT;
    ok = ok && (ps_capabilities() & (PS_CAP_CPU_FLOAT32 | PS_CAP_CPU_FLOAT64)) == (PS_CAP_CPU_FLOAT32 | PS_CAP_CPU_FLOAT64);
    ++g_cases;
    if (!ok) ++g_failures;
    std::printf("%s argument validation (%s)\n", ok ? "  ok" : "FAIL", ps_last_error());
}

/** The float32 tile choice (choose_tiles) on layouts whose timings set it (attention_cpu.h). */
void check_tile_choice() {
    const Layout causal = causal_layout(2, 1100), shared = training_layout(896, 119, 70, 8, true),
                 paired = training_layout(320, 22, 40, 21, false), aligned = pair_layout(1, 2048, 4),
                 tiny = training_layout(2368, 17, 39, 21, true);
    auto shape = [](const Layout& L) { return ps::cpu::choose_tiles(L.node.data(), L.end.data(), L.B, L.T); };
    using ps::cpu::TileShape;
    // Packed training rows of short documents: small tiles, and 16 x 16 for documents of a few dozen tokens. One long
    // causal document, or documents of 512 tokens that start on tile boundaries: the large tiles waste nothing
    // there, so they stay.
    const bool ok = shape(shared) == TileShape::SMALL && shape(paired) != TileShape::LARGE &&
                    shape(tiny) == TileShape::TINY && shape(causal) == TileShape::LARGE &&
                    shape(aligned) == TileShape::LARGE;
    ++g_cases;
    if (!ok) ++g_failures;
    std::printf("%s tile choice: packed shared rows %s, packed paired rows %s, 17 + 2 x 39-token trees %s, causal %s, "
                "tile-aligned documents %s\n",
                ok ? "  ok" : "FAIL", tile_shape_name(shape(shared)), tile_shape_name(shape(paired)),
                tile_shape_name(shape(tiny)), tile_shape_name(shape(causal)), tile_shape_name(shape(aligned)));
}

int run_tests() {
    std::mt19937_64 rng(12345);
    std::printf("prefixshare %s, caps 0x%x, %d OpenMP threads\n", ps_version(), ps_capabilities(), omp_get_max_threads());
    check_errors();
    const int heads[4][2] = {{1, 1}, {4, 2}, {8, 8}, {8, 2}};
    const int dims[5] = {16, 32, 59, 64, 128};  // 32, 64, 128: compiled fast paths
    const int lens[3] = {97, 130, 257};
    int c = 0;
    for (int dt = 0; dt < 2; ++dt)
        for (int di = 0; di < 5; ++di)
            for (int hi = 0; hi < 4; ++hi, ++c) {
                const int Tn = lens[c % 3], B = 1 + (c % 2), mode = c % 3, threads = (c % 4 == 3) ? 3 : (c % 4 == 1 ? 1 : 0);
                const int blind = (c % 5 == 0) ? 1 + (int)(rng() % 9) : 0;
                if (dt == 0)
                    run_case<float>(rng, B, Tn, heads[hi][0], heads[hi][1], dims[di], mode, threads, blind);
                else
                    run_case<double>(rng, B, Tn, heads[hi][0], heads[hi][1], dims[di], mode, threads, blind);
            }
    // Odd sizes: T smaller than a tile, a single token, T = 1025.
    run_case<double>(rng, 1, 1, 2, 1, 7, 0, 0, 0);
    run_case<float>(rng, 2, 5, 2, 2, 1, 1, 0, 0);
    run_case<double>(rng, 1, 1025, 2, 1, 32, 0, 0, 3);
    run_case<float>(rng, 1, 1025, 2, 2, 256, 2, 0, 0);
    // One long causal document per row: the float32 kernels' large tiles (most cases above take the small ones).
    run_case<float>(rng, 1, 1100, 4, 2, 32, 0, 0, 0, 2.0, CAUSAL);
    run_case<float>(rng, 2, 1030, 8, 2, 64, 1, 3, 0, 2.0, CAUSAL);
    run_case<float>(rng, 1, 1050, 2, 1, 128, 2, 0, 0, 2.0, CAUSAL);
    run_case<float>(rng, 1, 1040, 2, 2, 59, 0, 1, 0, 2.0, CAUSAL);
    // Rows packed with short documents (bench training's packed modes): the float32 kernels' 32 x 32 or 16 x 16 tiles.
    run_case<float>(rng, 0, 320, 4, 2, 32, 0, 1, 0, 2.0, PACKED_SHARED);
    run_case<float>(rng, 0, 320, 4, 2, 32, 1, 0, 0, 8.0, PACKED_PAIRED);
    run_case<float>(rng, 0, 448, 8, 2, 64, 2, 3, 0, 2.0, PACKED_SHARED);
    run_case<float>(rng, 0, 384, 2, 1, 128, 0, 0, 0, 2.0, PACKED_PAIRED);
    run_case<float>(rng, 0, 320, 2, 2, 59, 1, 1, 0, 2.0, PACKED_SHARED);
    run_case<double>(rng, 0, 320, 4, 2, 32, 2, 0, 0, 2.0, PACKED_SHARED);
    // Longer packed documents (prompt 112, responses 74): the 32 x 32 tiles, every head-dim path.
    run_case<float>(rng, 0, 896, 4, 2, 32, 0, 0, 0, 2.0, PACKED_SHARED);
    run_case<float>(rng, 0, 896, 4, 2, 64, 1, 3, 0, 2.0, PACKED_SHARED);
    run_case<float>(rng, 0, 896, 2, 1, 128, 2, 1, 0, 2.0, PACKED_PAIRED);
    run_case<float>(rng, 0, 896, 2, 2, 59, 0, 0, 0, 2.0, PACKED_SHARED);
    // Nested N-way trees (depth up to 3, 1-4 branches, empty inner nodes), odd lengths, padded rows.
    run_case<double>(rng, 2, 389, 4, 2, 32, 0, 0, 0, 2.0, TREE);
    run_case<float>(rng, 1, 701, 4, 2, 64, 1, 3, 0, 2.0, TREE);
    check_tile_choice();
    // Peaked softmax: logits of spread ~50, so row maxima move far between key tiles.
    run_case<float>(rng, 2, 700, 4, 2, 64, 0, 0, 0, 8.0);
    run_case<double>(rng, 1, 700, 2, 1, 128, 0, 0, 0, 8.0);
    std::printf("%d/%d cases passed\n", g_cases - g_failures, g_cases);
    return g_failures == 0 ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------------------------
// --perf
// ---------------------------------------------------------------------------------------------------------------

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

/** Median of the timings, or their minimum with PS_PERF_MIN set (diagnostics on a busy machine). */
double summarize_times(std::vector<double> t) {
    std::sort(t.begin(), t.end());
    return getenv("PS_PERF_MIN") ? t[0] : t[t.size() / 2];
}

template <class F> double median_time(F&& f, int reps) {
    f();  // warm up
    std::vector<double> t;
    for (int i = 0; i < reps; ++i) {
        const double t0 = now();
        f();
        t.push_back(now() - t0);
    }
    return summarize_times(t);
}

/** One layout ready to time: random q, k, v, dO and output arrays in r; one untimed forward + backward. */
void prepare_perf_run(Run<float>& r, const Layout& L, int Tn, int D, int Hq, int Hkv, std::mt19937_64& rng) {
    Tensor q = make_tensor(L.B, Tn, Hq, D, 0), k = make_tensor(L.B, Tn, Hkv, D, 0), v = make_tensor(L.B, Tn, Hkv, D, 0),
           dout = make_tensor(L.B, Tn, Hq, D, 0);
    fill_random(q, rng, 1), fill_random(k, rng, 1), fill_random(v, rng, 1), fill_random(dout, rng, 1);
    Tensor out = make_tensor(L.B, Tn, Hq, D, 0), dq = out, dk = k, dv = k;
    setup_run(r, L, q, k, v, out, dout, dq, dk, dv, 1.0 / std::sqrt((double)D), 0);
    ps_attn_fwd_cpu(&r.p.fwd);
    ps_attn_bwd_cpu(&r.p);
}

/** Appends the time of one forward and one backward of r to tf and tb. */
void time_fwd_bwd(Run<float>& r, std::vector<double>& tf, std::vector<double>& tb) {
    // PS_PERF_PASS=fwd or bwd runs only that pass (the other's time reads 0), for perf record.
    const char* pass = getenv("PS_PERF_PASS");
    double t0 = now();
    if (!pass || !std::strcmp(pass, "fwd")) ps_attn_fwd_cpu(&r.p.fwd);
    tf.push_back(now() - t0);
    t0 = now();
    if (!pass || !std::strcmp(pass, "bwd")) ps_attn_bwd_cpu(&r.p);
    tb.push_back(now() - t0);
}

/** Our own micro-kernel on a plain GEMM (M=N=2048, K=D): an upper bound of what the attention tiles can reach. */
void perf_gemm(int K, int reps) {
    const int M = 2048, N = 2048, BMt = 64, BNt = 64;
    std::vector<float> A((size_t)M * K), Bp((size_t)N * K), C((size_t)M * N);
    std::mt19937_64 rng(1);
    std::uniform_real_distribution<float> u(-1, 1);
    for (float& x : A) x = u(rng);
    for (float& x : Bp) x = u(rng);  // packed panels: [N/BNt][K][BNt]
    const double t = median_time([&] {
#pragma omp parallel for schedule(dynamic, 1) collapse(2)
        for (int i = 0; i < M / BMt; ++i)
            for (int j = 0; j < N / BNt; ++j)
                ps::cpu::tile_gemm<float, 0, false>(BMt, BNt, K, &A[(size_t)i * BMt * K], K, 1, &Bp[(size_t)j * K * BNt],
                                                    BNt, &C[(size_t)i * BMt * N + j * BNt], N);
    }, reps);
    std::printf("tile-gemm reference  M=N=2048 K=%3d : %7.1f GFLOP/s\n", K, 2.0 * M * N * K / t * 1e-9);
}

/**
 * --perf --tree T P C D Hq Hkv N: N examples (prompt P, responses C) packed in rows of T, prefix-shared against
 * paired (each sequence its own document), forward + backward; time ratio against the visible-area ratio.
 */
int run_perf_tree(char** a, int reps) {
    const int Tn = std::atoi(a[0]), P = std::atoi(a[1]), C = std::atoi(a[2]), D = std::atoi(a[3]), Hq = std::atoi(a[4]),
              Hkv = std::atoi(a[5]), N = std::atoi(a[6]);
    std::mt19937_64 rng(7);
    Layout L[2] = {training_layout(Tn, P, C, N, false), training_layout(Tn, P, C, N, true)};
    Run<float> r[2];
    double vis[2];
    for (int i = 0; i < 2; ++i) {
        vis[i] = visible_pairs(L[i]);
        prepare_perf_run(r[i], L[i], Tn, D, Hq, Hkv, rng);
    }
    std::vector<double> tf[2], tb[2];
    for (int rep = 0; rep < reps; ++rep)
        for (int i = 0; i < 2; ++i) time_fwd_bwd(r[i], tf[i], tb[i]);
    double f[2], bw[2];
    for (int i = 0; i < 2; ++i) f[i] = summarize_times(tf[i]), bw[i] = summarize_times(tb[i]);
    const char* names[2] = {"paired", "shared"};
    for (int i = 0; i < 2; ++i)
        std::printf("tree T=%d P=%d C=%d D=%d Hq=%d Hkv=%d N=%d %-6s rows %3d visible %10.0f : fwd %7.3f ms bwd %7.3f ms "
                    "(%5.1f GFLOP/s fwd+bwd)\n", Tn, P, C, D, Hq, Hkv, N, names[i], L[i].B, vis[i], f[i] * 1e3,
                    bw[i] * 1e3, 3.5 * 4 * vis[i] * D * Hq / (f[i] + bw[i]) * 1e-9);
    std::printf("speedup shared/paired fwd+bwd %.3f, visible-area ideal %.3f\n",
                (f[0] + bw[0]) / (f[1] + bw[1]), vis[0] / vis[1]);
    return 0;
}

int run_perf(int argc, char** argv) {
    int reps = 5;
    std::vector<int> lens = {512, 1024, 2048, 4096};
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::atoi(argv[++i]);
        if (!std::strcmp(argv[i], "--T") && i + 1 < argc) lens = {std::atoi(argv[++i])};
        if (!std::strcmp(argv[i], "--tree") && i + 7 < argc) return run_perf_tree(argv + i + 1, reps);
    }
    // PS_PERF_HKV picks the kv heads (GQA), PS_PERF_D one head dim, PS_PERF_LAYOUT=0|1|2 one layout and PS_PERF_PASS
    // one pass (for perf record).
    const int Hq = 8, Hkv = getenv("PS_PERF_HKV") ? std::atoi(getenv("PS_PERF_HKV")) : 8, B = 1;
    const int only = getenv("PS_PERF_LAYOUT") ? std::atoi(getenv("PS_PERF_LAYOUT")) : -1;
    std::printf("perf: float32, B=%d Hq=%d Hkv=%d, %d threads, median of %d; GFLOP/s on the visible area\n"
                "      (fwd flops = 4 * visible * D * Hq; bwd flops = 2.5 x fwd)\n",
                B, Hq, Hkv, omp_get_max_threads(), reps);
    perf_gemm(64, reps);
    perf_gemm(128, reps);
    std::mt19937_64 rng(7);
    const char* names[3] = {"causal", "pair", "packed"};
    for (int Tn : lens)
        for (int D : {64, 128}) {
            if (getenv("PS_PERF_D") && D != std::atoi(getenv("PS_PERF_D"))) continue;
            // The layouts are timed round-robin inside each repetition, so a change of machine load hits all of
            // them alike and the time ratios stay meaningful on a shared machine.
            Layout L[3] = {causal_layout(B, Tn), pair_layout(B, Tn, 1), pair_layout(B, Tn, 4)};
            double vis[3], f[3], bw[3];
            Run<float> r[3];
            std::vector<double> tf[3], tb[3];
            for (int lay = 0; lay < 3; ++lay) {
                vis[lay] = visible_pairs(L[lay]);
                if (only < 0 || lay == only) prepare_perf_run(r[lay], L[lay], Tn, D, Hq, Hkv, rng);
            }
            for (int rep = 0; rep < reps; ++rep)
                for (int lay = 0; lay < 3; ++lay)
                    if (only < 0 || lay == only) time_fwd_bwd(r[lay], tf[lay], tb[lay]);
            for (int lay = 0; lay < 3; ++lay) {
                if (only >= 0 && lay != only) continue;
                f[lay] = summarize_times(tf[lay]), bw[lay] = summarize_times(tb[lay]);
                const double ff = 4.0 * vis[lay] * D * Hq;
                std::printf("T=%4d D=%3d %-6s visible %5.3f : fwd %7.2f ms %6.1f GFLOP/s | bwd %7.2f ms %6.1f GFLOP/s",
                            Tn, D, names[lay], vis[lay] / ((double)Tn * Tn), f[lay] * 1e3, ff / f[lay] * 1e-9,
                            bw[lay] * 1e3, 2.5 * ff / bw[lay] * 1e-9);
                if (lay == 0 || only >= 0)
                    std::printf("\n");
                else
                    std::printf(" | time/causal fwd %.3f bwd %.3f vs visible/causal %.3f\n", f[lay] / f[0],
                                bw[lay] / bw[0], vis[lay] / vis[0]);
            }
        }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc > 1 && !std::strcmp(argv[1], "--perf")) return run_perf(argc, argv);
    return run_tests();
}
