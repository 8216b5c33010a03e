// Standalone harness of the CUDA kernels (no Java): random prefix-shared layouts (as in test_harness.cpp), the CPU
// kernels as the reference (run on the same, dtype-rounded inputs), outputs poisoned with NaN before every CUDA
// run, every CUDA call checked. Tolerances (max |cuda - cpu| / max |cpu|): out, dq, dk, dv 1e-4 for fp32 inputs and
// 1e-2 for bf16 / fp16; lse 1e-4 for every dtype (it is float32 always: a bf16 lse would be off by ~2e-3).
// Each case runs the CUDA kernels twice on the same inputs: out, lse, dk and dv must be bitwise equal (a difference
// is a race), dq within 2 units of its type's rounding (1e-5 for fp32: its fp32 atomics sum in any order).
//
//   ps_cuda_test                  correctness grid (ctest); exits 77 ("no GPU: skipped") without an sm_80+ device
//   ps_cuda_test --perf           timings (CUDA events) on the benchmark shapes: T in {1024..8192}, D=128, Hq=32,
//                                 Hkv=8, bf16, pair and packed layouts
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "common/mask.h"
#include "prefixshare/api.h"
#include "layouts.h"

#define CK(call)                                                                                              \
    do {                                                                                                      \
        cudaError_t err_ = (call);                                                                            \
        if (err_ != cudaSuccess) {                                                                            \
            std::fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(err_)); \
            std::exit(2);                                                                                     \
        }                                                                                                     \
    } while (0)

#define PS_CK(call)                                                                                           \
    do {                                                                                                      \
        if ((call) != PS_OK) {                                                                                \
            std::fprintf(stderr, "%s:%d: %s failed: %s / %s\n", __FILE__, __LINE__, #call, ps_last_error(),   \
                         ps_cuda_last_error());                                                               \
            std::exit(2);                                                                                     \
        }                                                                                                     \
    } while (0)

using namespace ps_test;

