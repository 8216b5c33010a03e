// JNI glue only: argument checks, strides -> params, call the C API, errors -> IllegalArgumentException.
// Java side: org.prefixshare.ops.nativeload.NativeKernels.
#include <jni.h>
#include <malloc.h>

#include "jni_params.h"
#include "prefixshare/api.h"

using ps_jni::fill_bwd;
using ps_jni::fill_fwd;
using ps_jni::read_strides;
using ps_jni::throw_iae;

namespace {
// raw Java addresses to pointers
const void* cptr(jlong a) { return reinterpret_cast<const void*>(a); }
void* mptr(jlong a) { return reinterpret_cast<void*>(a); }
ps_dtype dtype_of(jint d) { return static_cast<ps_dtype>(d); }
}  // namespace

extern "C" {

JNIEXPORT jint JNICALL Java_org_prefixshare_ops_nativeload_NativeKernels_capabilities(JNIEnv*, jclass) {
    return ps_capabilities();
}

JNIEXPORT jstring JNICALL Java_org_prefixshare_ops_nativeload_NativeKernels_version(JNIEnv* env, jclass) {
    return env->NewStringUTF(ps_version());
}

JNIEXPORT jboolean JNICALL Java_org_prefixshare_ops_nativeload_NativeKernels_releaseFreeMemory(JNIEnv*, jclass) {
#ifdef __GLIBC__
    return malloc_trim(0) != 0 ? JNI_TRUE : JNI_FALSE;
#else
    return JNI_FALSE;
#endif
}

JNIEXPORT void JNICALL Java_org_prefixshare_ops_nativeload_NativeKernels_attentionForward(
    JNIEnv* env, jclass, jint dtype, jlong q, jlong k, jlong v, jlong out, jlong lse, jlong node, jlong subtree_end,
    jlongArray strides, jint batch, jint seqlen, jint heads_q, jint heads_kv, jint head_dim, jdouble scale,
    jint num_threads) {
    jlong s[12];
    if (!read_strides(env, strides, 12, s, "attentionForward")) return;
    ps_attn_fwd_params p;
    fill_fwd(p, dtype, q, k, v, out, lse, node, subtree_end, s, batch, seqlen, heads_q, heads_kv, head_dim, scale,
             num_threads);
    if (ps_attn_fwd_cpu(&p) != PS_OK) throw_iae(env, ps_last_error());
}

JNIEXPORT void JNICALL Java_org_prefixshare_ops_nativeload_NativeKernels_attentionBackward(
    JNIEnv* env, jclass, jint dtype, jlong q, jlong k, jlong v, jlong out, jlong lse, jlong node, jlong subtree_end,
    jlong dout, jlong dq, jlong dk, jlong dv, jlongArray strides, jint batch, jint seqlen, jint heads_q,
    jint heads_kv, jint head_dim, jdouble scale, jint num_threads) {
    jlong s[24];
    if (!read_strides(env, strides, 24, s, "attentionBackward")) return;
    ps_attn_bwd_params p{};
    fill_fwd(p.fwd, dtype, q, k, v, out, lse, node, subtree_end, s, batch, seqlen, heads_q, heads_kv, head_dim,
             scale, num_threads);
    fill_bwd(p, dout, dq, dk, dv, s);
    if (ps_attn_bwd_cpu(&p) != PS_OK) throw_iae(env, ps_last_error());
}

// ---- fused row-wise kernels (raw addresses of dense c-order arrays; see prefixshare/api.h) ----------------------

JNIEXPORT void JNICALL Java_org_prefixshare_ops_nativeload_NativeKernels_rmsNormForward(
    JNIEnv* env, jclass, jint dtype, jlong x, jlong w, jlong y, jlong rows, jlong cols, jdouble eps,
    jint num_threads) {
    if (ps_rms_norm_fwd_cpu(dtype_of(dtype), cptr(x), cptr(w), mptr(y), rows, cols, eps, num_threads) != PS_OK)
        throw_iae(env, ps_last_error());
}

JNIEXPORT void JNICALL Java_org_prefixshare_ops_nativeload_NativeKernels_rmsNormBackward(
    JNIEnv* env, jclass, jint dtype, jlong x, jlong w, jlong dy, jlong dx, jlong dw, jlong rows, jlong cols,
    jdouble eps, jint num_threads) {
    if (ps_rms_norm_bwd_cpu(dtype_of(dtype), cptr(x), cptr(w), cptr(dy), mptr(dx), mptr(dw), rows, cols, eps,
                            num_threads) != PS_OK)
        throw_iae(env, ps_last_error());
}

JNIEXPORT void JNICALL Java_org_prefixshare_ops_nativeload_NativeKernels_ropeForward(
    JNIEnv* env, jclass, jint dtype, jlong x, jlong cos, jlong sin, jlong y, jlong rows, jint heads, jint head_dim,
    jint num_threads) {
    if (ps_rope_fwd_cpu(dtype_of(dtype), cptr(x), cptr(cos), cptr(sin), mptr(y), rows, heads, head_dim,
                        num_threads) != PS_OK)
        throw_iae(env, ps_last_error());
}

JNIEXPORT void JNICALL Java_org_prefixshare_ops_nativeload_NativeKernels_ropeBackward(
    JNIEnv* env, jclass, jint dtype, jlong dy, jlong cos, jlong sin, jlong dx, jlong rows, jint heads,
    jint head_dim, jint num_threads) {
    if (ps_rope_bwd_cpu(dtype_of(dtype), cptr(dy), cptr(cos), cptr(sin), mptr(dx), rows, heads, head_dim,
                        num_threads) != PS_OK)
        throw_iae(env, ps_last_error());
}

JNIEXPORT void JNICALL Java_org_prefixshare_ops_nativeload_NativeKernels_swiGluForward(
    JNIEnv* env, jclass, jint dtype, jlong gate, jlong up, jlong y, jlong rows, jlong cols, jint num_threads) {
    if (ps_swiglu_fwd_cpu(dtype_of(dtype), cptr(gate), cptr(up), mptr(y), rows, cols, num_threads) != PS_OK)
        throw_iae(env, ps_last_error());
}

JNIEXPORT void JNICALL Java_org_prefixshare_ops_nativeload_NativeKernels_swiGluBackward(
    JNIEnv* env, jclass, jint dtype, jlong gate, jlong up, jlong dy, jlong dgate, jlong dup, jlong rows, jlong cols,
    jint num_threads) {
    if (ps_swiglu_bwd_cpu(dtype_of(dtype), cptr(gate), cptr(up), cptr(dy), mptr(dgate), mptr(dup), rows, cols,
                          num_threads) != PS_OK)
        throw_iae(env, ps_last_error());
}

JNIEXPORT void JNICALL Java_org_prefixshare_ops_nativeload_NativeKernels_adam(
    JNIEnv* env, jclass, jint dtype, jlong n, jlong param, jlong grad, jlong m, jlong v, jdouble lr, jdouble beta1,
    jdouble beta2, jdouble eps, jint iteration, jdouble decay, jint num_threads) {
    if (ps_adam_cpu(dtype_of(dtype), n, mptr(param), mptr(grad), mptr(m), mptr(v), lr, beta1, beta2, eps, iteration,
                    decay, num_threads) != PS_OK)
        throw_iae(env, ps_last_error());
}

JNIEXPORT void JNICALL Java_org_prefixshare_ops_nativeload_NativeKernels_labelLogProbForward(
    JNIEnv* env, jclass, jint dtype, jlong x, jlong label, jlong logp, jlong rows, jlong cols, jint num_threads) {
    if (ps_label_logprob_fwd_cpu(dtype_of(dtype), cptr(x), reinterpret_cast<const int32_t*>(label), mptr(logp), rows,
                                 cols, num_threads) != PS_OK)
        throw_iae(env, ps_last_error());
}

JNIEXPORT void JNICALL Java_org_prefixshare_ops_nativeload_NativeKernels_labelLogProbBackward(
    JNIEnv* env, jclass, jint dtype, jlong x, jlong label, jlong dy, jlong dx, jlong rows, jlong cols,
    jint num_threads) {
    if (ps_label_logprob_bwd_cpu(dtype_of(dtype), cptr(x), reinterpret_cast<const int32_t*>(label), cptr(dy),
                                 mptr(dx), rows, cols, num_threads) != PS_OK)
        throw_iae(env, ps_last_error());
}

JNIEXPORT void JNICALL Java_org_prefixshare_ops_nativeload_NativeKernels_scatterAddRows(
    JNIEnv* env, jclass, jint dtype, jlong index, jlong n, jlong src, jlong dst, jlong rows, jlong cols,
    jint num_threads) {
    if (ps_scatter_add_rows_cpu(dtype_of(dtype), reinterpret_cast<const int32_t*>(index), n, cptr(src), mptr(dst),
                                rows, cols, num_threads) != PS_OK)
        throw_iae(env, ps_last_error());
}

JNIEXPORT void JNICALL Java_org_prefixshare_ops_nativeload_NativeKernels_gemm(
    JNIEnv* env, jclass, jint dtype, jint b_dtype, jlong m, jlong n, jlong k, jlong a, jlong a_rs, jlong a_cs, jlong b,
    jlong b_rs, jlong b_cs, jlong c, jlong ldc, jboolean accumulate, jint num_threads) {
    if (ps_gemm_cpu(dtype_of(dtype), dtype_of(b_dtype), m, n, k, cptr(a), a_rs, a_cs, cptr(b), b_rs, b_cs, mptr(c), ldc,
                    accumulate ? 1 : 0, num_threads) != PS_OK)
        throw_iae(env, ps_last_error());
}

JNIEXPORT void JNICALL Java_org_prefixshare_ops_nativeload_NativeKernels_lmHeadLogProbForward(
    JNIEnv* env, jclass, jint dtype, jint head_dtype, jlong hidden, jlong head, jlong label, jlong logp, jlong lse,
    jlong n, jlong h, jlong v, jint num_threads) {
    if (ps_lm_head_logprob_fwd_cpu(dtype_of(dtype), dtype_of(head_dtype), cptr(hidden), cptr(head),
                                   reinterpret_cast<const int32_t*>(label), mptr(logp), mptr(lse), n, h, v,
                                   num_threads) != PS_OK)
        throw_iae(env, ps_last_error());
}

JNIEXPORT void JNICALL Java_org_prefixshare_ops_nativeload_NativeKernels_lmHeadLogProbBackward(
    JNIEnv* env, jclass, jint dtype, jint head_dtype, jlong hidden, jlong head, jlong label, jlong lse, jlong dy,
    jlong dhidden, jlong dhead, jlong n, jlong h, jlong v, jboolean accumulate_dhidden, jboolean accumulate_dhead,
    jint num_threads) {
    if (ps_lm_head_logprob_bwd_cpu(dtype_of(dtype), dtype_of(head_dtype), cptr(hidden), cptr(head),
                                   reinterpret_cast<const int32_t*>(label), cptr(lse), cptr(dy), mptr(dhidden),
                                   mptr(dhead), n, h, v, accumulate_dhidden ? 1 : 0, accumulate_dhead ? 1 : 0,
                                   num_threads) != PS_OK)
        throw_iae(env, ps_last_error());
}

}  // extern "C"
