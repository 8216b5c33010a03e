// Flat C API of the prefixshare native library (CPU kernels; CUDA kernels when built with nvcc).
#ifndef PREFIXSHARE_API_H
#define PREFIXSHARE_API_H

#include "params.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Status codes. 0 is success; the message of the last error on this thread is ps_last_error(). */
enum { PS_OK = 0, PS_ERR_INVALID_ARGUMENT = 1, PS_ERR_UNSUPPORTED = 2, PS_ERR_INTERNAL = 3 };

/** Capability flags, or-ed into ps_capabilities(). */
enum {
    PS_CAP_CPU_FLOAT32 = 1 << 0,
    PS_CAP_CPU_FLOAT64 = 1 << 1,
    PS_CAP_CPU_AVX2    = 1 << 2,  // compiled with AVX2/FMA inner loops
    PS_CAP_OPENMP      = 1 << 3,
    PS_CAP_CUDA        = 1 << 4   // CUDA kernels compiled in
};

int ps_capabilities(void);
const char* ps_version(void);
const char* ps_last_error(void);

/** CPU forward. Returns PS_OK or an error code (message in ps_last_error()). */
int ps_attn_fwd_cpu(const ps_attn_fwd_params* params);
/** CPU backward. */
int ps_attn_bwd_cpu(const ps_attn_bwd_params* params);

/*
 * CUDA kernels: exported by the separate library libprefixshare_cuda.so (built when nvcc is found; it links the
 * CUDA runtime statically and needs a driver for CUDA 13, see README). Every pointer in the params is a device
 * pointer (node and subtree_end too); the work is enqueued on `stream` (a cudaStream_t; NULL: the legacy default
 * stream) and the call returns without synchronising. Supported: dtype PS_FLOAT32 (exact fp32 FMA), PS_BFLOAT16
 * and PS_FLOAT16 (tensor cores, fp32 accumulation); head_dim 64 or 128; sm_80 or newer. Strides as for the CPU.
 * The backward allocates its fp32 scratch (dq accumulator, rowsum(dO * O), tile summaries) with cudaMallocAsync on
 * the stream. Errors (bad arguments, launch failures) are returned as codes, message in ps_cuda_last_error().
 */
int ps_cuda_capabilities(void);      /* PS_CAP_CUDA when a usable device (sm_80+) is present, else 0 */
const char* ps_cuda_last_error(void);
int ps_attn_fwd_cuda(const ps_attn_fwd_params* params, void* stream);
int ps_attn_bwd_cuda(const ps_attn_bwd_params* params, void* stream);

#ifdef __cplusplus
}
#endif

#endif
