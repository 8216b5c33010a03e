// Flat C API: argument validation, error reporting (thread-local message), capability flags.

#include <cmath>
#include <exception>
#include <string>

#pragma GCC visibility push(default)
#include "prefixshare/api.h"
#pragma GCC visibility pop

#include "cpu/attention_cpu.h"

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

}  // extern "C"
