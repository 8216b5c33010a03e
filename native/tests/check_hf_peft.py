#!/usr/bin/env python3
"""Do Hugging Face transformers and PEFT read what prefixshare writes, and compute what prefixshare computed?

Given a fixtures folder made by native/tests/make_gpu_fixtures.sh (on a machine with Java):

  FIXTURES/<name>/model/               an HF model directory written by prefixshare (config.json + safetensors)
  FIXTURES/<name>/score.jsonl          `prefixshare score --json` on it: one line per example, then a summary line
  FIXTURES/<name>/adapter/             (optional) a PEFT LoRA directory written by `prefixshare train --lora-*`
  FIXTURES/<name>/adapter-score.jsonl  (with adapter/) `prefixshare score --adapter` on the base model + adapter
  FIXTURES/<name>/merged/              (with adapter/) `prefixshare export --merge`: the base with the LoRA merged in

it checks, in float32 with TF32 off:
  1. AutoModelForCausalLM.from_pretrained(model/) loads, and its per-example log-probs on the token ids printed in
     score.jsonl equal ours within 1e-4 relative (sequence logp = sum over the response tokens t of
     log_softmax(logits[t-1])[ids[t]], ids = prompt_ids + response_ids);
  2. PeftModel.from_pretrained(base, adapter/) gives adapter-score.jsonl's log-probs (1e-4), and the adapter is not a
     no-op (some lora_B is non-zero, and the adapter moves some log-prob);
  3. merge_and_unload() equals merged/ tensor by tensor (1e-5 relative: max |a - b| / max |b|), and merged/ itself
     loads with AutoModelForCausalLM and reproduces adapter-score.jsonl (1e-4).

  python3 native/tests/check_hf_peft.py .gpu-fixtures [--device cpu|cuda] [--md report.md]

Exit status: 0 all passed, 1 a check failed, 77 no fixtures (skipped). The comparison logic takes any callable
model (token ids [1, L] -> logits [1, L, V]), so test_check_hf_peft.py tests it with a small torch model.
"""
import argparse
import glob
import json
import math
import os
import struct
import sys
import time

import torch

LOGP_RTOL = 1e-4
WEIGHT_RTOL = 1e-5


# ---------------------------------------------------------------------------------------------------------------
# Reading our files
# ---------------------------------------------------------------------------------------------------------------

class FixtureError(Exception):
    """A fixture file that is missing or malformed (names the file and line)."""


def read_score_jsonl(path):
    """(examples, summary): every line with an "index" is an example (prompt_ids, chosen_ids, rejected_ids,
    chosen_logps, rejected_logps); the last line is the summary {"examples": N, ...} and N must match."""
    examples, summary = [], None
    with open(path) as f:
        lines = [line for line in f.read().splitlines() if line.strip()]
    if not lines:
        raise FixtureError(f"{path}: empty")
    for n, line in enumerate(lines, 1):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise FixtureError(f"{path}:{n}: not JSON ({e.msg})") from None
        if not isinstance(obj, dict):
            raise FixtureError(f"{path}:{n}: expected a JSON object")
        if "index" in obj:
            if summary is not None:
                raise FixtureError(f"{path}:{n}: example after the summary line")
            for key in ("prompt_ids", "chosen_ids", "rejected_ids"):
                ids = obj.get(key)
                if not isinstance(ids, list) or not all(isinstance(i, int) and i >= 0 for i in ids):
                    raise FixtureError(f"{path}:{n}: {key} must be a list of token ids")
            for key in ("chosen_logps", "rejected_logps"):
                if not isinstance(obj.get(key), (int, float)):
                    raise FixtureError(f"{path}:{n}: {key} must be a number")
            if not obj["prompt_ids"]:
                raise FixtureError(f"{path}:{n}: empty prompt_ids (the first response token needs a context)")
            examples.append(obj)
        elif "examples" in obj:
            summary = obj
        else:
            raise FixtureError(f"{path}:{n}: neither an example (\"index\") nor the summary (\"examples\")")
    if summary is None:
        raise FixtureError(f"{path}: no summary line ({{\"examples\": N, ...}}) at the end")
    if summary["examples"] != len(examples):
        raise FixtureError(f"{path}: the summary says {summary['examples']} examples, the file has {len(examples)}")
    if not examples:
        raise FixtureError(f"{path}: no examples")
    return examples, summary


