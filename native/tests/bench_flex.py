#!/usr/bin/env python3
"""Times prefix-shared attention, forward and forward + backward, against PyTorch's own kernels on the same rows:

  ours         libprefixshare_cuda.so through ctypes on torch's current stream, the (node, subtreeEnd) row layout
  flex         FlexAttention with a BlockMask built from the same rule (key k visible to query q iff k <= q and
               node[k] <= node[q] <= subtreeEnd[k]), torch.compile'd, GQA through enable_gqa
  sdpa_dense   scaled_dot_product_attention with that rule as a dense boolean [B,1,T,T] mask (memory-efficient or
               cuDNN backend; the math backend is excluded: it would materialise [B,Hq,T,T] in fp32)
  sdpa_paired  the baseline prefix sharing replaces: SDPA flash, causal, every (prompt + response) as a sequence of
               its own (for the causal layout: the rows themselves)

Shapes: bf16, Hq 32, Hkv 8, D 128, T in {1024, 2048, 4096, 8192}, B = 16384 / T rows (16,384 tokens per call).
Layouts: causal (one document per row), pair (one document per row: prompt T/2, two responses T/4), packed (T/1024
documents per row, each prompt 512 + two responses of 256). "Forward" is the training forward (inputs that require
grad, so FlexAttention and SDPA save what their backward needs, as ours saves lse); "fwd+bwd" adds the backward with
a fixed upstream gradient. Times are medians of --iters runs (CUDA events, after 3 warm-up runs); TFLOP/s count the
visible (query, key) pairs only: 4 * D flops per pair forward, 10 * D forward + backward.

Every (layout, T) also checks ours against flex (out, dq, dk, dv; max |a - b| / max |b|; bf16 on both sides, so
<= 2e-2 is agreement). Results stream to --csv (one row per method, flushed as they come, so a timeout keeps what
finished) and to --md (a table with ratios: > 1 means ours is faster). Needs a CUDA GPU and torch >= 2.5.

  python3 native/tests/bench_flex.py --lib native/target/cmake-cuda/cuda-lib/libprefixshare_cuda.so \\
      --csv bench.csv --md bench.md
"""
import argparse
import ctypes
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F

PS_BFLOAT16 = 2
HQ, HKV, D = 32, 8, 128
TOKENS = 16384
LAYOUTS = ("causal", "pair", "packed")


# ---------------------------------------------------------------------------------------------------------------
# Layouts and the mask rule (no GPU needed: tested on the CPU by test_bench_flex_layouts.py)
# ---------------------------------------------------------------------------------------------------------------

