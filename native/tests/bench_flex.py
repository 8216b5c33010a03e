#!/usr/bin/env python3
"""Times prefix-shared attention, forward + backward, three ways on the same shapes and layouts:

  ours   libprefixshare_cuda.so through ctypes, on torch's current stream, the (node, subtreeEnd) row layout
  flex   PyTorch FlexAttention, mask_mod over node / subtreeEnd (the ancestor rule), compiled block mask
  sdpa   torch SDPA, flash backend, causal, on the *paired* layout (the baseline prefix sharing replaces): every
         (prompt + response) pair as its own causal sequence, padded to the longest pair

Shapes: T in {1024, 2048, 4096, 8192}, D=128, Hq=32, Hkv=8, bf16; B * T = 16384 tokens per call.
Layouts: pair (one document per row: prompt T/2, two responses T/4) and packed (T/1024 documents of prompt 512,
two responses of 256). Prints a table with ratios (flex / ours, sdpa / ours: > 1 means ours is faster) and, with
--csv PATH, writes it. Needs a CUDA GPU, torch >= 2.5 (FlexAttention); no Java.

  python3 native/tests/bench_flex.py --lib native/target/cmake-cuda/cuda-lib/libprefixshare_cuda.so
"""
import argparse
import ctypes
import math
import sys

import torch
import torch.nn.functional as F

PS_BFLOAT16 = 2


class FwdParams(ctypes.Structure):
    # native/include/prefixshare/params.h: ps_attn_fwd_params, field for field
    _fields_ = [
        ("q", ctypes.c_void_p), ("k", ctypes.c_void_p), ("v", ctypes.c_void_p), ("out", ctypes.c_void_p),
        ("lse", ctypes.c_void_p), ("node", ctypes.c_void_p), ("subtree_end", ctypes.c_void_p),
        ("q_batch_stride", ctypes.c_int64), ("q_row_stride", ctypes.c_int64), ("q_head_stride", ctypes.c_int64),
        ("k_batch_stride", ctypes.c_int64), ("k_row_stride", ctypes.c_int64), ("k_head_stride", ctypes.c_int64),
        ("v_batch_stride", ctypes.c_int64), ("v_row_stride", ctypes.c_int64), ("v_head_stride", ctypes.c_int64),
        ("o_batch_stride", ctypes.c_int64), ("o_row_stride", ctypes.c_int64), ("o_head_stride", ctypes.c_int64),
        ("batch", ctypes.c_int32), ("seqlen", ctypes.c_int32), ("heads_q", ctypes.c_int32),
        ("heads_kv", ctypes.c_int32), ("head_dim", ctypes.c_int32),
        ("scale", ctypes.c_double), ("dtype", ctypes.c_int32), ("num_threads", ctypes.c_int32),
    ]


class BwdParams(ctypes.Structure):
    _fields_ = [("fwd", FwdParams), ("dout", ctypes.c_void_p), ("dq", ctypes.c_void_p), ("dk", ctypes.c_void_p),
                ("dv", ctypes.c_void_p)] + [
        (f"{t}_{s}_stride", ctypes.c_int64) for t in ("do", "dq", "dk", "dv") for s in ("batch", "row", "head")]


def strides3(x):
    return x.stride(0), x.stride(1), x.stride(2)


