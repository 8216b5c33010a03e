"""Recomputes the log-probs that `prefixshare score --json` printed, with the PyTorch reference, and compares.

    /usr/bin/python3 python/torchref/score_ref.py --model DIR [--adapter DIR] --jsonl score.jsonl [--tol 1e-4]

Input: one JSON object per line, as `prefixshare score --json` prints them:
  paired:  {"index": 0, "prompt_ids": [...], "chosen_ids": [...], "rejected_ids": [...],
            "chosen_logps": -12.3, "rejected_logps": -15.6}
  ranked:  {"index": 0, "prompt_ids": [...], "responses_ids": [[...], ...], "responses_logps": [...]}
Lines without "prompt_ids" (the final {"examples": N, ...} summary) are skipped; blank lines are ignored.
Each log-prob is recomputed as the sum over the response's tokens of log_softmax(logits[t-1])[ids[t]] on the
sequence prompt_ids + response_ids (the ids exactly as printed: BOS, EOS and template tokens included).

Prints the worst relative error |ours - reference| / |reference| and exits 0 if every one is <= --tol, 1 if any is
larger, 2 on unusable input (missing directory, a line that is not JSON or lacks a field).
"""

import argparse
import json
import os
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from torchref import hf_decoder, logprobs, lora  # noqa: E402


class InputError(Exception):
    pass


def parse_lines(path):
    """[(line number, record)] of the example lines."""
    stream = sys.stdin if path == "-" else open(path, encoding="utf-8")
    out = []
    with stream:
        for n, line in enumerate(stream, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except ValueError as e:
                raise InputError(f"{path}:{n}: not JSON ({e})") from None
            if not isinstance(rec, dict):
                raise InputError(f"{path}:{n}: not a JSON object")
            if "prompt_ids" not in rec:
                continue  # the summary line
            if "responses_ids" in rec:
                need = ("responses_ids", "responses_logps")
            else:
                need = ("chosen_ids", "rejected_ids", "chosen_logps", "rejected_logps")
            for k in need:
                if k not in rec:
                    raise InputError(f"{path}:{n}: missing field '{k}'")
            if "responses_ids" in rec and len(rec["responses_ids"]) != len(rec["responses_logps"]):
                raise InputError(f"{path}:{n}: responses_ids and responses_logps differ in length")
            out.append((n, rec))
    return out


def scored_items(rec):
    """[(label, response ids, claimed log-prob)] of one record."""
    if "responses_ids" in rec:
        return [(f"responses[{i}]", ids, lp) for i, (ids, lp) in
                enumerate(zip(rec["responses_ids"], rec["responses_logps"]))]
    return [("chosen", rec["chosen_ids"], rec["chosen_logps"]),
            ("rejected", rec["rejected_ids"], rec["rejected_logps"])]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="Hugging Face model directory (config.json + safetensors)")
    ap.add_argument("--adapter", help="PEFT LoRA adapter directory applied on top of the model")
    ap.add_argument("--jsonl", required=True, help="lines of `prefixshare score --json` ('-' for stdin)")
    ap.add_argument("--tol", type=float, default=1e-4, help="max relative error allowed (default %(default)s)")
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                    help="reference compute dtype (float32 is what HF computes on CPU; default %(default)s)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--verbose", action="store_true", help="print every comparison")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        if not os.path.isdir(args.model):
            raise InputError(f"{args.model}: not a directory")
        if args.adapter and not os.path.isdir(args.adapter):
            raise InputError(f"{args.adapter}: not a directory")
        records = parse_lines(args.jsonl)
        if not records:
            raise InputError(f"{args.jsonl}: no example lines (lines with prompt_ids)")
        dtype = torch.float64 if args.dtype == "float64" else torch.float32
        t0 = time.time()
        model = hf_decoder.from_pretrained(args.model, dtype)
        if args.adapter:
            lora.apply_lora(model, args.adapter)
        load_s = time.time() - t0
    except (InputError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    worst, worst_at, count, tokens = 0.0, None, 0, 0
    t0 = time.time()
    with torch.no_grad():
        for n, rec in records:
            for label, ids, claimed in scored_items(rec):
                try:
                    ref = float(logprobs.sequence_logp(model, rec["prompt_ids"], ids))
                except (ValueError, IndexError, RuntimeError) as e:
                    print(f"error: {args.jsonl}:{n}: {label}: {e}", file=sys.stderr)
                    return 2
                rel = abs(claimed - ref) / max(abs(ref), 1e-30)
                count += 1
                tokens += len(rec["prompt_ids"]) + len(ids)
                if args.verbose:
                    print(f"line {n} index {rec.get('index')} {label}: ours {claimed!r} reference {ref!r} "
                          f"rel {rel:.3e}")
                if rel > worst or worst_at is None:
                    worst, worst_at = rel, (n, rec.get("index"), label, claimed, ref)
    n, index, label, claimed, ref = worst_at
    ok = worst <= args.tol
    print(f"{len(records)} examples, {count} log-probs, {tokens} tokens; load {load_s:.1f} s, "
          f"score {time.time() - t0:.1f} s ({args.dtype}{', adapter' if args.adapter else ''})")
    print(f"max relative error {worst:.3e} at line {n} (index {index}, {label}: ours {claimed!r}, "
          f"reference {ref!r}); tolerance {args.tol:g}: {'OK' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
