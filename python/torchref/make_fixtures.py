"""Writes the small Hugging Face fixtures the Java tests compare against (deterministic: seeded, single-threaded).

    /usr/bin/python3 python/torchref/make_fixtures.py [--out dl4j-prefixshare/src/test/resources/hf-fixtures]

Each model directory gets config.json, its safetensors file(s) and expected.json; each adapter directory gets
adapter_config.json, adapter_model.safetensors and expected.json. The format is described in README.md.
Running it twice gives identical bytes.
"""

import argparse
import json
import math
import os
import shutil
import sys
from collections import OrderedDict

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from torchref import hf_decoder, logprobs, lora, safetensors_io  # noqa: E402

DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "dl4j-prefixshare", "src", "test",
                           "resources", "hf-fixtures")
TRANSFORMERS_VERSION = "4.46.3"  # the version whose config.json layout these files follow
BOS, EOS = 1, 2
BETA = 0.1
# (prompt length incl. BOS, chosen length incl. EOS, rejected length incl. EOS): short and long, unequal.
EXAMPLE_LENGTHS = [(1, 5, 6), (2, 1, 3), (5, 7, 4), (12, 30, 22), (9, 40, 45), (33, 12, 9), (20, 48, 31)]
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
SENSITIVITY_MIN = 1e-3  # a feature the fixture is meant to test must move some log-prob by at least this (relative)


# --------------------------------------------------------------------------------------------------- configs