namespace {


double visible_fraction(const Layout& L) {
    double n = 0;
    for (int b = 0; b < L.B; ++b) {
        const int32_t* node = &L.node[(size_t)b * L.T];
        const int32_t* end = &L.end[(size_t)b * L.T];
        for (int q = 0; q < L.T; ++q)
            for (int k = 0; k <= q; ++k) n += ps::visible(q, k, node, end);
    }
    return n / ((double)L.B * L.T * L.T);
}

// ---------------------------------------------------------------------------------------------------------------
// Strided tensors [B,T,H,D] on the host (float), typed copies on the device
// ---------------------------------------------------------------------------------------------------------------

struct Tensor {
    int B, T, H, D;
    int64_t bs, rs, hs;
    std::vector<float> data;
    size_t at(int b, int t, int h, int d) const { return (size_t)(b * bs + (int64_t)t * rs + (int64_t)h * hs + d); }
};

/** mode 0: dense [B,T,H,D]; 1: head-major [B,H,T,D]; 2: [B,T,H,D+3] (padded rows: no 16-byte loads). */
Tensor make_tensor(int B, int T, int H, int D, int mode) {
    Tensor x{B, T, H, D, 0, 0, 0, {}};
    if (mode == 1) {
        x.hs = (int64_t)T * D, x.rs = D, x.bs = (int64_t)H * T * D;
    } else {
        const int Dp = mode == 2 ? D + 3 : D;
        x.hs = Dp, x.rs = (int64_t)H * Dp, x.bs = (int64_t)T * H * Dp;
    }
    x.data.assign((size_t)(x.bs * B), 0.f);
    return x;
}

float round_dtype(float x, ps_dtype t) {
    if (t == PS_BFLOAT16) return __bfloat162float(__float2bfloat16_rn(x));
    if (t == PS_FLOAT16) return __half2float(__float2half_rn(x));
    return x;
}

void fill_random(Tensor& x, std::mt19937_64& rng, float amp, ps_dtype t) {
    std::uniform_real_distribution<float> u(-amp, amp);
    for (int b = 0; b < x.B; ++b)
        for (int s = 0; s < x.T; ++s)
            for (int h = 0; h < x.H; ++h)
                for (int d = 0; d < x.D; ++d) x.data[x.at(b, s, h, d)] = round_dtype(u(rng), t);
}

size_t elem_size(ps_dtype t) { return t == PS_FLOAT32 ? 4 : 2; }
const char* dtype_name(ps_dtype t) {
    return t == PS_FLOAT32 ? "f32" : t == PS_BFLOAT16 ? "bf16" : t == PS_FLOAT16 ? "f16" : "?";
}

struct DevBuf {
    void* p = nullptr;
    size_t bytes = 0;
    DevBuf() = default;
    explicit DevBuf(size_t n) : bytes(n) { CK(cudaMalloc(&p, std::max<size_t>(n, 16))); }
    ~DevBuf() {
        if (p) cudaFree(p);
    }
    DevBuf(const DevBuf&) = delete;
    DevBuf& operator=(const DevBuf&) = delete;
    void poison() { CK(cudaMemset(p, 0xFF, bytes)); }  // 0xFF.. is NaN in f32, bf16 and f16
};

void upload(DevBuf& dst, const std::vector<float>& src, ps_dtype t) {
    std::vector<unsigned char> tmp(src.size() * elem_size(t));
    for (size_t i = 0; i < src.size(); ++i) {
        if (t == PS_FLOAT32) std::memcpy(&tmp[i * 4], &src[i], 4);
        else if (t == PS_BFLOAT16) {
            __nv_bfloat16 v = __float2bfloat16_rn(src[i]);
            std::memcpy(&tmp[i * 2], &v, 2);
        } else {
            __half v = __float2half_rn(src[i]);
            std::memcpy(&tmp[i * 2], &v, 2);
        }
    }
    CK(cudaMemcpy(dst.p, tmp.data(), tmp.size(), cudaMemcpyHostToDevice));
}

std::vector<float> download(const DevBuf& src, size_t n, ps_dtype t) {
    std::vector<unsigned char> tmp(n * elem_size(t));
    CK(cudaMemcpy(tmp.data(), src.p, tmp.size(), cudaMemcpyDeviceToHost));
    std::vector<float> out(n);
    for (size_t i = 0; i < n; ++i) {
        if (t == PS_FLOAT32) std::memcpy(&out[i], &tmp[i * 4], 4);
        else if (t == PS_BFLOAT16) {
            __nv_bfloat16 v;
            std::memcpy(&v, &tmp[i * 2], 2);
            out[i] = __bfloat162float(v);
        } else {
            __half v;
            std::memcpy(&v, &tmp[i * 2], 2);
            out[i] = __half2float(v);
        }
    }
    return out;
}

/** max |a - ref| / max(max |ref|, 1e-3) over the logical elements; NaN gives +inf. */
double rel_err(const std::vector<float>& a, const Tensor& ref) {
    double num = 0, den = 0;
    for (int b = 0; b < ref.B; ++b)
        for (int t = 0; t < ref.T; ++t)
            for (int h = 0; h < ref.H; ++h)
                for (int d = 0; d < ref.D; ++d) {
                    const size_t i = ref.at(b, t, h, d);
                    const double x = a[i], y = ref.data[i];
                    if (std::isnan(x) || std::isnan(y)) return INFINITY;
                    num = std::max(num, std::fabs(x - y));
                    den = std::max(den, std::fabs(y));
                }
    return num / std::max(den, 1e-3);
}

double lse_err(const std::vector<float>& a, const std::vector<float>& ref) {
    double num = 0, den = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
        const double x = a[i], y = ref[i];
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

// ---------------------------------------------------------------------------------------------------------------
// One case: CPU fp32 reference vs CUDA
// ---------------------------------------------------------------------------------------------------------------

int g_cases = 0, g_failures = 0;

void fill_fwd_strides(ps_attn_fwd_params& f, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& o) {
    f.q_batch_stride = q.bs, f.q_row_stride = q.rs, f.q_head_stride = q.hs;
    f.k_batch_stride = k.bs, f.k_row_stride = k.rs, f.k_head_stride = k.hs;
    f.v_batch_stride = v.bs, f.v_row_stride = v.rs, f.v_head_stride = v.hs;
    f.o_batch_stride = o.bs, f.o_row_stride = o.rs, f.o_head_stride = o.hs;
}

void fill_bwd_strides(ps_attn_bwd_params& p, const Tensor& g, const Tensor& dq, const Tensor& dk, const Tensor& dv) {
    p.do_batch_stride = g.bs, p.do_row_stride = g.rs, p.do_head_stride = g.hs;
    p.dq_batch_stride = dq.bs, p.dq_row_stride = dq.rs, p.dq_head_stride = dq.hs;
    p.dk_batch_stride = dk.bs, p.dk_row_stride = dk.rs, p.dk_head_stride = dk.hs;
    p.dv_batch_stride = dv.bs, p.dv_row_stride = dv.rs, p.dv_head_stride = dv.hs;
}

/** max |a - b| / max |b| over all elements (NaN anywhere: +inf). */
double rerun_diff(const std::vector<float>& a, const std::vector<float>& b) {
    double num = 0, den = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        if (std::isnan(a[i]) != std::isnan(b[i])) return INFINITY;
        if (std::isnan(a[i])) continue;  // padding gaps of strided layouts: never written, identical NaN poison
        if (std::isinf(a[i]) || std::isinf(b[i])) {
            if (a[i] != b[i]) return INFINITY;
            continue;
        }
        num = std::max(num, (double)std::fabs(a[i] - b[i]));
        den = std::max(den, (double)std::fabs(b[i]));
    }
    return den > 0 ? num / den : num;
}

void run_case(std::mt19937_64& rng, const char* what, const Layout& L, int Hq, int Hkv, int D, int mode, ps_dtype dt) {
    const int B = L.B, T = L.T;
    Tensor q = make_tensor(B, T, Hq, D, mode), k = make_tensor(B, T, Hkv, D, mode == 1 ? 2 : mode),
           v = make_tensor(B, T, Hkv, D, 0), g = make_tensor(B, T, Hq, D, mode);
    fill_random(q, rng, 2.f, dt), fill_random(k, rng, 2.f, dt), fill_random(v, rng, 1.f, dt);
    fill_random(g, rng, 1.f, dt);
    const double scale = 1.0 / std::sqrt((double)D);

    // CPU reference (fp32 on the same rounded inputs)
    Tensor o = make_tensor(B, T, Hq, D, mode), dq = make_tensor(B, T, Hq, D, mode == 2 ? 0 : mode),
           dk = make_tensor(B, T, Hkv, D, mode), dv = make_tensor(B, T, Hkv, D, 0);
    std::vector<float> lse((size_t)B * Hq * T);
    ps_attn_bwd_params c{};
    c.fwd.q = q.data.data(), c.fwd.k = k.data.data(), c.fwd.v = v.data.data(), c.fwd.out = o.data.data();
    c.fwd.lse = lse.data(), c.fwd.node = L.node.data(), c.fwd.subtree_end = L.end.data();
    fill_fwd_strides(c.fwd, q, k, v, o);
    c.fwd.batch = B, c.fwd.seqlen = T, c.fwd.heads_q = Hq, c.fwd.heads_kv = Hkv, c.fwd.head_dim = D;
    c.fwd.scale = scale, c.fwd.dtype = PS_FLOAT32, c.fwd.num_threads = 0;
    PS_CK(ps_attn_fwd_cpu(&c.fwd));
    c.dout = g.data.data(), c.dq = dq.data.data(), c.dk = dk.data.data(), c.dv = dv.data.data();
    fill_bwd_strides(c, g, dq, dk, dv);
    PS_CK(ps_attn_bwd_cpu(&c));

    // CUDA
    const size_t nlse = lse.size();
    DevBuf dQ(q.data.size() * elem_size(dt)), dK(k.data.size() * elem_size(dt)), dV(v.data.size() * elem_size(dt)),
        dG(g.data.size() * elem_size(dt)), dO(o.data.size() * elem_size(dt)), dL(nlse * sizeof(float)),
        dNode(L.node.size() * 4), dEnd(L.end.size() * 4), ddQ(dq.data.size() * elem_size(dt)),
        ddK(dk.data.size() * elem_size(dt)), ddV(dv.data.size() * elem_size(dt));
    upload(dQ, q.data, dt), upload(dK, k.data, dt), upload(dV, v.data, dt), upload(dG, g.data, dt);
    CK(cudaMemcpy(dNode.p, L.node.data(), dNode.bytes, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dEnd.p, L.end.data(), dEnd.bytes, cudaMemcpyHostToDevice));
    // The gap elements of padded layouts stay NaN in the reference too (never compared).
    ps_attn_bwd_params p = c;
    p.fwd.q = dQ.p, p.fwd.k = dK.p, p.fwd.v = dV.p, p.fwd.out = dO.p, p.fwd.lse = dL.p;
    p.fwd.node = (const int32_t*)dNode.p, p.fwd.subtree_end = (const int32_t*)dEnd.p, p.fwd.dtype = dt;
    p.dout = dG.p, p.dq = ddQ.p, p.dk = ddK.p, p.dv = ddV.p;
    std::vector<float> got[2][5];  // per run: out, lse, dq, dk, dv
    for (int run = 0; run < 2; ++run) {
        dO.poison(), dL.poison(), ddQ.poison(), ddK.poison(), ddV.poison();
        PS_CK(ps_attn_fwd_cuda(&p.fwd, nullptr));
        CK(cudaGetLastError());
        CK(cudaDeviceSynchronize());
        PS_CK(ps_attn_bwd_cuda(&p, nullptr));
        CK(cudaGetLastError());
        CK(cudaDeviceSynchronize());
        got[run][0] = download(dO, o.data.size(), dt);
        got[run][1] = download(dL, nlse, PS_FLOAT32);
        got[run][2] = download(ddQ, dq.data.size(), dt);
        got[run][3] = download(ddK, dk.data.size(), dt);
        got[run][4] = download(ddV, dv.data.size(), dt);
    }

    const double tol = dt == PS_FLOAT32 ? 1e-4 : 1e-2;
    const double e_o = rel_err(got[0][0], o);
    const double e_l = lse_err(got[0][1], lse);
    const double e_q = rel_err(got[0][2], dq);
    const double e_k = rel_err(got[0][3], dk);
    const double e_v = rel_err(got[0][4], dv);
    // rerun: bitwise for everything but dq; dq within 2 units of rounding of its type (relative to its max)
    double rerun_exact = 0;
    for (int i : {0, 1, 3, 4}) rerun_exact = std::max(rerun_exact, rerun_diff(got[1][i], got[0][i]));
    const double rerun_dq = rerun_diff(got[1][2], got[0][2]);
    // fp32: a different summation order (~n eps of the partial sums); 16-bit: one rounding flip = 1 ulp <= 2^-7
    // (bf16) or 2^-10 (fp16) of the element, doubled
    const double dq_ulps = dt == PS_FLOAT32 ? 1e-5 : dt == PS_BFLOAT16 ? 0x1p-6 : 0x1p-9;
    const bool ok = std::max({e_o, e_q, e_k, e_v}) <= tol && e_l <= 1e-4 && rerun_exact == 0 && rerun_dq <= dq_ulps;
    ++g_cases;
    if (!ok) ++g_failures;
    std::printf("%s %-8s %-5s B=%d T=%-5d Hq=%-2d Hkv=%-2d D=%-3d mode=%d  out %.2e lse %.2e dq %.2e dk %.2e dv %.2e"
                "  rerun %.1e dq %.1e\n",
                ok ? "ok  " : "FAIL", what, dtype_name(dt), B, T, Hq, Hkv, D, mode, e_o, e_l, e_q, e_k, e_v,
                rerun_exact, rerun_dq);
}

// ---------------------------------------------------------------------------------------------------------------
// Timings: CUDA events, min over iterations
// ---------------------------------------------------------------------------------------------------------------

void perf(int iters) {
    std::mt19937_64 rng(7);
    const int Hq = 32, Hkv = 8, D = 128;
    const ps_dtype dt = PS_BFLOAT16;
    std::printf("layout,T,B,visible_frac,fwd_ms,bwd_ms,fwd_tflops_visible,bwd_tflops_visible\n");
    for (const char* name : {"pair", "packed"}) {
        for (int T : {1024, 2048, 4096, 8192}) {
            const int B = std::max(1, 16384 / T);
            Layout L = std::strcmp(name, "pair") == 0 ? pair_layout(B, T, 1) : pair_layout(B, T, std::max(1, T / 1024));
            Tensor q = make_tensor(B, T, Hq, D, 0), k = make_tensor(B, T, Hkv, D, 0), v = make_tensor(B, T, Hkv, D, 0);
            fill_random(q, rng, 1.f, dt), fill_random(k, rng, 1.f, dt), fill_random(v, rng, 1.f, dt);
            DevBuf dQ(q.data.size() * 2), dK(k.data.size() * 2), dV(v.data.size() * 2), dO(q.data.size() * 2),
                dG(q.data.size() * 2), dL((size_t)B * Hq * T * 4), dNode(L.node.size() * 4), dEnd(L.end.size() * 4),
                ddQ(q.data.size() * 2), ddK(k.data.size() * 2), ddV(v.data.size() * 2);
            upload(dQ, q.data, dt), upload(dK, k.data, dt), upload(dV, v.data, dt), upload(dG, q.data, dt);
            CK(cudaMemcpy(dNode.p, L.node.data(), dNode.bytes, cudaMemcpyHostToDevice));
            CK(cudaMemcpy(dEnd.p, L.end.data(), dEnd.bytes, cudaMemcpyHostToDevice));
            ps_attn_bwd_params p{};
            p.fwd.q = dQ.p, p.fwd.k = dK.p, p.fwd.v = dV.p, p.fwd.out = dO.p, p.fwd.lse = dL.p;
            p.fwd.node = (const int32_t*)dNode.p, p.fwd.subtree_end = (const int32_t*)dEnd.p;
            fill_fwd_strides(p.fwd, q, k, v, q);
            p.fwd.batch = B, p.fwd.seqlen = T, p.fwd.heads_q = Hq, p.fwd.heads_kv = Hkv, p.fwd.head_dim = D;
            p.fwd.scale = 1.0 / std::sqrt((double)D), p.fwd.dtype = dt;
            p.dout = dG.p, p.dq = ddQ.p, p.dk = ddK.p, p.dv = ddV.p;
            fill_bwd_strides(p, q, q, k, k);
            cudaEvent_t e0, e1;
            CK(cudaEventCreate(&e0));
            CK(cudaEventCreate(&e1));
            float best_f = 1e30f, best_b = 1e30f;
            for (int it = 0; it < iters + 2; ++it) {
                float ms = 0;
                CK(cudaEventRecord(e0));
                PS_CK(ps_attn_fwd_cuda(&p.fwd, nullptr));
                CK(cudaEventRecord(e1));
                CK(cudaEventSynchronize(e1));
                CK(cudaEventElapsedTime(&ms, e0, e1));
                if (it >= 2) best_f = std::min(best_f, ms);
                CK(cudaEventRecord(e0));
                PS_CK(ps_attn_bwd_cuda(&p, nullptr));
                CK(cudaEventRecord(e1));
                CK(cudaEventSynchronize(e1));
                CK(cudaEventElapsedTime(&ms, e0, e1));
                if (it >= 2) best_b = std::min(best_b, ms);
            }
            CK(cudaEventDestroy(e0));
            CK(cudaEventDestroy(e1));
            const double vis = visible_fraction(L);
            const double fl = 4.0 * B * Hq * (double)T * T * D * vis;  // fwd: 2 matmuls x 2 flops on the visible area
            std::printf("%s,%d,%d,%.4f,%.3f,%.3f,%.1f,%.1f\n", name, T, B, vis, best_f, best_b, fl / best_f * 1e-9,
                        2.5 * fl / best_b * 1e-9);
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0 || ps_cuda_capabilities() == 0) {
        std::printf("no GPU: skipped (no CUDA device of compute capability 8.0 or newer is visible)\n");
        return 77;
    }
    cudaDeviceProp prop{};
    CK(cudaGetDeviceProperties(&prop, 0));
    int driver = 0, runtime = 0;
    CK(cudaDriverGetVersion(&driver));
    CK(cudaRuntimeGetVersion(&runtime));
    std::printf("device 0: %s (sm_%d%d), driver API %d, runtime %d\n", prop.name, prop.major, prop.minor, driver,
                runtime);
    if (argc > 1 && std::strcmp(argv[1], "--perf") == 0) {
        perf(argc > 2 ? std::atoi(argv[2]) : 10);
        return 0;
    }

    std::mt19937_64 rng(1234);
    for (ps_dtype dt : {PS_FLOAT32, PS_BFLOAT16, PS_FLOAT16}) {
        for (int D : {64, 128}) {
            // odd lengths (FlashAttention's rule), partial last tiles, tiles of one token
            for (int T : {1, 17, 64, 97, 130, 257, 1025}) {
                const int mode = (T + D) % 3;
                run_case(rng, "random", random_layout(rng, 2, T), 4, 2, D, mode, dt);
            }
            run_case(rng, "gqa8", random_layout(rng, 1, 300), 8, 1, D, 0, dt);
            run_case(rng, "mha", random_layout(rng, 1, 200), 3, 3, D, 1, dt);
            run_case(rng, "causal", causal_layout(2, 333), 4, 2, D, 0, dt);
            run_case(rng, "pair", pair_layout(1, 512, 1), 4, 1, D, 0, dt);
            run_case(rng, "pair-odd", pair_layout(1, 777, 1), 4, 2, D, 1, dt);     // 1 padding token after the pair
            run_case(rng, "packed", pair_layout(2, 1024, 4), 4, 2, D, 0, dt);
            run_case(rng, "pack-odd", pair_layout(2, 1001, 3), 6, 2, D, 2, dt);    // 3 groups + 5 padding tokens
            // N-way trees of depth up to 3 (nested prompts, 1-4 branches), odd lengths, padded rows
            run_case(rng, "tree", tree_layout(rng, 3, 389), 4, 2, D, 0, dt);
            run_case(rng, "tree-gqa", tree_layout(rng, 2, 1031, 2), 8, 2, D, 1, dt);
            // the training pipeline's rows: prompt + chosen + rejected per example, padding a node per token
            run_case(rng, "train", training_layout(611, 97, 41, 7, true), 4, 2, D, 0, dt);
            Layout blind = random_layout(rng, 2, 200);
            make_blind_rows(blind, 70);  // rows that see nothing: out 0, lse +inf, zero gradients
            run_case(rng, "blind", blind, 2, 1, D, 2, dt);
        }
        // the benchmark's head shape (Hq 32, Hkv 8, D 128) on a packed prefix-shared row
        run_case(rng, "bench", pair_layout(1, 1024, 2), 32, 8, 128, 0, dt);
    }
    std::printf("%d cases, %d failures\n", g_cases, g_failures);
    return g_failures == 0 ? 0 : 1;
}
