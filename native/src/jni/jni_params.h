// Shared by the JNI layers of libprefixshare.so and libprefixshare_cuda.so: Java errors, and the one place where
// JNI arguments become the plain parameter structs of prefixshare/params.h.
#ifndef PREFIXSHARE_JNI_PARAMS_H
#define PREFIXSHARE_JNI_PARAMS_H

#include <jni.h>

#include <string>

#include "prefixshare/params.h"

namespace ps_jni {

inline void throw_iae(JNIEnv* env, const std::string& msg) {
    jclass cls = env->FindClass("java/lang/IllegalArgumentException");
    if (cls) env->ThrowNew(cls, msg.c_str());
}

/** Reads exactly n longs from a Java array; throws and returns false when it is null or has another length. */
inline bool read_strides(JNIEnv* env, jlongArray arr, jsize n, jlong* out, const char* who) {
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

/** Forward parameters; s holds the (batch, row, head) strides of q, k, v, out (12 longs). */
inline void fill_fwd(ps_attn_fwd_params& p, jint dtype, jlong q, jlong k, jlong v, jlong out, jlong lse, jlong node,
                     jlong subtree_end, const jlong* s, jint batch, jint seqlen, jint heads_q, jint heads_kv,
                     jint head_dim, jdouble scale, jint num_threads) {
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
    p.num_threads = num_threads;
}

/** The backward's own part; s holds the 12 forward strides, then those of dout, dq, dk, dv (24 longs). */
inline void fill_bwd(ps_attn_bwd_params& p, jlong dout, jlong dq, jlong dk, jlong dv, const jlong* s) {
    p.dout = reinterpret_cast<const void*>(dout);
    p.dq = reinterpret_cast<void*>(dq);
    p.dk = reinterpret_cast<void*>(dk);
    p.dv = reinterpret_cast<void*>(dv);
    p.do_batch_stride = s[12], p.do_row_stride = s[13], p.do_head_stride = s[14];
    p.dq_batch_stride = s[15], p.dq_row_stride = s[16], p.dq_head_stride = s[17];
    p.dk_batch_stride = s[18], p.dk_row_stride = s[19], p.dk_head_stride = s[20];
    p.dv_batch_stride = s[21], p.dv_row_stride = s[22], p.dv_head_stride = s[23];
}

}  // namespace ps_jni

#endif