def llama_config(**kw):
    c = {"architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
         "bos_token_id": BOS, "eos_token_id": EOS, "hidden_act": "silu", "initializer_range": 0.02,
         "mlp_bias": False, "model_type": "llama", "pretraining_tp": 1, "rope_scaling": None,
         "tie_word_embeddings": False, "transformers_version": TRANSFORMERS_VERSION, "use_cache": True}
    c.update(kw)
    c.setdefault("head_dim", c["hidden_size"] // c["num_attention_heads"])
    return c


def mistral_config(**kw):
    c = {"architectures": ["MistralForCausalLM"], "attention_dropout": 0.0, "bos_token_id": BOS, "eos_token_id": EOS,
         "hidden_act": "silu", "initializer_range": 0.02, "model_type": "mistral", "tie_word_embeddings": False,
         "transformers_version": TRANSFORMERS_VERSION, "use_cache": True}
    c.update(kw)
    c.setdefault("head_dim", c["hidden_size"] // c["num_attention_heads"])
    return c


def qwen2_config(**kw):
    c = {"architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": BOS, "eos_token_id": EOS,
         "hidden_act": "silu", "initializer_range": 0.02, "max_window_layers": 28, "model_type": "qwen2",
         "rope_scaling": None, "sliding_window": None, "tie_word_embeddings": False,
         "transformers_version": TRANSFORMERS_VERSION, "use_cache": True, "use_sliding_window": False}
    c.update(kw)
    return c


FIXTURES = [
    # name, seed, weight dtype, number of weight files, config, sensitivity variants
    dict(name="llama-gqa-bf16-sharded", seed=101, dtype=torch.bfloat16, shards=2,
         config=llama_config(vocab_size=512, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                             rms_norm_eps=1e-5, rope_theta=500000.0, torch_dtype="bfloat16",
                             rope_scaling={"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                                           "original_max_position_embeddings": 64, "rope_type": "llama3"}),
         variants={"rope_scaling_ignored": {"rope_scaling": None}, "kv_heads_tiled_not_grouped": "tiled_kv"}),
    dict(name="qwen2-tied-f32", seed=202, dtype=torch.float32, shards=1,
         config=qwen2_config(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                             rms_norm_eps=1e-6, rope_theta=1000000.0, tie_word_embeddings=True,
                             torch_dtype="float32"),
         variants={"qkv_bias_ignored": "zero_bias", "kv_heads_tiled_not_grouped": "tiled_kv"}),
    dict(name="mistral-f32", seed=303, dtype=torch.float32, shards=1,
         config=mistral_config(vocab_size=512, hidden_size=48, head_dim=16, intermediate_size=128,
                               num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                               max_position_embeddings=512, rms_norm_eps=1e-5, rope_theta=10000.0,
                               sliding_window=16, torch_dtype="float32"),
         variants={"sliding_window_ignored": {"sliding_window": None},
                   "sliding_window_one_wider": {"sliding_window": 17},
                   "sliding_window_one_narrower": {"sliding_window": 15},
                   "kv_heads_tiled_not_grouped": "tiled_kv"}),
    dict(name="llama-linear-rope-f32", seed=404, dtype=torch.float32, shards=1,
         config=llama_config(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512,
                             rms_norm_eps=1e-6, rope_theta=10000.0, attention_bias=True, torch_dtype="float32",
                             rope_scaling={"factor": 2.0, "type": "linear"}),
         variants={"rope_scaling_ignored": {"rope_scaling": None}, "attention_bias_ignored": "zero_bias"}),
]

ADAPTERS = [
    dict(name="lora-adapter", base="llama-gqa-bf16-sharded", seed=505, r=4, lora_alpha=8, use_rslora=False,
         target_modules=["q_proj", "v_proj"],
         merged=["model.layers.0.self_attn.q_proj.weight", "model.layers.1.self_attn.v_proj.weight"]),
    dict(name="lora-adapter-all-linear-rslora", base="llama-gqa-bf16-sharded", seed=606, r=4, lora_alpha=8,
         use_rslora=True,
         target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
         merged=["model.layers.0.self_attn.k_proj.weight", "model.layers.1.mlp.down_proj.weight"]),
]


# --------------------------------------------------------------------------------------------------- weights

def random_weights(cfg, g):
    """Random HF-named weights with enough structure that the math under test moves the log-probs: unit-ish
    activations, peaky attention (q/k gain 2), logits of a few units, norm weights and biases not trivial."""
    model = hf_decoder.CausalLM(cfg, torch.float32)  # only for the names and shapes, in HF order
    out = OrderedDict()
    for name, p in model.named_parameters():
        shape = tuple(p.shape)
        if name.endswith("layernorm.weight") or name == "model.norm.weight":
            t = 1.0 + 0.2 * torch.randn(shape, generator=g)
        elif name.endswith(".bias"):
            t = 0.3 * torch.randn(shape, generator=g)
        elif name == "model.embed_tokens.weight":
            t = 0.5 * torch.randn(shape, generator=g)
        elif name == "lm_head.weight":
            t = (2.5 / math.sqrt(shape[1])) * torch.randn(shape, generator=g)
        else:
            gain = 2.0 if (".q_proj." in name or ".k_proj." in name) else 1.0
            t = (gain / math.sqrt(shape[1])) * torch.randn(shape, generator=g)
        out[name] = t
    return out


def random_examples(g, vocab):
    def toks(n):
        return torch.randint(3, vocab, (n,), generator=g).tolist()
    examples = []
    for p, c, r in EXAMPLE_LENGTHS:
        examples.append({"prompt_ids": [BOS] + toks(p - 1), "chosen_ids": toks(c - 1) + [EOS],
                         "rejected_ids": toks(r - 1) + [EOS]})
    return examples


# --------------------------------------------------------------------------------------------------- scoring

def score(model, examples):
    """[(chosen, rejected)] log-probs as 0-dim tensors (differentiable)."""
    return [(logprobs.sequence_logp(model, e["prompt_ids"], e["chosen_ids"]),
             logprobs.sequence_logp(model, e["prompt_ids"], e["rejected_ids"])) for e in examples]


def as_floats(ts):
    return [float(t) for t in ts]


def dpo_values(model, examples, ref_chosen, ref_rejected, params):
    """Loss and d loss / d param for each name in `params` (autograd in the model's dtype)."""
    model.zero_grad()
    dtype = model.dtype
    pairs = score(model, examples)
    pc = torch.stack([c for c, _ in pairs])
    pr = torch.stack([r for _, r in pairs])
    loss = logprobs.dpo_sigmoid_loss(pc, pr, torch.tensor(ref_chosen, dtype=dtype),
                                     torch.tensor(ref_rejected, dtype=dtype), BETA)
    named = dict(model.named_parameters())
    grads = torch.autograd.grad(loss, [named[p] for p in params])
    return float(loss), [gr.detach() for gr in grads]


def max_rel_diff(a, b):
    return max(abs(x - y) / max(abs(y), 1e-30) for x, y in zip(a, b))


def build(cfg_dict, weights, dtype):
    cfg = hf_decoder.DecoderConfig.from_dict(cfg_dict)
    m = hf_decoder.CausalLM(cfg, dtype)
    m.load_hf_state_dict(weights)
    m.eval()
    return m


def expected_block(model_f32, model_f64, examples, ref, grad_params, peft_names=None):
    """The "examples" and "dpo" parts of expected.json."""
    with torch.no_grad():
        s32 = score(model_f32, examples)
        s64 = score(model_f64, examples)
    rows = []
    for e, (c32, r32), (c64, r64) in zip(examples, s32, s64):
        row = dict(e)
        row.update(chosen_logps=float(c32), rejected_logps=float(r32), chosen_logps_f64=float(c64),
                   rejected_logps_f64=float(r64))
        rows.append(row)
    ref_c, ref_r = ref
    loss32, g32 = dpo_values(model_f32, examples, ref_c, ref_r, grad_params)
    loss64, g64 = dpo_values(model_f64, examples, ref_c, ref_r, grad_params)
    names = peft_names or grad_params
    grads = [{"param": n, "shape": list(a.shape), "grad": a.flatten().tolist(), "grad_f64": b.flatten().tolist()}
             for n, a, b in zip(names, g32, g64)]
    dpo = {"beta": BETA, "loss_type": "sigmoid", "ref_chosen_logps": ref_c, "ref_rejected_logps": ref_r,
           "loss": loss32, "loss_f64": loss64, "grad_param": grads[0]["param"], "grad_shape": grads[0]["shape"],
           "grad": grads[0]["grad"], "grad_f64": grads[0]["grad_f64"]}
    if len(grads) > 1:
        dpo["extra_grads"] = grads[1:]
    return rows, dpo


def f32_round(xs):
    return torch.tensor(xs, dtype=torch.float32).tolist()


def tiled_repeat_kv(x, n_rep):
    """A plausible GQA bug: kv heads tiled (0,1,0,1) instead of grouped (0,0,1,1) as HF's repeat_kv does."""
    return x if n_rep == 1 else x.repeat(1, n_rep, 1, 1)


def variant_logps(spec, cfg_dict, weights, examples):
    """Log-probs (flat: chosen, rejected, ...) of a deliberately wrong variant of the model."""
    if spec == "tiled_kv":
        original = hf_decoder.repeat_kv
        hf_decoder.repeat_kv = tiled_repeat_kv
        try:
            with torch.no_grad():
                return [float(x) for pair in score(build(cfg_dict, weights, torch.float32), examples) for x in pair]
        finally:
            hf_decoder.repeat_kv = original
    with torch.no_grad():
        return [float(x) for pair in score(variant_model(spec, cfg_dict, weights), examples) for x in pair]


def variant_model(spec, cfg_dict, weights):
    if spec == "zero_bias":
        w = OrderedDict((k, torch.zeros_like(v) if k.endswith(".bias") else v) for k, v in weights.items())
        return build(cfg_dict, w, torch.float32)
    c = dict(cfg_dict)
    c.update(spec)
    return build(c, weights, torch.float32)


SCORING_NOTE = ("sequence = prompt_ids + response_ids, positions 0..T-1, one sequence per forward (no padding); "
                "logp = sum over t in [len(prompt_ids), T) of log_softmax(logits[t-1])[ids[t]]")


def write_model_fixture(out_root, spec, vocab_size=None, tokenizer_dir=None):
    name = spec["name"]
    d = os.path.join(out_root, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    g = torch.Generator().manual_seed(spec["seed"])
    cfg_dict = dict(spec["config"])
    if vocab_size is not None:
        cfg_dict["vocab_size"] = vocab_size
    cfg = hf_decoder.DecoderConfig.from_dict(cfg_dict)
    weights = OrderedDict((k, v.to(spec["dtype"])) for k, v in random_weights(cfg, g).items())
    # Two shards: a limit of 2/3 of the total makes huggingface_hub's splitter cut once (no tensor exceeds it here).
    total = sum(t.numel() * t.element_size() for t in weights.values())
    files = safetensors_io.save_pretrained(d, weights, cfg_dict, total * 2 // 3 if spec["shards"] == 2 else "5GB")
    if len(files) != spec["shards"]:
        raise AssertionError(f"{name}: expected {spec['shards']} weight file(s), got {files}")
    if tokenizer_dir:
        for f in TOKENIZER_FILES:
            if os.path.isfile(os.path.join(tokenizer_dir, f)):
                shutil.copyfile(os.path.join(tokenizer_dir, f), os.path.join(d, f))

    # The reference reads back what was written, exactly as a consumer would.
    stored = safetensors_io.load_state_dict(d)
    m32 = build(cfg_dict, stored, torch.float32)
    m64 = build(cfg_dict, stored, torch.float64)
    examples = random_examples(g, cfg.vocab_size)
    with torch.no_grad():
        base = score(m32, examples)
    noise = (torch.rand((len(examples), 2), generator=g, dtype=torch.float64) * 6 - 3).tolist()
    ref_c = f32_round([float(c) + n[0] for (c, _), n in zip(base, noise)])
    ref_r = f32_round([float(r) + n[1] for (_, r), n in zip(base, noise)])
    rows, dpo = expected_block(m32, m64, examples, (ref_c, ref_r), ["model.layers.0.self_attn.q_proj.weight"])

    flat = [x for r in rows for x in (r["chosen_logps"], r["rejected_logps"])]
    sensitivity = {}
    for vname, vspec in spec["variants"].items():
        alt = variant_logps(vspec, cfg_dict, stored, examples)
        sensitivity[vname] = max_rel_diff(alt, flat)
        if sensitivity[vname] < SENSITIVITY_MIN:
            raise AssertionError(f"{name}: variant {vname} moves the log-probs by only {sensitivity[vname]:.2e}")
    expected = OrderedDict(
        format=1, generator="python/torchref/make_fixtures.py", model_dir=".", adapter_dir=None,
        weights_dtype=cfg_dict["torch_dtype"], compute_dtype="float32", scoring=SCORING_NOTE,
        examples=rows, dpo=dpo, sensitivity_max_rel=sensitivity,
        f32_vs_f64_max_rel=max_rel_diff(flat, [x for r in rows for x in (r["chosen_logps_f64"],
                                                                          r["rejected_logps_f64"])]))
    write_expected(os.path.join(d, "expected.json"), expected)
    return d, stored


def write_adapter_fixture(out_root, spec, base_dirs):
    name = spec["name"]
    d = os.path.join(out_root, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    base_dir = base_dirs[spec["base"]]
    g = torch.Generator().manual_seed(spec["seed"])
    probe = hf_decoder.from_pretrained(base_dir, torch.float32)
    tensors = OrderedDict()
    for mname, module in probe.named_modules():
        if isinstance(module, torch.nn.Linear) and mname.rsplit(".", 1)[-1] in spec["target_modules"]:
            r, (out_f, in_f) = spec["r"], module.weight.shape
            tensors[f"{lora.PREFIX}{mname}.lora_A.weight"] = (1.0 / math.sqrt(in_f)) * torch.randn(
                (r, in_f), generator=g)
            tensors[f"{lora.PREFIX}{mname}.lora_B.weight"] = 0.15 * torch.randn((out_f, r), generator=g)
    rel_base = os.path.relpath(base_dir, d)
    config = lora.peft_config(spec["r"], spec["lora_alpha"], spec["target_modules"], rel_base, spec["use_rslora"])
    lora.save_adapter(d, tensors, config)

    m32 = lora.apply_lora(hf_decoder.from_pretrained(base_dir, torch.float32), d)
    m64 = lora.apply_lora(hf_decoder.from_pretrained(base_dir, torch.float64), d)
    with open(os.path.join(base_dir, "expected.json"), encoding="utf-8") as f:
        examples = [{k: e[k] for k in ("prompt_ids", "chosen_ids", "rejected_ids")}
                    for e in json.load(f)["examples"]]
    # TRL with a PEFT model and no ref_model: reference log-probs are the policy's with the adapters disabled.
    with torch.no_grad(), lora.adapters_disabled(m32):
        ref = score(m32, examples)
    ref_c, ref_r = [float(c) for c, _ in ref], [float(r) for _, r in ref]
    q0 = "model.layers.0.self_attn.q_proj"
    grad_params = [f"{q0}.lora_A.weight", f"{q0}.lora_B.weight"]
    rows, dpo = expected_block(m32, m64, examples, (ref_c, ref_r), grad_params,
                               [lora.PREFIX + p for p in grad_params])
    dpo["ref_note"] = "ref_*_logps are the base model's (adapters disabled), in float32"

    flat = [x for r in rows for x in (r["chosen_logps"], r["rejected_logps"])]
    base_flat = [x for pair in zip(ref_c, ref_r) for x in pair]
    effect = max_rel_diff(flat, base_flat)
    if effect < SENSITIVITY_MIN:
        raise AssertionError(f"{name}: the adapter moves the log-probs by only {effect:.2e}")
    merged_sd = lora.merged_state_dict(m32)
    merged = OrderedDict((k, {"shape": list(merged_sd[k].shape), "values": merged_sd[k].flatten().tolist()})
                         for k in spec["merged"])
    # Merged and unmerged must agree (a self-check of the fixture, recorded for the reader).
    mm = lora.merge_lora(lora.apply_lora(hf_decoder.from_pretrained(base_dir, torch.float32), d))
    with torch.no_grad():
        merged_flat = [float(x) for pair in score(mm, examples) for x in pair]
    expected = OrderedDict(
        format=1, generator="python/torchref/make_fixtures.py", model_dir=rel_base, adapter_dir=".",
        weights_dtype="bfloat16 base, float32 adapter", compute_dtype="float32", scoring=SCORING_NOTE,
        lora_scaling=lora.scaling_of(config), examples=rows, dpo=dpo,
        sensitivity_max_rel={"adapter_disabled": effect},
        merged_note="W + scaling * B @ A in float32, W upcast from the base's bfloat16; values row-major",
        merged=merged, merged_vs_unmerged_max_rel=max_rel_diff(merged_flat, flat))
    write_expected(os.path.join(d, "expected.json"), expected)


def to_json(obj, indent=0):
    """JSON with one key per line and every list of numbers on one line. Floats use repr(): the shortest text
    that reads back as the same float64 (so a float32 value reads back exactly)."""
    pad = " " * indent
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f'{pad} {json.dumps(k)}: {to_json(v, indent + 1)}' for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list) and any(isinstance(v, (dict, list)) for v in obj):
        return "[\n" + ",\n".join(f"{pad} {to_json(v, indent + 1)}" for v in obj) + "\n" + pad + "]"
    return json.dumps(obj)


def write_expected(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        f.write(to_json(obj) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    ap.add_argument("--vocab", type=int, help="vocabulary size instead of 512, e.g. 32000 to use the Llama-2 "
                                              "tokenizer (not for the committed fixtures: give --out)")
    ap.add_argument("--tokenizer", help="folder whose tokenizer.json / tokenizer_config.json / "
                                        "special_tokens_map.json are copied into every model directory")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # one summation order, hence bit-identical reruns
    out = os.path.normpath(args.out)
    if (args.vocab or args.tokenizer) and out == os.path.normpath(DEFAULT_OUT):
        ap.error("--vocab/--tokenizer would change the committed fixtures; write them elsewhere with --out")
    if args.tokenizer and not os.path.isfile(os.path.join(args.tokenizer, "tokenizer.json")):
        ap.error(f"{args.tokenizer}: no tokenizer.json")
    os.makedirs(out, exist_ok=True)
    dirs = {}
    for spec in FIXTURES:
        d, _ = write_model_fixture(out, spec, args.vocab, args.tokenizer)
        dirs[spec["name"]] = d
        print(f"wrote {d}")
    for spec in ADAPTERS:
        write_adapter_fixture(out, spec, dirs)
        print(f"wrote {os.path.join(out, spec['name'])}")
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(out) for f in fs)
    print(f"total {total} bytes in {out}")


if __name__ == "__main__":
    main()
