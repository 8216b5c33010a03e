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

#ifdef __cplusplus
}
#endif

#endif
