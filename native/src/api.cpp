// Flat C API: argument validation, error reporting (thread-local message), capability flags.

#include <cmath>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <string>

#pragma GCC visibility push(default)
#include "prefixshare/api.h"
#pragma GCC visibility pop

#include "cpu/attention_cpu.h"
#include "cpu/gemm_cpu.h"
#include "cpu/lm_head_cpu.h"
#include "cpu/pointwise_cpu.h"

#ifndef PS_VERSION_STRING
#define PS_VERSION_STRING "0.0.0"
#endif

namespace {

thread_local std::string g_last_error;

int fail(int code, const std::string& msg) {
    g_last_error = msg;
    return code;
}

std::string str(long long x) { return std::to_string(x); }

int check_fwd(const ps_attn_fwd_params& p, const char* who) {
    const std::string w = std::string(who) + ": ";
    if (p.dtype != PS_FLOAT32 && p.dtype != PS_FLOAT64)
        return fail(PS_ERR_INVALID_ARGUMENT, w + "dtype must be 0 (float32) or 1 (float64), got " + str(p.dtype));
    if (!p.q || !p.k || !p.v || !p.out || !p.lse || !p.node || !p.subtree_end)
        return fail(PS_ERR_INVALID_ARGUMENT, w + "null pointer among q, k, v, out, lse, node, subtree_end");
    if (p.batch <= 0 || p.seqlen <= 0 || p.heads_q <= 0 || p.heads_kv <= 0 || p.head_dim <= 0)
        return fail(PS_ERR_INVALID_ARGUMENT, w + "sizes must be > 0: batch=" + str(p.batch) + " seqlen=" + str(p.seqlen) +
                                                 " heads_q=" + str(p.heads_q) + " heads_kv=" + str(p.heads_kv) +
                                                 " head_dim=" + str(p.head_dim));
    if (p.heads_q % p.heads_kv != 0)
        return fail(PS_ERR_INVALID_ARGUMENT,
                    w + "heads_q (" + str(p.heads_q) + ") must be a multiple of heads_kv (" + str(p.heads_kv) + ")");
    if (p.head_dim > 256)
        return fail(PS_ERR_UNSUPPORTED, w + "head_dim " + str(p.head_dim) + " > 256 is not supported");
    if (!std::isfinite(p.scale)) return fail(PS_ERR_INVALID_ARGUMENT, w + "scale must be finite");
    return PS_OK;
}

/** Common checks of the fused row-wise kernels: dtype, sizes, and no null pointer when there is work. */
int check_rows(const char* who, ps_dtype dtype, int64_t rows, int64_t cols, std::initializer_list<const void*> ptrs) {
    const std::string w = std::string(who) + ": ";
    if (dtype != PS_FLOAT32 && dtype != PS_FLOAT64)
        return fail(PS_ERR_INVALID_ARGUMENT, w + "dtype must be 0 (float32) or 1 (float64), got " + str(dtype));
    if (rows < 0 || cols <= 0)
        return fail(PS_ERR_INVALID_ARGUMENT,
                    w + "need rows >= 0 and cols > 0, got rows=" + str(rows) + " cols=" + str(cols));
    if (rows > 0)
        for (const void* p : ptrs)
            if (!p) return fail(PS_ERR_INVALID_ARGUMENT, w + "null array pointer");
    return PS_OK;
}

/** Every idx[i] (i < n) in [0, bound); the error names the array, the position and the value. */
int check_indices(const char* who, const char* name, const int32_t* idx, int64_t n, int64_t bound) {
    for (int64_t i = 0; i < n; ++i)
        if (idx[i] < 0 || idx[i] >= bound)
            return fail(PS_ERR_INVALID_ARGUMENT, std::string(who) + ": " + name + "[" + str(i) + "] = " +
                                                     str(idx[i]) + " outside [0, " + str(bound) + ")");
    return PS_OK;
}

int check_eps(const char* who, double eps) {
    if (!(eps >= 0) || !std::isfinite(eps))
        return fail(PS_ERR_INVALID_ARGUMENT, std::string(who) + ": eps must be finite and >= 0, got " +
                                                 std::to_string(eps));
    return PS_OK;
}

int check_rope(const char* who, int32_t heads, int32_t head_dim) {
    if (heads <= 0 || head_dim <= 0 || head_dim % 2 != 0)
        return fail(PS_ERR_INVALID_ARGUMENT, std::string(who) + ": need heads > 0 and an even head_dim > 0, got heads=" +
                                                 str(heads) + " head_dim=" + str(head_dim));
    return PS_OK;
}

/** A float type of the arithmetic, and the storage type of a weight operand beside it (itself, or bf16 with f32). */
int check_types(const char* who, const char* weight, ps_dtype dtype, ps_dtype weight_dtype) {
    const std::string w = std::string(who) + ": ";
    if (dtype != PS_FLOAT32 && dtype != PS_FLOAT64)
        return fail(PS_ERR_INVALID_ARGUMENT, w + "dtype must be 0 (float32) or 1 (float64), got " + str(dtype));
    if (weight_dtype != dtype && !(dtype == PS_FLOAT32 && weight_dtype == PS_BFLOAT16))
        return fail(PS_ERR_INVALID_ARGUMENT, w + weight + " must be dtype (" + str(dtype) +
                                                 "), or 2 (bfloat16) with dtype 0 (float32), got " + str(weight_dtype));
    return PS_OK;
}

/** The LM head's sizes, pointers and labels. */
int check_lm_head(const char* who, ps_dtype dtype, ps_dtype head_dtype, int64_t n, int64_t h, int64_t v,
                  const int32_t* label, std::initializer_list<const void*> ptrs) {
    int rc = check_types(who, "head_dtype", dtype, head_dtype);
    if (rc != PS_OK) return rc;
    if (n < 0 || h <= 0 || v <= 0 || v > INT32_MAX)
        return fail(PS_ERR_INVALID_ARGUMENT, std::string(who) + ": need n >= 0, h > 0 and 0 < v <= 2^31-1, got n=" +
                                                 str(n) + " h=" + str(h) + " v=" + str(v));
    if (n > 0)
        for (const void* p : ptrs)
            if (!p) return fail(PS_ERR_INVALID_ARGUMENT, std::string(who) + ": null array pointer");
    return check_indices(who, "label", label, n, v);
}

/** Runs a kernel, turning exceptions (scratch allocation) into PS_ERR_INTERNAL. */
template <class F> int run_kernel(const char* who, F&& f) {
    try {
        f();
    } catch (const std::exception& e) {
        return fail(PS_ERR_INTERNAL, std::string(who) + ": " + e.what());
    }
    return PS_OK;
}

}  // namespace