class Ours:
    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        self.lib.ps_attn_fwd_cuda.argtypes = [ctypes.POINTER(FwdParams), ctypes.c_void_p]
        self.lib.ps_attn_bwd_cuda.argtypes = [ctypes.POINTER(BwdParams), ctypes.c_void_p]
        self.lib.ps_cuda_last_error.restype = ctypes.c_char_p
        if self.lib.ps_cuda_capabilities() == 0:
            sys.exit("libprefixshare_cuda.so sees no sm_80+ GPU")

    def _fwd_params(self, q, k, v, node, end, out, lse):
        p = FwdParams()
        p.q, p.k, p.v, p.out, p.lse = q.data_ptr(), k.data_ptr(), v.data_ptr(), out.data_ptr(), lse.data_ptr()
        p.node, p.subtree_end = node.data_ptr(), end.data_ptr()
        p.q_batch_stride, p.q_row_stride, p.q_head_stride = strides3(q)
        p.k_batch_stride, p.k_row_stride, p.k_head_stride = strides3(k)
        p.v_batch_stride, p.v_row_stride, p.v_head_stride = strides3(v)
        p.o_batch_stride, p.o_row_stride, p.o_head_stride = strides3(out)
        p.batch, p.seqlen, p.heads_q, p.head_dim = q.shape[0], q.shape[1], q.shape[2], q.shape[3]
        p.heads_kv = k.shape[2]
        p.scale = 1.0 / math.sqrt(q.shape[3])
        p.dtype = PS_BFLOAT16
        return p

    def forward(self, q, k, v, node, end):
        out = torch.empty_like(q)
        lse = torch.empty(q.shape[0], q.shape[2], q.shape[1], device=q.device, dtype=torch.float32)
        p = self._fwd_params(q, k, v, node, end, out, lse)
        if self.lib.ps_attn_fwd_cuda(ctypes.byref(p), ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)):
            raise RuntimeError(self.lib.ps_cuda_last_error().decode())
        return out, lse

    def backward(self, q, k, v, node, end, out, lse, dout):
        dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
        b = BwdParams()
        b.fwd = self._fwd_params(q, k, v, node, end, out, lse)
        b.dout, b.dq, b.dk, b.dv = dout.data_ptr(), dq.data_ptr(), dk.data_ptr(), dv.data_ptr()
        b.do_batch_stride, b.do_row_stride, b.do_head_stride = strides3(dout)
        b.dq_batch_stride, b.dq_row_stride, b.dq_head_stride = strides3(dq)
        b.dk_batch_stride, b.dk_row_stride, b.dk_head_stride = strides3(dk)
        b.dv_batch_stride, b.dv_row_stride, b.dv_head_stride = strides3(dv)
        if self.lib.ps_attn_bwd_cuda(ctypes.byref(b), ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)):
            raise RuntimeError(self.lib.ps_cuda_last_error().decode())
        return dq, dk, dv


