// JNI glue of libprefixshare_cuda.so only: argument checks, strides -> params, call the CUDA C API on ND4J's
// stream, errors -> IllegalArgumentException. Every address is a device pointer (lse: float32 for every dtype); the
// kernels run after the call returns, so the Java side keeps every buffer alive until the stream has used it.
// Java side: org.prefixshare.ops.exec.cuda.CudaKernels (module samediff-ops-cuda).
#include <jni.h>

#include "jni_params.h"
#include "prefixshare/api.h"

using ps_jni::fill_bwd;
using ps_jni::fill_fwd;
using ps_jni::read_strides;
using ps_jni::throw_iae;

extern "C" {

JNIEXPORT jint JNICALL Java_org_prefixshare_ops_exec_cuda_CudaKernels_capabilities(JNIEnv*, jclass) {
    return ps_cuda_capabilities();
}

JNIEXPORT void JNICALL Java_org_prefixshare_ops_exec_cuda_CudaKernels_attentionForward(
    JNIEnv* env, jclass, jint dtype, jlong q, jlong k, jlong v, jlong out, jlong lse, jlong node, jlong subtree_end,
    jlongArray strides, jint batch, jint seqlen, jint heads_q, jint heads_kv, jint head_dim, jdouble scale,
    jlong stream) {
    jlong s[12];
    if (!read_strides(env, strides, 12, s, "attentionForward(cuda)")) return;
    ps_attn_fwd_params p;
    fill_fwd(p, dtype, q, k, v, out, lse, node, subtree_end, s, batch, seqlen, heads_q, heads_kv, head_dim, scale,
             0);
    if (ps_attn_fwd_cuda(&p, reinterpret_cast<void*>(stream)) != PS_OK) throw_iae(env, ps_cuda_last_error());
}

JNIEXPORT void JNICALL Java_org_prefixshare_ops_exec_cuda_CudaKernels_attentionBackward(
    JNIEnv* env, jclass, jint dtype, jlong q, jlong k, jlong v, jlong out, jlong lse, jlong node, jlong subtree_end,
    jlong dout, jlong dq, jlong dk, jlong dv, jlongArray strides, jint batch, jint seqlen, jint heads_q,
    jint heads_kv, jint head_dim, jdouble scale, jlong stream) {
    jlong s[24];
    if (!read_strides(env, strides, 24, s, "attentionBackward(cuda)")) return;
    ps_attn_bwd_params p{};
    fill_fwd(p.fwd, dtype, q, k, v, out, lse, node, subtree_end, s, batch, seqlen, heads_q, heads_kv, head_dim,
             scale, 0);
    fill_bwd(p, dout, dq, dk, dv, s);
    if (ps_attn_bwd_cuda(&p, reinterpret_cast<void*>(stream)) != PS_OK) throw_iae(env, ps_cuda_last_error());
}

}  // extern "C"
