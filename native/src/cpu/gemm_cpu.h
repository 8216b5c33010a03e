// Dense matrix product of the decoder's linear layers (forward y = x W, backward dx = dy W^T and dW = x^T dy) on the
// attention kernels' register-blocked micro-kernel. ND4J's mmul on the decoder's shapes (K = 128..352, M in the
// thousands) runs at 8-40 GFLOP/s on a 2-core machine: OpenBLAS's thread pool and libgomp's spinning team contend for
// the cores and every call computes into a temporary that is then assigned. This one runs on the OpenMP team only and
// writes its output in place.
#ifndef PREFIXSHARE_CPU_GEMM_CPU_H
#define PREFIXSHARE_CPU_GEMM_CPU_H

#include <stdint.h>

#include "prefixshare/params.h"

namespace ps {
namespace cpu {

/**
 * C[M,N] = op(A) op(B) (accumulate: C +=), C rows ldc apart and contiguous. A element (i,k) at a[i*a_rs + k*a_cs],
 * B element (k,j) at b[k*b_rs + j*b_cs]: any transpose is a choice of strides. Accumulation is in the element type,
 * in k order. C must not overlap A or B.
 */
void gemm(ps_dtype dt, int64_t M, int64_t N, int64_t K, const void* a, int64_t a_rs, int64_t a_cs, const void* b,
          int64_t b_rs, int64_t b_cs, void* c, int64_t ldc, bool accumulate, int32_t num_threads);

}  // namespace cpu
}  // namespace ps

#endif