def layout(kind, B, T, device):
    """node / subtreeEnd [B, T] int32 and the (prompt, response) lengths of each document."""
    docs = [(T // 2, T // 4, T // 4)] if kind == "pair" else [(512, 256, 256)] * max(1, T // 1024)
    node = torch.zeros(B, T, dtype=torch.int32)
    end = torch.zeros(B, T, dtype=torch.int32)
    for b in range(B):
        pos, n0 = 0, 0
        for prompt, r1, r2 in docs:
            node[b, pos:pos + prompt], end[b, pos:pos + prompt] = n0, n0 + 2
            pos += prompt
            for r, length in enumerate((r1, r2)):
                node[b, pos:pos + length], end[b, pos:pos + length] = n0 + 1 + r, n0 + 1 + r
                pos += length
            n0 += 3
        node[b, pos:], end[b, pos:] = n0, n0
    return node.to(device), end.to(device), docs


def time_ms(fn, iters):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(iters):
        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        e0.record()
        fn()
        e1.record()
        e1.synchronize()
        best = min(best, e0.elapsed_time(e1))
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--csv")
    ap.add_argument("--check", action="store_true", help="also compare ours with FlexAttention (bf16 tolerance)")
    args = ap.parse_args()

    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    dev = "cuda"
    torch.manual_seed(0)
    ours = Ours(args.lib)
    flex = torch.compile(flex_attention, dynamic=False)
    Hq, Hkv, D = 32, 8, 128
    rows = []
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    hdr = f"{'layout':7} {'T':>5} {'B':>3} {'ours f+b ms':>12} {'flex f+b ms':>12} {'sdpa f+b ms':>12} " \
          f"{'flex/ours':>9} {'sdpa/ours':>9}"
    print(hdr)
    for kind in ("pair", "packed"):
        for T in (1024, 2048, 4096, 8192):
            B = max(1, 16384 // T)
            node, end, docs = layout(kind, B, T, dev)
            q = torch.randn(B, T, Hq, D, device=dev, dtype=torch.bfloat16)
            k = torch.randn(B, T, Hkv, D, device=dev, dtype=torch.bfloat16)
            v = torch.randn(B, T, Hkv, D, device=dev, dtype=torch.bfloat16)
            g = torch.randn_like(q)

            # ours
            def run_ours():
                out, lse = ours.forward(q, k, v, node, end)
                ours.backward(q, k, v, node, end, out, lse, g)
            t_ours_f = time_ms(lambda: ours.forward(q, k, v, node, end), args.iters)
            t_ours = time_ms(run_ours, args.iters)

            # FlexAttention: [B, H, T, D] views, GQA through enable_gqa
            def mask_mod(b, h, qi, ki):
                return (ki <= qi) & (node[b, ki] <= node[b, qi]) & (node[b, qi] <= end[b, ki])
            bm = create_block_mask(mask_mod, B, None, T, T, device=dev, _compile=True)
            qf, kf, vf = (x.transpose(1, 2).detach().requires_grad_() for x in (q, k, v))
            gf = g.transpose(1, 2)

            def run_flex():
                o = flex(qf, kf, vf, block_mask=bm, enable_gqa=True)
                torch.autograd.grad(o, (qf, kf, vf), gf)
            t_flex_f = time_ms(lambda: flex(qf, kf, vf, block_mask=bm, enable_gqa=True), args.iters)
            t_flex = time_ms(run_flex, args.iters)

            # SDPA flash, causal, paired layout: each (prompt + response) as its own sequence
            L = max(p + max(r1, r2) for p, r1, r2 in docs)
            nseq = B * 2 * len(docs)
            qs = torch.randn(nseq, Hq, L, D, device=dev, dtype=torch.bfloat16, requires_grad=True)
            ks = torch.randn(nseq, Hkv, L, D, device=dev, dtype=torch.bfloat16)
            vs = torch.randn(nseq, Hkv, L, D, device=dev, dtype=torch.bfloat16)
            # expand kv heads to Hq (the flash backend of SDPA takes no GQA; the copy is outside the timing)
            ks = ks.repeat_interleave(Hq // Hkv, dim=1).requires_grad_()
            vs = vs.repeat_interleave(Hq // Hkv, dim=1).requires_grad_()
            gs = torch.randn(nseq, Hq, L, D, device=dev, dtype=torch.bfloat16)

            def run_sdpa(bwd=True):
                with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                    o = F.scaled_dot_product_attention(qs, ks, vs, is_causal=True)
                if bwd:
                    torch.autograd.grad(o, (qs, ks, vs), gs)
            t_sdpa_f = time_ms(lambda: run_sdpa(False), args.iters)
            t_sdpa = time_ms(run_sdpa, args.iters)

            if args.check:
                out, _ = ours.forward(q, k, v, node, end)
                ref = flex(qf, kf, vf, block_mask=bm, enable_gqa=True).transpose(1, 2)
                err = ((out.float() - ref.float()).abs().max() / ref.float().abs().max()).item()
                print(f"  check {kind} T={T}: max rel diff ours vs flex = {err:.2e}")

            row = dict(layout=kind, T=T, B=B, ours_fwd_ms=t_ours_f, ours_fb_ms=t_ours, flex_fwd_ms=t_flex_f,
                       flex_fb_ms=t_flex, sdpa_fwd_ms=t_sdpa_f, sdpa_fb_ms=t_sdpa,
                       flex_over_ours=t_flex / t_ours, sdpa_over_ours=t_sdpa / t_ours)
            rows.append(row)
            print(f"{kind:7} {T:5d} {B:3d} {t_ours:12.3f} {t_flex:12.3f} {t_sdpa:12.3f} "
                  f"{t_flex / t_ours:9.2f} {t_sdpa / t_ours:9.2f}   (fwd only: ours {t_ours_f:.3f}, "
                  f"flex {t_flex_f:.3f}, sdpa {t_sdpa_f:.3f})")
    if args.csv:
        with open(args.csv, "w") as f:
            f.write(",".join(rows[0].keys()) + "\n")
            for r in rows:
                f.write(",".join(f"{x:.4f}" if isinstance(x, float) else str(x) for x in r.values()) + "\n")


if __name__ == "__main__":
    main()