extern "C" {

int ps_capabilities(void) {
    int caps = PS_CAP_CPU_FLOAT32 | PS_CAP_CPU_FLOAT64 | PS_CAP_OPENMP;
#if defined(__AVX2__) && defined(__FMA__)
    caps |= PS_CAP_CPU_AVX2;
#endif
#if defined(PS_WITH_CUDA)
    caps |= PS_CAP_CUDA;
#endif
    return caps;
}

const char* ps_version(void) { return PS_VERSION_STRING; }

const char* ps_last_error(void) { return g_last_error.c_str(); }

int ps_attn_fwd_cpu(const ps_attn_fwd_params* params) {
    if (!params) return fail(PS_ERR_INVALID_ARGUMENT, "ps_attn_fwd_cpu: params is null");
    const int rc = check_fwd(*params, "ps_attn_fwd_cpu");
    if (rc != PS_OK) return rc;
    try {
        if (!ps::cpu::attention_fwd_dispatch(*params))
            return fail(PS_ERR_INTERNAL, "ps_attn_fwd_cpu: out of memory for scratch buffers");
    } catch (const std::exception& e) {
        return fail(PS_ERR_INTERNAL, std::string("ps_attn_fwd_cpu: ") + e.what());
    }
    return PS_OK;
}

int ps_attn_bwd_cpu(const ps_attn_bwd_params* params) {
    if (!params) return fail(PS_ERR_INVALID_ARGUMENT, "ps_attn_bwd_cpu: params is null");
    const int rc = check_fwd(params->fwd, "ps_attn_bwd_cpu");
    if (rc != PS_OK) return rc;
    if (!params->dout || !params->dq || !params->dk || !params->dv)
        return fail(PS_ERR_INVALID_ARGUMENT, "ps_attn_bwd_cpu: null pointer among dout, dq, dk, dv");
    try {
        if (!ps::cpu::attention_bwd_dispatch(*params))
            return fail(PS_ERR_INTERNAL, "ps_attn_bwd_cpu: out of memory for scratch buffers");
    } catch (const std::exception& e) {
        return fail(PS_ERR_INTERNAL, std::string("ps_attn_bwd_cpu: ") + e.what());
    }
    return PS_OK;
}

int ps_rms_norm_fwd_cpu(ps_dtype dtype, const void* x, const void* w, void* y, int64_t rows, int64_t cols,
                        double eps, int32_t num_threads) {
    static const char* who = "ps_rms_norm_fwd_cpu";
    int rc = check_rows(who, dtype, rows, cols, {x, w, y});
    if (rc == PS_OK) rc = check_eps(who, eps);
    if (rc != PS_OK || rows == 0) return rc;
    return run_kernel(who, [&] { ps::cpu::rms_norm_fwd(dtype, x, w, y, rows, cols, eps, num_threads); });
}

int ps_rms_norm_bwd_cpu(ps_dtype dtype, const void* x, const void* w, const void* dy, void* dx, void* dw,
                        int64_t rows, int64_t cols, double eps, int32_t num_threads) {
    static const char* who = "ps_rms_norm_bwd_cpu";
    int rc = check_rows(who, dtype, rows, cols, {x, w, dy, dx});
    if (rc == PS_OK) rc = check_eps(who, eps);
    if (rc == PS_OK && !dw) rc = fail(PS_ERR_INVALID_ARGUMENT, std::string(who) + ": dw is null");
    if (rc != PS_OK) return rc;
    return run_kernel(who, [&] { ps::cpu::rms_norm_bwd(dtype, x, w, dy, dx, dw, rows, cols, eps, num_threads); });
}

int ps_rope_fwd_cpu(ps_dtype dtype, const void* x, const void* cos, const void* sin, void* y, int64_t rows,
                    int32_t heads, int32_t head_dim, int32_t num_threads) {
    static const char* who = "ps_rope_fwd_cpu";
    int rc = check_rope(who, heads, head_dim);
    if (rc == PS_OK) rc = check_rows(who, dtype, rows, (int64_t)heads * head_dim, {x, cos, sin, y});
    if (rc != PS_OK || rows == 0) return rc;
    return run_kernel(who, [&] { ps::cpu::rope_fwd(dtype, x, cos, sin, y, rows, heads, head_dim, num_threads); });
}

int ps_rope_bwd_cpu(ps_dtype dtype, const void* dy, const void* cos, const void* sin, void* dx, int64_t rows,
                    int32_t heads, int32_t head_dim, int32_t num_threads) {
    static const char* who = "ps_rope_bwd_cpu";
    int rc = check_rope(who, heads, head_dim);
    if (rc == PS_OK) rc = check_rows(who, dtype, rows, (int64_t)heads * head_dim, {dy, cos, sin, dx});
    if (rc != PS_OK || rows == 0) return rc;
    return run_kernel(who, [&] { ps::cpu::rope_bwd(dtype, dy, cos, sin, dx, rows, heads, head_dim, num_threads); });
}

int ps_swiglu_fwd_cpu(ps_dtype dtype, const void* gate, const void* up, void* y, int64_t rows, int64_t cols,
                      int32_t num_threads) {
    static const char* who = "ps_swiglu_fwd_cpu";
    const int rc = check_rows(who, dtype, rows, cols, {gate, up, y});
    if (rc != PS_OK || rows == 0) return rc;
    return run_kernel(who, [&] { ps::cpu::swiglu_fwd(dtype, gate, up, y, rows, cols, num_threads); });
}

int ps_swiglu_bwd_cpu(ps_dtype dtype, const void* gate, const void* up, const void* dy, void* dgate, void* dup,
                      int64_t rows, int64_t cols, int32_t num_threads) {
    static const char* who = "ps_swiglu_bwd_cpu";
    const int rc = check_rows(who, dtype, rows, cols, {gate, up, dy, dgate, dup});
    if (rc != PS_OK || rows == 0) return rc;
    return run_kernel(who, [&] { ps::cpu::swiglu_bwd(dtype, gate, up, dy, dgate, dup, rows, cols, num_threads); });
}

int ps_adam_cpu(ps_dtype dtype, int64_t n, void* param, void* grad, void* m, void* v, double lr, double beta1,
                double beta2, double eps, int32_t iteration, double decay, int32_t num_threads) {
    static const char* who = "ps_adam_cpu";
    const int rc = check_rows(who, dtype, n, 1, {param, grad, m, v});
    if (rc != PS_OK || n == 0) return rc;
    if (iteration < 0) return fail(PS_ERR_INVALID_ARGUMENT, std::string(who) + ": iteration must be >= 0");
    return run_kernel(who, [&] {
        ps::cpu::adam_update(dtype, n, param, grad, m, v, lr, beta1, beta2, eps, iteration, decay, num_threads);
    });
}

int ps_label_logprob_fwd_cpu(ps_dtype dtype, const void* x, const int32_t* label, void* logp, int64_t rows,
                             int64_t cols, int32_t num_threads) {
    static const char* who = "ps_label_logprob_fwd_cpu";
    int rc = check_rows(who, dtype, rows, cols, {x, label, logp});
    if (rc == PS_OK) rc = check_indices(who, "label", label, rows, cols);
    if (rc != PS_OK || rows == 0) return rc;
    return run_kernel(who, [&] { ps::cpu::label_logprob_fwd(dtype, x, label, logp, rows, cols, num_threads); });
}

int ps_label_logprob_bwd_cpu(ps_dtype dtype, const void* x, const int32_t* label, const void* dy, void* dx,
                             int64_t rows, int64_t cols, int32_t num_threads) {
    static const char* who = "ps_label_logprob_bwd_cpu";
    int rc = check_rows(who, dtype, rows, cols, {x, label, dy, dx});
    if (rc == PS_OK) rc = check_indices(who, "label", label, rows, cols);
    if (rc != PS_OK || rows == 0) return rc;
    return run_kernel(who, [&] { ps::cpu::label_logprob_bwd(dtype, x, label, dy, dx, rows, cols, num_threads); });
}

int ps_scatter_add_rows_cpu(ps_dtype dtype, const int32_t* index, int64_t n, const void* src, void* dst, int64_t rows,
                            int64_t cols, int32_t num_threads) {
    static const char* who = "ps_scatter_add_rows_cpu";
    int rc = check_rows(who, dtype, rows, cols, {dst});
    if (rc == PS_OK && n < 0) rc = fail(PS_ERR_INVALID_ARGUMENT, std::string(who) + ": n must be >= 0, got " + str(n));
    if (rc == PS_OK && n > 0) rc = check_rows(who, dtype, n, cols, {index, src});
    if (rc != PS_OK || rows == 0) return rc;
    rc = check_indices(who, "index", index, n, rows);
    if (rc != PS_OK) return rc;
    return run_kernel(who, [&] { ps::cpu::scatter_add_rows(dtype, index, n, src, dst, rows, cols, num_threads); });
}

int ps_gemm_cpu(ps_dtype dtype, ps_dtype b_dtype, int64_t m, int64_t n, int64_t k, const void* a, int64_t a_rs,
                int64_t a_cs, const void* b, int64_t b_rs, int64_t b_cs, void* c, int64_t ldc, int32_t accumulate,
                int32_t num_threads) {
    static const char* who = "ps_gemm_cpu";
    const std::string w = std::string(who) + ": ";
    const int rc = check_types(who, "b_dtype", dtype, b_dtype);
    if (rc != PS_OK) return rc;
    if (m < 0 || n < 0 || k < 0)
        return fail(PS_ERR_INVALID_ARGUMENT,
                    w + "sizes must be >= 0, got m=" + str(m) + " n=" + str(n) + " k=" + str(k));
    if (m == 0 || n == 0) return PS_OK;
    if (!c || (k > 0 && (!a || !b))) return fail(PS_ERR_INVALID_ARGUMENT, w + "null array pointer");
    if (ldc < n) return fail(PS_ERR_INVALID_ARGUMENT, w + "ldc (" + str(ldc) + ") must be >= n (" + str(n) + ")");
    return run_kernel(who, [&] {
        ps::cpu::gemm(dtype, b_dtype, m, n, k, a, a_rs, a_cs, b, b_rs, b_cs, c, ldc, accumulate != 0, num_threads);
    });
}

int ps_lm_head_logprob_fwd_cpu(ps_dtype dtype, ps_dtype head_dtype, const void* hidden, const void* head,
                               const int32_t* label, void* logp, void* lse, int64_t n, int64_t h, int64_t v,
                               int32_t num_threads) {
    static const char* who = "ps_lm_head_logprob_fwd_cpu";
    const int rc = check_lm_head(who, dtype, head_dtype, n, h, v, label, {hidden, head, label, logp, lse});
    if (rc != PS_OK || n == 0) return rc;
    return run_kernel(who, [&] {
        ps::cpu::lm_head_logprob_fwd(dtype, head_dtype, hidden, head, label, logp, lse, n, h, v,
                                     ps::cpu::lm_head_chunks(dtype, n, v), num_threads);
    });
}

int ps_lm_head_logprob_bwd_cpu(ps_dtype dtype, ps_dtype head_dtype, const void* hidden, const void* head,
                               const int32_t* label, const void* lse, const void* dy, void* dhidden, void* dhead,
                               int64_t n, int64_t h, int64_t v, int32_t accumulate_dhidden, int32_t accumulate_dhead,
                               int32_t num_threads) {
    static const char* who = "ps_lm_head_logprob_bwd_cpu";
    const int rc = check_lm_head(who, dtype, head_dtype, n, h, v, label, {hidden, head, label, lse, dy, dhidden});
    if (rc != PS_OK) return rc;
    if (dhead && head_dtype != dtype)
        return fail(PS_ERR_INVALID_ARGUMENT, std::string(who) + ": a bfloat16 head is frozen: dhead must be NULL");
    return run_kernel(who, [&] {
        ps::cpu::lm_head_logprob_bwd(dtype, head_dtype, hidden, head, label, lse, dy, dhidden, dhead, n, h, v,
                                     accumulate_dhidden != 0, accumulate_dhead != 0,
                                     ps::cpu::lm_head_chunks(dtype, n, v), num_threads);
    });
}

int64_t ps_lm_head_scratch_bytes_cpu(ps_dtype dtype, int64_t n, int64_t v) {
    if ((dtype != PS_FLOAT32 && dtype != PS_FLOAT64) || n < 0 || v <= 0) return -1;
    return ps::cpu::lm_head_scratch_bytes(dtype, n, v);
}

}  // extern "C"
