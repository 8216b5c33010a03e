// Flat C API of libprefixshare_cuda.so: argument validation, error reporting (thread-local message), capability.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <string>

#pragma GCC visibility push(default)
#include "prefixshare/api.h"
#pragma GCC visibility pop

#include "cuda/attention_cuda.h"

namespace {

thread_local std::string g_last_error;

int fail(int code, const std::string& msg) {
    g_last_error = msg;
    return code;
}

std::string str(long long x) { return std::to_string(x); }

bool aligned16(const void* ptr) { return (reinterpret_cast<uintptr_t>(ptr) & 15u) == 0; }

/** 16-byte loads are legal for a [B,T,H,D] operand when its base and its three strides are whole 16 bytes. */
bool vec_ok(const void* ptr, int64_t bs, int64_t rs, int64_t hs, int elem_bytes) {
    const int64_t per = 16 / elem_bytes;
    return aligned16(ptr) && bs % per == 0 && rs % per == 0 && hs % per == 0;
}

int elem_bytes(ps_dtype t) { return t == PS_FLOAT32 ? 4 : 2; }

int check_device(const char* who) {
    int dev = 0, major = 0, minor = 0;
    cudaError_t err = cudaGetDevice(&dev);
    if (err == cudaSuccess) err = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
    if (err == cudaSuccess) err = cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev);
    if (err != cudaSuccess)
        return fail(PS_ERR_UNSUPPORTED, std::string(who) + ": no usable CUDA device: " + cudaGetErrorString(err));
    if (major < 8)
        return fail(PS_ERR_UNSUPPORTED, std::string(who) + ": device " + str(dev) + " is sm_" + str(major) +
                                            str(minor) + "; the kernels need sm_80 or newer (mma.sync bf16)");
    return PS_OK;
}

int check_fwd(const ps_attn_fwd_params& p, const char* who) {
    const std::string w = std::string(who) + ": ";
    if (p.dtype != PS_FLOAT32 && p.dtype != PS_BFLOAT16 && p.dtype != PS_FLOAT16)
        return fail(PS_ERR_UNSUPPORTED, w + "dtype must be 0 (float32), 2 (bfloat16) or 3 (float16) on CUDA, got " +
                                            str(p.dtype));
    if (!p.q || !p.k || !p.v || !p.out || !p.lse || !p.node || !p.subtree_end)
        return fail(PS_ERR_INVALID_ARGUMENT, w + "null pointer among q, k, v, out, lse, node, subtree_end");
    if (p.batch <= 0 || p.seqlen <= 0 || p.heads_q <= 0 || p.heads_kv <= 0 || p.head_dim <= 0)
        return fail(PS_ERR_INVALID_ARGUMENT, w + "sizes must be > 0: batch=" + str(p.batch) + " seqlen=" + str(p.seqlen) +
                                                 " heads_q=" + str(p.heads_q) + " heads_kv=" + str(p.heads_kv) +
                                                 " head_dim=" + str(p.head_dim));
    if (p.heads_q % p.heads_kv != 0)
        return fail(PS_ERR_INVALID_ARGUMENT,
                    w + "heads_q (" + str(p.heads_q) + ") must be a multiple of heads_kv (" + str(p.heads_kv) + ")");
    if (p.head_dim != 64 && p.head_dim != 128)
        return fail(PS_ERR_UNSUPPORTED, w + "head_dim must be 64 or 128 on CUDA, got " + str(p.head_dim));
    if (p.batch > 65535 || p.heads_q > 65535)
        return fail(PS_ERR_UNSUPPORTED, w + "batch and heads_q must be <= 65535 (grid y/z), got " + str(p.batch) +
                                            ", " + str(p.heads_q));
    if (!std::isfinite(p.scale)) return fail(PS_ERR_INVALID_ARGUMENT, w + "scale must be finite");
    return check_device(who);
}

int launch_result(cudaError_t err, const char* who) {
    if (err == cudaSuccess) return PS_OK;
    return fail(PS_ERR_INTERNAL, std::string(who) + ": CUDA error " + cudaGetErrorName(err) + ": " +
                                     cudaGetErrorString(err));
}

}  // namespace

extern "C" {

int ps_cuda_capabilities(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();  // clear the sticky-free "no driver" error
        return 0;
    }
    for (int d = 0; d < n; ++d) {
        int major = 0;
        if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, d) == cudaSuccess && major >= 8)
            return PS_CAP_CUDA;
    }
    return 0;
}

const char* ps_cuda_last_error(void) { return g_last_error.c_str(); }

int ps_attn_fwd_cuda(const ps_attn_fwd_params* params, void* stream) {
    if (!params) return fail(PS_ERR_INVALID_ARGUMENT, "ps_attn_fwd_cuda: params is null");
    const ps_attn_fwd_params& p = *params;
    const int rc = check_fwd(p, "ps_attn_fwd_cuda");
    if (rc != PS_OK) return rc;
    const int eb = elem_bytes(p.dtype);
    const bool vec = vec_ok(p.q, p.q_batch_stride, p.q_row_stride, p.q_head_stride, eb) &&
                     vec_ok(p.k, p.k_batch_stride, p.k_row_stride, p.k_head_stride, eb) &&
                     vec_ok(p.v, p.v_batch_stride, p.v_row_stride, p.v_head_stride, eb);
    return launch_result(ps::cuda::attention_fwd_dispatch(p, static_cast<cudaStream_t>(stream), vec),
                         "ps_attn_fwd_cuda");
}

int ps_attn_bwd_cuda(const ps_attn_bwd_params* params, void* stream) {
    if (!params) return fail(PS_ERR_INVALID_ARGUMENT, "ps_attn_bwd_cuda: params is null");
    const ps_attn_bwd_params& bp = *params;
    const ps_attn_fwd_params& p = bp.fwd;
    const int rc = check_fwd(p, "ps_attn_bwd_cuda");
    if (rc != PS_OK) return rc;
    if (!bp.dout || !bp.dq || !bp.dk || !bp.dv)
        return fail(PS_ERR_INVALID_ARGUMENT, "ps_attn_bwd_cuda: null pointer among dout, dq, dk, dv");
    const int eb = elem_bytes(p.dtype);
    const bool vec = vec_ok(p.q, p.q_batch_stride, p.q_row_stride, p.q_head_stride, eb) &&
                     vec_ok(p.k, p.k_batch_stride, p.k_row_stride, p.k_head_stride, eb) &&
                     vec_ok(p.v, p.v_batch_stride, p.v_row_stride, p.v_head_stride, eb) &&
                     vec_ok(bp.dout, bp.do_batch_stride, bp.do_row_stride, bp.do_head_stride, eb);
    return launch_result(ps::cuda::attention_bwd_dispatch(bp, static_cast<cudaStream_t>(stream), vec),
                         "ps_attn_bwd_cuda");
}

}  // extern "C"