_ST_DTYPES = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "BF16": torch.bfloat16,
              "I64": torch.int64, "I32": torch.int32}


def _read_safetensors_file(path):
    """A minimal safetensors reader (used where the safetensors package is missing, i.e. in the local tests)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        buf = bytearray(data[base + begin:base + end])
        t = torch.frombuffer(buf, dtype=_ST_DTYPES[info["dtype"]]) if buf else torch.empty(0, dtype=_ST_DTYPES[
            info["dtype"]])
        out[name] = t.reshape(info["shape"]).clone()
    return out


def load_safetensors_dir(directory):
    """Every tensor of a directory's *.safetensors files (one file, or the shards an index names)."""
    files = sorted(glob.glob(os.path.join(directory, "*.safetensors")))
    if not files:
        raise FixtureError(f"{directory}: no .safetensors file")
    try:
        from safetensors.torch import load_file
    except ImportError:
        load_file = _read_safetensors_file
    tensors = {}
    for path in files:
        for name, t in load_file(path).items():
            if name in tensors:
                raise FixtureError(f"{path}: tensor {name} also in another file")
            tensors[name] = t
    return tensors


# ---------------------------------------------------------------------------------------------------------------
# The comparisons (any callable model: ids [1, L] int64 -> logits [1, L, V])
# ---------------------------------------------------------------------------------------------------------------

def sequence_logp(model_fn, prompt_ids, response_ids):
    """sum over the response tokens t of log_softmax(logits[t - 1])[ids[t]], ids = prompt_ids + response_ids, with
    the log-softmax in float64 (the reference side's rounding stays far under the tolerance)."""
    ids = list(prompt_ids) + list(response_ids)
    if not prompt_ids:
        raise ValueError("empty prompt: the first response token has no context")
    with torch.no_grad():
        logits = model_fn(torch.tensor([ids], dtype=torch.long))
    logits = logits[0].double().cpu()
    if logits.shape[0] != len(ids):
        raise ValueError(f"model returned {logits.shape[0]} positions for {len(ids)} tokens")
    logp = torch.log_softmax(logits, dim=-1)
    p = len(prompt_ids)
    positions = torch.arange(p - 1, len(ids) - 1)
    targets = torch.tensor(ids[p:], dtype=torch.long)
    return logp[positions, targets].sum().item()


def relative(a, b):
    return abs(a - b) / max(abs(b), 1e-12)


def compare_scores(model_fn, examples, rtol=LOGP_RTOL):
    """Per example: (index, which, ours, theirs, relative error). Returns (rows, worst relative error)."""
    rows, worst = [], 0.0
    for ex in examples:
        for which in ("chosen", "rejected"):
            theirs = sequence_logp(model_fn, ex["prompt_ids"], ex[which + "_ids"])
            ours = float(ex[which + "_logps"])
            err = relative(ours, theirs) if math.isfinite(ours) else math.inf
            rows.append((ex["index"], which, ours, theirs, err))
            worst = max(worst, err)
    return rows, worst


def compare_state_dicts(ours, theirs, rtol=WEIGHT_RTOL, tied_names=()):
    """Tensor by tensor: every name on both sides (a name of `tied_names` may be missing from ours: a tied weight),
    same shape, max |a - b| / max |b| <= rtol. Returns (problems, worst relative error, tensors compared)."""
    problems, worst, n = [], 0.0, 0
    for name in sorted(set(ours) | set(theirs)):
        if name not in theirs:
            problems.append(f"{name}: in ours, not in theirs")
            continue
        if name not in ours:
            if name not in tied_names:
                problems.append(f"{name}: in theirs, not in ours")
            continue
        a, b = ours[name].double(), theirs[name].detach().double().cpu()
        if tuple(a.shape) != tuple(b.shape):
            problems.append(f"{name}: shape {tuple(a.shape)} in ours, {tuple(b.shape)} in theirs")
            continue
        n += 1
        if a.numel() == 0:
            continue
        err = ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()
        if not math.isfinite(err):
            err = math.inf
        worst = max(worst, err)
        if err > rtol:
            problems.append(f"{name}: max relative difference {err:.2e} > {rtol:g}")
    return problems, worst, n