def documents(kind, T):
    """(prompt, response, response) lengths of the documents of one row; causal: one document of T, no responses."""
    if kind == "causal":
        return [(T, 0, 0)]
    if kind == "pair":
        return [(T // 2, T // 4, T // 4)]
    if kind == "packed":
        return [(512, 256, 256)] * max(1, T // 1024)
    raise ValueError(kind)


def layout(kind, B, T, device="cpu"):
    """node / subtreeEnd [B, T] int32 of the rows (pre-order ids: prompt n0, responses n0+1, n0+2) and the documents."""
    docs = documents(kind, T)
    row_node = torch.zeros(T, dtype=torch.int32)
    row_end = torch.zeros(T, dtype=torch.int32)
    pos, n0 = 0, 0
    for prompt, r1, r2 in docs:
        responses = [r for r in (r1, r2) if r > 0]
        row_node[pos:pos + prompt], row_end[pos:pos + prompt] = n0, n0 + len(responses)
        pos += prompt
        for i, length in enumerate(responses):
            row_node[pos:pos + length], row_end[pos:pos + length] = n0 + 1 + i, n0 + 1 + i
            pos += length
        n0 += 1 + len(responses)
    row_node[pos:], row_end[pos:] = n0, n0  # padding (none in these layouts): a node of its own
    node = row_node.expand(B, T).contiguous().to(device)
    end = row_end.expand(B, T).contiguous().to(device)
    return node, end, docs


def visible(node, end, qi, ki, b):
    """The ancestor rule, elementwise over broadcastable index tensors (shared by mask_mod and the dense mask)."""
    return (ki <= qi) & (node[b, ki] <= node[b, qi]) & (node[b, qi] <= end[b, ki])


def dense_mask(node, end):
    """[B, 1, T, T] bool: True where key k is visible to query q."""
    B, T = node.shape
    idx = torch.arange(T, device=node.device)
    qi, ki = idx.view(1, T, 1), idx.view(1, 1, T)
    b = torch.arange(B, device=node.device).view(B, 1, 1)
    return visible(node, end, qi, ki, b).unsqueeze(1)


def visible_pairs(docs, B):
    """Visible (query, key) pairs of B rows: per document, the prompt's causal triangle plus each response's own
    triangle and its full view of the prompt."""
    n = 0
    for prompt, r1, r2 in docs:
        n += prompt * (prompt + 1) // 2
        for r in (r1, r2):
            n += r * (r + 1) // 2 + r * prompt
    return B * n


def paired_sequences(docs):
    """The classic paired format of a row's documents: (prompt + response) per response; a causal row as itself."""
    seqs = []
    for prompt, r1, r2 in docs:
        if r1 == 0 and r2 == 0:
            seqs.append(prompt)
        else:
            seqs += [prompt + r for r in (r1, r2) if r > 0]
    return seqs


# ---------------------------------------------------------------------------------------------------------------
# Our kernels through the C API
# ---------------------------------------------------------------------------------------------------------------

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
    """q, k, v [B, T, H, D] bf16 with D contiguous; lse [B, Hq, T] float32; node, end [B, T] int32 on the GPU."""

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

    @staticmethod
    def _stream():
        return ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)

    def forward(self, q, k, v, node, end):
        out = torch.empty_like(q)
        lse = torch.empty(q.shape[0], q.shape[2], q.shape[1], device=q.device, dtype=torch.float32)
        p = self._fwd_params(q, k, v, node, end, out, lse)
        if self.lib.ps_attn_fwd_cuda(ctypes.byref(p), self._stream()):
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
        if self.lib.ps_attn_bwd_cuda(ctypes.byref(b), self._stream()):
            raise RuntimeError(self.lib.ps_cuda_last_error().decode())
        return dq, dk, dv


# ---------------------------------------------------------------------------------------------------------------
# Timing and comparison
# ---------------------------------------------------------------------------------------------------------------

def median_ms(fn, iters, warmup=3):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        e0.record()
        fn()
        e1.record()
        e1.synchronize()
        times.append(e0.elapsed_time(e1))
    return statistics.median(times)


def rel(a, b):
    a, b = a.float(), b.float()
    if not torch.isfinite(a).all():
        return float("inf")
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-6)).item()


CSV_FIELDS = ["layout", "T", "B", "visible_frac", "method", "variant", "fwd_ms", "fb_ms", "fwd_tflops",
              "fb_tflops", "err_out", "err_dq", "err_dk", "err_dv", "note"]


class Results:
    def __init__(self, csv_path):
        self.rows = []
        self.csv = open(csv_path, "w") if csv_path else None
        if self.csv:
            self.csv.write(",".join(CSV_FIELDS) + "\n")
            self.csv.flush()

    def add(self, **row):
        row = {f: row.get(f, "") for f in CSV_FIELDS}
        self.rows.append(row)
        if self.csv:
            self.csv.write(",".join(f"{x:.4g}" if isinstance(x, float) else str(x) for x in row.values()) + "\n")
            self.csv.flush()
        fwd = f"{row['fwd_ms']:.3f}" if isinstance(row["fwd_ms"], float) else "-"
        fb = f"{row['fb_ms']:.3f}" if isinstance(row["fb_ms"], float) else "-"
        tf = f"{row['fb_tflops']:.0f}" if isinstance(row["fb_tflops"], float) else "-"
        print(f"  {row['layout']:7} T={row['T']:<5} {row['method']:12} fwd {fwd:>9} ms  fwd+bwd {fb:>9} ms "
              f"({tf:>4} TFLOP/s visible)  {row['variant']} {row['note']}", flush=True)

    def get(self, layout_, T, method, key):
        for r in self.rows:
            if r["layout"] == layout_ and r["T"] == T and r["method"] == method:
                return r[key] if isinstance(r[key], float) else None
        return None


