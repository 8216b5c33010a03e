"""The PyTorch side of `prefixshare bench peers`: TRL's DPO training step on a Hugging Face directory, timed.

    /usr/bin/python3 python/torchref/bench_step.py --mode paired|packed --threads N

Started by the Java harness (one process per mode for the whole run, like bench training's worker JVMs) and driven
over stdin/stdout. One step is what TRL's DPOTrainer does with precomputed reference log-probs, float32, on a CPU:

- paired (TRL's default): chosen and rejected of every example concatenated into one batch ([chosen..., rejected...]),
  right-padded to the batch's longest sequence, attention mask on the padding; logits of every position, log_softmax,
  the response tokens' log-probs gathered and summed (logprobs.padded_logps, TRL's concatenated_forward);
- packed: the same sequences, each its own document, in one row per step (padded to a multiple of 64), positions
  restarting per sequence and a block-diagonal causal mask ([1, T, T], what a user of torch 1.13 writes: there is no
  SDPA or FlexAttention; hf_decoder's eager attention masks the scores with it);

then the sigmoid loss (beta 0.1, mean over examples), backward, AdamW (lr 1e-5, betas 0.9/0.999, eps 1e-8, no
weight decay: the Java side's optimiser) and zero_grad. No gradient clipping on either side. Batches are built
before timing (TRL builds them in the data loader). Warm-up steps are undone (weights and optimiser restored), so
the first timed step is computed from the directory's weights: its loss is the one the harness compares.

Protocol: one command a line on stdin; each reply is one stdout line "PSP <TAG> <json>".
    (at start)         PSP HELLO {"torch": ..., "threads": N, "blas_info": ..., "blas_library": ..., ...}
    PREPARE req.json   PSP READY {...} after the warm-up, or PSP SKIPPED {"reason": ...} (packed rows whose dense
                       T x T attention would not fit the request's memory budget, or did not fit in memory)
    REWARM             PSP REWARMED {}: one more untimed step, undone
    STEP t             PSP TOOK {"ms": ..., "loss": ...}: timed step t (0-based, in order, or a repeat)
    PROFILE n          PSP PROFILE {"table": ...}: n more steps under torch.autograd.profiler, ops by self CPU time
    DONE               PSP RESULT {"vm_hwm_mb": ..., "first_loss": ..., "last_loss": ..., "steps": ...,
                       "trainable_params": ...}; the workload is released
    EXIT               (or the end of stdin) ends the process
The request: {"model_dir", "workload" (JSON: {"steps": [[{"id", "prompt", "chosen", "rejected", "ref_chosen",
"ref_rejected"}, ...], ...]}), "warmup", "min_warmup_s", "max_warmup_passes", "lr", "beta", "memory_budget_mb"}.
A failure prints its traceback on stderr and exits 3.
"""

import argparse
import ctypes
import gc
import json
import os
import re
import sys
import time
import traceback

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from torchref import hf_decoder, logprobs  # noqa: E402

TAG = "PSP"
PAD_MULTIPLE = 64  # the Java side's PackConfig.PAD_MULTIPLE


def reply(tag, payload):
    sys.stdout.write(f"{TAG} {tag} {json.dumps(payload)}\n")
    sys.stdout.flush()


def blas_library():
    """The BLAS library this process has mapped (after a matmul): its path, and whether it is the reference BLAS."""
    a = torch.ones(64, 64)
    (a @ a).sum().item()
    libs = []
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            name = os.path.basename(path).lower()
            if ("blas" in name or "mkl" in name or "blis" in name) and path not in libs:
                libs.append(path)
    real = [os.path.realpath(p) for p in libs]
    optimised = any(k in p.lower() for p in real for k in ("openblas", "mkl", "blis"))
    reference = not optimised and any("/blas/" in p or "libblas" in os.path.basename(p) for p in real)
    return libs, reference