def adapter_is_trained(adapter_tensors):
    """True when some lora_B weight is non-zero (B starts at zero: an untrained adapter changes nothing)."""
    bs = [t for name, t in adapter_tensors.items() if "lora_B" in name]
    return bool(bs) and any(bool((t != 0).any()) for t in bs)


# ---------------------------------------------------------------------------------------------------------------
# Hugging Face side (transformers, peft: on the GPU machine)
# ---------------------------------------------------------------------------------------------------------------

def load_hf_model(directory, device):
    from transformers import AutoModelForCausalLM
    kwargs = dict(attn_implementation="eager")
    try:
        model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32, **kwargs)
    except TypeError:  # transformers before the dtype argument
        model = AutoModelForCausalLM.from_pretrained(directory, torch_dtype=torch.float32, **kwargs)
    return model.to(device).eval()


def logits_fn(model, device):
    def fn(ids):
        return model(input_ids=ids.to(device)).logits.float()
    return fn


class Report:
    def __init__(self):
        self.lines, self.failures, self.checks = [], 0, 0

    def check(self, ok, what):
        self.checks += 1
        self.failures += 0 if ok else 1
        line = f"- {'PASS' if ok else 'FAIL'}: {what}"
        self.lines.append(line)
        print(line, flush=True)

    def note(self, text):
        self.lines.append(text)
        print(text, flush=True)


def score_table(report, rows):
    report.note("")
    report.note("| example | response | ours (prefixshare) | Hugging Face | relative error |")
    report.note("|---|---|---|---|---|")
    for index, which, ours, theirs, err in rows:
        report.note(f"| {index} | {which} | {ours:.6f} | {theirs:.6f} | {err:.1e} |")
    report.note("")


