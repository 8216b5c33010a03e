// JNI glue of libprefixshare_cuda.so only: argument checks, strides -> params, call the CUDA C API on ND4J's
// stream, errors -> IllegalArgumentException. Every address is a device pointer. Java side:
// org.prefixshare.ops.exec.cuda.CudaKernels (module samediff-ops-cuda).
#include <jni.h>

#include <string>

#include "prefixshare/api.h"

namespace {

void throw_iae(JNIEnv* env, const std::string& msg) {
    jclass cls = env->FindClass("java/lang/IllegalArgumentException");
    if (cls) env->ThrowNew(cls, msg.c_str());
}

bool read_strides(JNIEnv* env, jlongArray arr, jsize n, jlong* out, const char* who) {
    if (!arr) {
        throw_iae(env, std::string(who) + ": strides is null");
        return false;
    }
    const jsize len = env->GetArrayLength(arr);
    if (len != n) {
        throw_iae(env, std::string(who) + ": strides must have " + std::to_string(n) + " elements, got " +
                           std::to_string(len));
        return false;
    }
    env->GetLongArrayRegion(arr, 0, n, out);
    return !env->ExceptionCheck();
}

void fill_fwd(ps_attn_fwd_params& p, jint dtype, jlong q, jlong k, jlong v, jlong out, jlong lse, jlong node,
              jlong subtree_end, const jlong* s, jint batch, jint seqlen, jint heads_q, jint heads_kv, jint head_dim,
              jdouble scale) {
    p = ps_attn_fwd_params{};
    p.q = reinterpret_cast<const void*>(q);
    p.k = reinterpret_cast<const void*>(k);
    p.v = reinterpret_cast<const void*>(v);
    p.out = reinterpret_cast<void*>(out);
    p.lse = reinterpret_cast<void*>(lse);
    p.node = reinterpret_cast<const int32_t*>(node);
    p.subtree_end = reinterpret_cast<const int32_t*>(subtree_end);
    p.q_batch_stride = s[0], p.q_row_stride = s[1], p.q_head_stride = s[2];
    p.k_batch_stride = s[3], p.k_row_stride = s[4], p.k_head_stride = s[5];
    p.v_batch_stride = s[6], p.v_row_stride = s[7], p.v_head_stride = s[8];
    p.o_batch_stride = s[9], p.o_row_stride = s[10], p.o_head_stride = s[11];
    p.batch = batch, p.seqlen = seqlen, p.heads_q = heads_q, p.heads_kv = heads_kv, p.head_dim = head_dim;
    p.scale = scale;
    p.dtype = static_cast<ps_dtype>(dtype);
    p.num_threads = 0;
}

}  // namespace

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
    fill_fwd(p, dtype, q, k, v, out, lse, node, subtree_end, s, batch, seqlen, heads_q, heads_kv, head_dim, scale);
    if (ps_attn_fwd_cuda(&p, reinterpret_cast<void*>(stream)) != PS_OK) throw_iae(env, ps_cuda_last_error());
}

JNIEXPORT void JNICALL Java_org_prefixshare_ops_exec_cuda_CudaKernels_attentionBackward(
    JNIEnv* env, jclass, jint dtype, jlong q, jlong k, jlong v, jlong out, jlong lse, jlong node, jlong subtree_end,
    jlong dout, jlong dq, jlong dk, jlong dv, jlongArray strides, jint batch, jint seqlen, jint heads_q,
    jint heads_kv, jint head_dim, jdouble scale, jlong stream) {
    jlong s[24];
    if (!read_strides(env, strides, 24, s, "attentionBackward(cuda)")) return;
    ps_attn_bwd_params p{};
    fill_fwd(p.fwd, dtype, q, k, v, out, lse, node, subtree_end, s, batch, seqlen, heads_q, heads_kv, head_dim, scale);
    p.dout = reinterpret_cast<const void*>(dout);
    p.dq = reinterpret_cast<void*>(dq);
    p.dk = reinterpret_cast<void*>(dk);
    p.dv = reinterpret_cast<void*>(dv);
    p.do_batch_stride = s[12], p.do_row_stride = s[13], p.do_head_stride = s[14];
    p.dq_batch_stride = s[15], p.dq_row_stride = s[16], p.dq_head_stride = s[17];
    p.dk_batch_stride = s[18], p.dk_row_stride = s[19], p.dk_head_stride = s[20];
    p.dv_batch_stride = s[21], p.dv_row_stride = s[22], p.dv_head_stride = s[23];
    if (ps_attn_bwd_cuda(&p, reinterpret_cast<void*>(stream)) != PS_OK) throw_iae(env, ps_cuda_last_error());
}

}  // extern "C"