def markdown(results, header):
    lines = [header, "",
             "| layout | T | B | visible | ours fwd ms | ours f+b ms | ours f+b TFLOP/s | flex fwd ms | flex f+b ms | "
             "sdpa dense f+b ms | sdpa paired f+b ms | **flex/ours f+b** | flex/ours fwd | dense/ours f+b | "
             "paired/ours f+b | ours vs flex err (out, dq, dk, dv) |",
             "|" + "---|" * 16]

    def fmt(x, spec=".3f"):
        return format(x, spec) if isinstance(x, float) else "-"

    def ratio(a, b):
        return f"{a / b:.2f}" if a and b else "-"

    seen = []
    for r in results.rows:
        if (r["layout"], r["T"]) in seen:
            continue
        seen.append((r["layout"], r["T"]))
        L, T = r["layout"], r["T"]
        g = lambda m, k: results.get(L, T, m, k)  # noqa: E731
        errs = [g("ours", k) for k in ("err_out", "err_dq", "err_dk", "err_dv")]
        err = ", ".join(f"{e:.1e}" for e in errs) if all(e is not None for e in errs) else "-"
        lines.append(
            f"| {L} | {T} | {r['B']} | {fmt(r['visible_frac'], '.3f')} | {fmt(g('ours', 'fwd_ms'))} | "
            f"{fmt(g('ours', 'fb_ms'))} | {fmt(g('ours', 'fb_tflops'), '.0f')} | {fmt(g('flex', 'fwd_ms'))} | "
            f"{fmt(g('flex', 'fb_ms'))} | {fmt(g('sdpa_dense', 'fb_ms'))} | {fmt(g('sdpa_paired', 'fb_ms'))} | "
            f"**{ratio(g('flex', 'fb_ms'), g('ours', 'fb_ms'))}** | "
            f"{ratio(g('flex', 'fwd_ms'), g('ours', 'fwd_ms'))} | "
            f"{ratio(g('sdpa_dense', 'fb_ms'), g('ours', 'fb_ms'))} | "
            f"{ratio(g('sdpa_paired', 'fb_ms'), g('ours', 'fb_ms'))} | {err} |")
    notes = sorted({f"{r['method']}: {r['variant']}" for r in results.rows if r["variant"]})
    return "\n".join(lines + [""] + [f"- {n}" for n in notes]) + "\n"


# ---------------------------------------------------------------------------------------------------------------
# The benchmark
# ---------------------------------------------------------------------------------------------------------------

