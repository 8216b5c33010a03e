// Internal entry points of the CUDA kernels (arguments already validated by cuda/api_cuda.cu).
#ifndef PREFIXSHARE_CUDA_ATTENTION_CUDA_H
#define PREFIXSHARE_CUDA_ATTENTION_CUDA_H

#include <cuda_runtime.h>

#include "prefixshare/params.h"

namespace ps {
namespace cuda {

/** vec: q, k, v (and dout) bases and strides allow 16-byte loads. Enqueues on `stream`; does not synchronise. */
cudaError_t attention_fwd_dispatch(const ps_attn_fwd_params& p, cudaStream_t stream, bool vec);
cudaError_t attention_bwd_dispatch(const ps_attn_bwd_params& p, cudaStream_t stream, bool vec);

}  // namespace cuda
}  // namespace ps

#endif
