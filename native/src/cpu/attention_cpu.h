// Internal entry points of the CPU kernels (arguments already validated by api.cpp).
#ifndef PREFIXSHARE_CPU_ATTENTION_CPU_H
#define PREFIXSHARE_CPU_ATTENTION_CPU_H

#include "prefixshare/params.h"

namespace ps {
namespace cpu {

/** Return false only when scratch memory could not be allocated. */
bool attention_fwd_dispatch(const ps_attn_fwd_params& p);
bool attention_bwd_dispatch(const ps_attn_bwd_params& p);

}  // namespace cpu
}  // namespace ps

#endif