def hello(threads):
    info = torch.__config__.show()
    found = re.search(r"BLAS_INFO=([^,\s]+)", info)
    blas_info = found.group(1) if found else "unknown"
    libs, reference = blas_library()
    return {"torch": torch.__version__, "python": sys.version.split()[0], "threads": torch.get_num_threads(),
            "interop_threads": torch.get_num_interop_threads(), "requested_threads": threads,
            "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                   "OMP_WAIT_POLICY", "GLIBC_TUNABLES")},
            "blas_info": blas_info, "blas_library": libs, "reference_blas": reference,
            "mkldnn": torch.backends.mkldnn.is_available()}


def vm_hwm_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def reset_peak_rss():
    """Restarts VmHWM at the current RSS (Linux 4.0+), so each workload reports its own peak."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def release_memory():
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass


class Batch:
    """One step's examples in this mode's layout, built before timing."""

    def __init__(self, examples, mode):
        prompts = [e["prompt"] for e in examples] * 2
        responses = [e["chosen"] for e in examples] + [e["rejected"] for e in examples]
        self.n = len(examples)
        self.ref_chosen = torch.tensor([e["ref_chosen"] for e in examples], dtype=torch.float32)
        self.ref_rejected = torch.tensor([e["ref_rejected"] for e in examples], dtype=torch.float32)
        self.mode = mode
        if mode == "paired":
            self.padded = logprobs.pad_batch(prompts, responses)
            self.rows, self.length = self.padded[0].shape
        else:
            self.row = logprobs.PackedRow(prompts, responses, PAD_MULTIPLE)
            self.rows, self.length = self.row.ids.shape

    def logps(self, model):
        return logprobs.padded_logps(model, *self.padded) if self.mode == "paired" else self.row.logps(model)

    def attention_bytes(self, cfg):
        """The resident memory eager attention's [rows, heads, T, T] float32 tensors take, estimated: each layer keeps
        its probabilities for backward and about three more are alive in the layer being computed, (L + 3) tensors;
        glibc then holds on to freed ones. Measured (bench model, packed row of ~4,500 tokens): peak RSS 6.3 tensors'
        worth with glibc's default malloc, 17.6 with the bench's GLIBC_TUNABLES (mmap threshold and trim threshold
        1 GiB, one arena: freed blocks stay in the heap and fragment it; the steps were 1.7x faster)."""
        per = self.rows * cfg.num_attention_heads * self.length * self.length * 4
        fragmentation = 3.0 if "mmap_threshold" in os.environ.get("GLIBC_TUNABLES", "") else 1.3
        return per * (cfg.num_hidden_layers + 3) * fragmentation


class Workload:
    def __init__(self, req, mode):
        with open(req["workload"]) as f:
            steps = json.load(f)["steps"]
        self.warmup = req["warmup"]
        self.beta = req["beta"]
        self.lr = req["lr"]
        self.mode = mode
        self.model = hf_decoder.from_pretrained(req["model_dir"], torch.float32)
        self.model.train()
        self.batches = [Batch(s, mode) for s in steps]
        self.initial = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.optimiser = self.new_optimiser()
        self.first_loss = float("nan")
        self.last_loss = float("nan")
        self.executed = 0
        self.timed_done = 0

    def new_optimiser(self):
        return torch.optim.AdamW(self.model.parameters(), lr=self.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)

    def trainable_params(self):
        return sum(p.numel() for p in self.model.parameters() if p.requires_grad)

    def largest_attention_bytes(self):
        return max(b.attention_bytes(self.model.cfg) for b in self.batches)

    def step(self, batch):
        """One optimiser step (forward, loss, backward, AdamW, zero_grad); its loss."""
        logps = batch.logps(self.model)
        loss = logprobs.dpo_sigmoid_loss(logps[:batch.n], logps[batch.n:], batch.ref_chosen, batch.ref_rejected,
                                         self.beta)
        loss.backward()
        self.optimiser.step()
        self.optimiser.zero_grad()
        self.executed += 1
        value = loss.item()
        if self.executed == 1:
            self.first_loss = value
        self.last_loss = value
        return value

    def restore(self):
        self.model.load_state_dict(self.initial)
        self.optimiser = self.new_optimiser()
        self.executed = 0

    def warm_up(self, min_seconds, max_passes):
        start = time.perf_counter()
        w = 0
        while self.warmup > 0 and (w < self.warmup or (w < max_passes * self.warmup
                                                        and time.perf_counter() - start < min_seconds)):
            self.step(self.batches[w % self.warmup])
            w += 1
        self.restore()

    def rewarm(self):
        if self.warmup > 0:
            self.step(self.batches[self.warmup - 1])
            self.restore()

    def timed_step(self, t):
        if t > self.timed_done:
            raise ValueError(f"timed steps run in order: expected step <= {self.timed_done}, got {t}")
        gc.collect()
        start = time.perf_counter()
        loss = self.step(self.batches[self.warmup + t])
        ms = (time.perf_counter() - start) * 1000.0
        if t == self.timed_done:
            self.timed_done += 1
        return ms, loss

    def profile(self, n):
        timed = len(self.batches) - self.warmup
        with torch.autograd.profiler.profile() as prof:
            for i in range(n):
                self.step(self.batches[self.warmup + i % timed])
        table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25)
        return {"steps": n, "table": table}


def serve(mode, budget_default):
    work = None
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        cmd, _, arg = line.partition(" ")
        if cmd == "PREPARE":
            work = None
            release_memory()
            reset_peak_rss()
            with open(arg) as f:
                req = json.load(f)
            work = Workload(req, mode)
            budget = req.get("memory_budget_mb", budget_default) * 1048576.0
            need = work.largest_attention_bytes()
            if mode == "packed" and need > budget:
                longest = max(b.length for b in work.batches)
                work = None
                release_memory()
                reply("SKIPPED", {"reason": f"the dense T x T attention of a packed row of {longest} tokens would "
                                            f"take ~{need / 1048576.0:.0f} MB of RSS, over --torch-memory-budget "
                                            f"{budget / 1048576.0:.0f} MB"})
                continue
            try:
                work.warm_up(req.get("min_warmup_s", 2.0), req.get("max_warmup_passes", 10))
            except (RuntimeError, MemoryError) as e:
                if mode != "packed" or "alloc" not in str(e).lower() and not isinstance(e, MemoryError):
                    raise
                work = None
                release_memory()
                reply("SKIPPED", {"reason": f"out of memory in the warm-up: {str(e).splitlines()[0]}"})
                continue
            reply("READY", {"rows": max(b.rows for b in work.batches), "length": max(b.length for b in work.batches),
                            "attention_mb": need / 1048576.0})
        elif cmd == "REWARM" and work is not None:
            work.rewarm()
            reply("REWARMED", {})
        elif cmd == "STEP" and work is not None:
            ms, loss = work.timed_step(int(arg))
            reply("TOOK", {"ms": ms, "loss": loss})
        elif cmd == "PROFILE" and work is not None:
            reply("PROFILE", work.profile(int(arg)))
        elif cmd == "DONE" and work is not None:
            reply("RESULT", {"vm_hwm_mb": vm_hwm_mb(), "first_loss": work.first_loss, "last_loss": work.last_loss,
                             "steps": work.timed_done, "trainable_params": work.trainable_params()})
            work = None
            release_memory()
        elif cmd == "EXIT":
            return
        else:
            raise ValueError(f"bench_step: unexpected command '{line}'")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mode", choices=("paired", "packed"), required=True)
    ap.add_argument("--threads", type=int, required=True, help="torch.set_num_threads")
    ap.add_argument("--memory-budget-mb", type=float, default=6144.0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    try:
        reply("HELLO", hello(args.threads))
        serve(args.mode, args.memory_budget_mb)
    except Exception:  # noqa: BLE001 - any failure ends the worker with its trace, as the Java worker does
        traceback.print_exc()
        sys.stderr.flush()
        sys.exit(3)


if __name__ == "__main__":
    main()