def sdpa_runner(q, k, v, g, backends, **kwargs):
    """(forward, forward + backward, description) of SDPA on [B, H, T, D] inputs: the first of the backends that
    runs both, with enable_gqa, else with k and v repeated to Hq heads beforehand (outside the timing)."""
    from torch.nn.attention import sdpa_kernel
    for backend in backends:
        for gqa in (True, False):
            if gqa:
                kk, vv = k, v
            else:
                kk, vv = (x.detach().repeat_interleave(HQ // HKV, dim=1).requires_grad_() for x in (k, v))

            def fwd(backend=backend, gqa=gqa, kk=kk, vv=vv):
                with sdpa_kernel(backend):
                    return F.scaled_dot_product_attention(q, kk, vv, enable_gqa=gqa, **kwargs)

            def fb(fwd=fwd, kk=kk, vv=vv):
                return torch.autograd.grad(fwd(), (q, kk, vv), g)
            try:
                fb()
            except RuntimeError:
                continue
            return fwd, fb, f"{backend.name}, " + ("enable_gqa" if gqa else "k/v heads repeated outside the timing")
    raise RuntimeError(f"none of {[b.name for b in backends]} runs these inputs")


# FlexAttention's mask_mod reads these (module globals: a new layout of the same shape reuses the compiled kernel)
_NODE = _END = None


def mask_mod(b, h, q_idx, kv_idx):
    return visible(_NODE, _END, q_idx, kv_idx, b)


def main():
    global _NODE, _END
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lib", required=True, help="libprefixshare_cuda.so")
    ap.add_argument("--iters", type=int, default=10, help="timed runs per measurement (median)")
    ap.add_argument("--seqlens", default="1024,2048,4096,8192")
    ap.add_argument("--layouts", default=",".join(LAYOUTS))
    ap.add_argument("--methods", default="ours,flex,sdpa_dense,sdpa_paired")
    ap.add_argument("--csv", help="write one row per (layout, T, method)")
    ap.add_argument("--md", help="write the markdown table")
    args = ap.parse_args()

    import torch._dynamo
    from torch.nn.attention import SDPBackend
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    for name in ("cache_size_limit", "recompile_limit"):  # one compile per T (static shapes); keep them all
        if hasattr(torch._dynamo.config, name):
            setattr(torch._dynamo.config, name, 64)
    dev = "cuda"
    ours = Ours(args.lib)
    flex = torch.compile(flex_attention, dynamic=False)
    methods = args.methods.split(",")
    results = Results(args.csv)
    header = (f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, CUDA {torch.version.cuda}, "
              f"bf16, Hq {HQ}, Hkv {HKV}, D {D}, {TOKENS} tokens per call, median of {args.iters}")
    print(header, flush=True)
    t_start = time.time()
    for T in (int(t) for t in args.seqlens.split(",")):
        B = max(1, TOKENS // T)
        for kind in args.layouts.split(","):
            torch.manual_seed(T)
            node, end, docs = layout(kind, B, T, dev)
            pairs = visible_pairs(docs, B)
            frac = pairs / (B * T * (T + 1) / 2)  # of the causal triangle
            fl_fwd = 4.0 * D * HQ * pairs
            q = torch.randn(B, T, HQ, D, device=dev, dtype=torch.bfloat16)
            k = torch.randn(B, T, HKV, D, device=dev, dtype=torch.bfloat16)
            v = torch.randn(B, T, HKV, D, device=dev, dtype=torch.bfloat16)
            g = torch.randn_like(q)
            base = dict(layout=kind, T=T, B=B, visible_frac=frac)
            print(f"{kind} T={T} B={B}: visible {frac:.3f} of the causal triangle "
                  f"({time.time() - t_start:.0f} s in)", flush=True)
            flex_out = None

            # FlexAttention first: its results are the comparison for ours
            if "flex" in methods:
                try:
                    _NODE, _END = node, end
                    t0 = time.time()
                    bm = create_block_mask(mask_mod, B, None, T, T, device=dev)
                    qf, kf, vf = (x.transpose(1, 2).detach().requires_grad_() for x in (q, k, v))
                    gf = g.transpose(1, 2)

                    def flex_fwd():
                        return flex(qf, kf, vf, block_mask=bm, enable_gqa=True)

                    def flex_fb():
                        return torch.autograd.grad(flex_fwd(), (qf, kf, vf), gf)
                    o = flex_fwd()
                    grads = torch.autograd.grad(o, (qf, kf, vf), gf)
                    torch.cuda.synchronize()
                    first = time.time() - t0
                    flex_out = (o.detach().transpose(1, 2),) + tuple(x.transpose(1, 2) for x in grads)
                    t_f, t_fb = median_ms(flex_fwd, args.iters), median_ms(flex_fb, args.iters)
                    results.add(**base, method="flex", variant="compiled, default kernel options, BlockMask 128",
                                fwd_ms=t_f, fb_ms=t_fb, fwd_tflops=fl_fwd / t_f * 1e-9,
                                fb_tflops=2.5 * fl_fwd / t_fb * 1e-9, note=f"mask+compile+first run {first:.1f} s")
                    del qf, kf, vf, o, grads, bm
                except Exception as e:  # noqa: BLE001 (report and go on: one method must not end the benchmark)
                    results.add(**base, method="flex", note=f"ERROR {type(e).__name__}: {str(e)[:200]}")

            if "ours" in methods:
                try:
                    def ours_fwd():
                        return ours.forward(q, k, v, node, end)

                    def ours_fb():
                        out, lse = ours.forward(q, k, v, node, end)
                        return ours.backward(q, k, v, node, end, out, lse, g)
                    out, lse = ours_fwd()
                    dq, dk, dv = ours.backward(q, k, v, node, end, out, lse, g)
                    errs = {}
                    if flex_out is not None:
                        errs = dict(zip(("err_out", "err_dq", "err_dk", "err_dv"),
                                        (rel(a, b) for a, b in zip((out, dq, dk, dv), flex_out))))
                    worst = max(errs.values()) if errs else None
                    note = "" if worst is None else ("agrees with flex" if worst <= 2e-2 else "DISAGREES with flex")
                    t_f, t_fb = median_ms(ours_fwd, args.iters), median_ms(ours_fb, args.iters)
                    results.add(**base, method="ours", variant="", fwd_ms=t_f, fb_ms=t_fb,
                                fwd_tflops=fl_fwd / t_f * 1e-9, fb_tflops=2.5 * fl_fwd / t_fb * 1e-9, note=note,
                                **errs)
                    del out, lse, dq, dk, dv
                except Exception as e:  # noqa: BLE001
                    results.add(**base, method="ours", note=f"ERROR {type(e).__name__}: {str(e)[:200]}")
            flex_out = None

            if "sdpa_dense" in methods:
                try:
                    mask = dense_mask(node, end)
                    qs, ks, vs = (x.transpose(1, 2).detach().requires_grad_() for x in (q, k, v))
                    fwd, fb, variant = sdpa_runner(qs, ks, vs, g.transpose(1, 2),
                                                   (SDPBackend.EFFICIENT_ATTENTION, SDPBackend.CUDNN_ATTENTION),
                                                   attn_mask=mask)
                    t_f, t_fb = median_ms(fwd, args.iters), median_ms(fb, args.iters)
                    results.add(**base, method="sdpa_dense", variant=variant, fwd_ms=t_f, fb_ms=t_fb,
                                fwd_tflops=fl_fwd / t_f * 1e-9, fb_tflops=2.5 * fl_fwd / t_fb * 1e-9,
                                note="computes every (query, key) pair; TFLOP/s on the visible ones")
                    del mask, qs, ks, vs, fwd, fb
                except Exception as e:  # noqa: BLE001
                    results.add(**base, method="sdpa_dense", note=f"ERROR {type(e).__name__}: {str(e)[:200]}")

            if "sdpa_paired" in methods:
                try:
                    lengths = paired_sequences(docs)
                    L, nseq = max(lengths), B * len(lengths)
                    qs = torch.randn(nseq, HQ, L, D, device=dev, dtype=torch.bfloat16, requires_grad=True)
                    ks = torch.randn(nseq, HKV, L, D, device=dev, dtype=torch.bfloat16, requires_grad=True)
                    vs = torch.randn(nseq, HKV, L, D, device=dev, dtype=torch.bfloat16, requires_grad=True)
                    gs = torch.randn(nseq, HQ, L, D, device=dev, dtype=torch.bfloat16)
                    fwd, fb, variant = sdpa_runner(qs, ks, vs, gs, (SDPBackend.FLASH_ATTENTION,), is_causal=True)
                    t_f, t_fb = median_ms(fwd, args.iters), median_ms(fb, args.iters)
                    # its own work: the causal triangles of the paired sequences (all of one length here)
                    fl_pair = 4.0 * D * HQ * sum(B * n * (n + 1) / 2 for n in lengths)
                    results.add(**base, method="sdpa_paired", variant=f"{variant}, {nseq} sequences of {L}",
                                fwd_ms=t_f, fb_ms=t_fb, fwd_tflops=fl_pair / t_f * 1e-9,
                                fb_tflops=2.5 * fl_pair / t_fb * 1e-9, note="TFLOP/s on its own (paired) work")
                    del qs, ks, vs, gs, fwd, fb
                except Exception as e:  # noqa: BLE001
                    results.add(**base, method="sdpa_paired", note=f"ERROR {type(e).__name__}: {str(e)[:200]}")
            del q, k, v, g, node, end
            torch.cuda.empty_cache()
    table = markdown(results, header)
    print("\n" + table)
    print(f"benchmark wall time {time.time() - t_start:.0f} s")
    if args.md:
        with open(args.md, "w") as f:
            f.write(table)
    errors = [r for r in results.rows if str(r["note"]).startswith("ERROR") or "DISAGREES" in str(r["note"])]
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
