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
 * B element (k,j) at b[k*b_rs + j*b_cs]: any transpose is a choice of strides. dt is the type of A, C and the
 * arithmetic; b_dt the storage type of B: dt, or PS_BFLOAT16 with dt PS_FLOAT32 (widened to float32 exactly while B
 * is packed, so the result is bit for bit that of float32 B holding the same values). Accumulation is in dt, in k
 * order. C must not overlap A or B.
 */
void gemm(ps_dtype dt, ps_dtype b_dt, int64_t M, int64_t N, int64_t K, const void* a, int64_t a_rs, int64_t a_cs,
          const void* b, int64_t b_rs, int64_t b_cs, void* c, int64_t ldc, bool accumulate, int32_t num_threads);

/**
 * The packing step of gemm alone, for the test harness (its layout and its speed): B [K,N] (b_dt storage, strides as
 * in gemm) into column panels dst [ceil(N/NR)][K][NR] of dt, NR = 2 vectors (16 floats, 8 doubles), columns past N
 * zero. Parallel over panels as in gemm.
 */
void gemm_pack_b(ps_dtype dt, ps_dtype b_dt, int64_t N, int64_t K, const void* b, int64_t b_rs, int64_t b_cs,
                 void* dst, int32_t num_threads);

}  // namespace cpu
}  // namespace ps

#endif