def check_fixture(report, folder, device):
    name = os.path.basename(os.path.normpath(folder))
    model_dir, score = os.path.join(folder, "model"), os.path.join(folder, "score.jsonl")
    report.note(f"\n### {name}\n")
    examples, _ = read_score_jsonl(score)
    t0 = time.time()
    try:
        model = load_hf_model(model_dir, device)
    except Exception as e:  # noqa: BLE001 (a load failure is the finding)
        report.check(False, f"{name}: AutoModelForCausalLM.from_pretrained({model_dir}) failed: "
                            f"{type(e).__name__}: {str(e)[:300]}")
        return
    report.check(True, f"{name}: AutoModelForCausalLM.from_pretrained loads {model_dir} "
                       f"({type(model).__name__}, {sum(p.numel() for p in model.parameters())} parameters, "
                       f"{time.time() - t0:.1f} s)")
    rows, worst = compare_scores(logits_fn(model, device), examples)
    report.check(worst <= LOGP_RTOL, f"{name}: log-probs of {len(rows)} sequences match score.jsonl: "
                                     f"worst relative error {worst:.2e} (<= {LOGP_RTOL:g})")
    score_table(report, rows)

    adapter_dir = os.path.join(folder, "adapter")
    if not os.path.isdir(adapter_dir):
        return
    from peft import PeftModel
    a_examples, _ = read_score_jsonl(os.path.join(folder, "adapter-score.jsonl"))
    adapter_tensors = load_safetensors_dir(adapter_dir)
    report.check(adapter_is_trained(adapter_tensors),
                 f"{name}: the adapter is trained (some of its {sum('lora_B' in n for n in adapter_tensors)} "
                 f"lora_B tensors is non-zero)")
    base_by_index = {ex["index"]: ex for ex in examples}
    moved = max((abs(ex[w + "_logps"] - base_by_index[ex["index"]][w + "_logps"])
                 for ex in a_examples if ex["index"] in base_by_index for w in ("chosen", "rejected")), default=0.0)
    report.check(moved > 1e-6, f"{name}: the adapter moves log-probs (largest change {moved:.2e} nats)")
    try:
        peft_model = PeftModel.from_pretrained(load_hf_model(model_dir, device), adapter_dir).eval()
    except Exception as e:  # noqa: BLE001
        report.check(False, f"{name}: PeftModel.from_pretrained({adapter_dir}) failed: "
                            f"{type(e).__name__}: {str(e)[:300]}")
        return
    report.check(True, f"{name}: PeftModel.from_pretrained loads {adapter_dir}")
    rows, worst = compare_scores(logits_fn(peft_model, device), a_examples)
    report.check(worst <= LOGP_RTOL, f"{name}: PEFT log-probs of {len(rows)} sequences match adapter-score.jsonl: "
                                     f"worst relative error {worst:.2e}")
    score_table(report, rows)

    merged_dir = os.path.join(folder, "merged")
    if not os.path.isdir(merged_dir):
        report.check(False, f"{name}: no merged/ beside adapter/ (prefixshare export --merge)")
        return
    merged = peft_model.merge_and_unload()
    # its weights by name, a tied lm_head included; buffers (rotary inv_freq, if persistent) are no weights
    buffers = {n for n, _ in merged.named_buffers()}
    theirs = {n: t for n, t in merged.state_dict().items() if n not in buffers}
    tied = ("lm_head.weight",) if getattr(merged.config, "tie_word_embeddings", False) else ()
    problems, worst, n = compare_state_dicts(load_safetensors_dir(merged_dir), theirs, tied_names=tied)
    report.check(not problems, f"{name}: merge_and_unload() equals merged/ on {n} tensors: worst relative "
                               f"difference {worst:.2e} (<= {WEIGHT_RTOL:g})" + "".join(
                                   f"\n  - {p}" for p in problems[:20]))
    try:
        rows, worst = compare_scores(logits_fn(load_hf_model(merged_dir, device), device), a_examples)
        report.check(worst <= LOGP_RTOL, f"{name}: merged/ loaded by transformers reproduces adapter-score.jsonl: "
                                         f"worst relative error {worst:.2e}")
    except Exception as e:  # noqa: BLE001
        report.check(False, f"{name}: AutoModelForCausalLM.from_pretrained({merged_dir}) failed: "
                            f"{type(e).__name__}: {str(e)[:300]}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("fixtures", help="folder with <name>/model/ and <name>/score.jsonl per model")
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda; float32 with TF32 off either way")
    ap.add_argument("--md", help="append the report (markdown) to this file")
    args = ap.parse_args(argv)

    folders = sorted(os.path.dirname(p) for p in glob.glob(os.path.join(args.fixtures, "*", "score.jsonl")))
    if not folders:
        print(f"skipped: no fixtures under {args.fixtures} (expected <name>/model/ and <name>/score.jsonl; make them "
              f"with native/tests/make_gpu_fixtures.sh)")
        return 77
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    import transformers
    versions = f"torch {torch.__version__}, transformers {transformers.__version__}"
    try:
        import peft
        versions += f", peft {peft.__version__}"
    except ImportError:
        pass
    report = Report()
    report.note(f"Fixtures: {args.fixtures} ({', '.join(os.path.basename(f) for f in folders)}); {versions}; "
                f"device {args.device}, float32, TF32 off")
    for folder in folders:
        try:
            check_fixture(report, folder, args.device)
        except FixtureError as e:
            report.check(False, str(e))
    report.note(f"\n{report.checks - report.failures} of {report.checks} checks passed")
    if args.md:
        with open(args.md, "a") as f:
            f.write("\n".join(report.lines) + "\n")
    return 0 if report.failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
