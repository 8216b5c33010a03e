"""Self-test of torchref: checks the reference against independent formulations, in float64 where it matters.

    /usr/bin/python3 python/torchref/selftest.py [--fixtures DIR] [--skip-regen]

- safetensors: the writer reproduces the Rust library's test vectors byte for byte; every dtype round-trips bit for
  bit (rank 0 and empty tensors too); the reader rejects each broken file with the rule named; sharding and index.
- RoPE: inv_freq of default/linear/llama3 against scalar math written from the formulas (Meta's `apply_scaling`
  for llama3), rotate-half against pairwise 2-D rotations.
- the model: the vectorised forward against a naive one (per position, per head, explicit kv-group index, softmax by
  hand) on random weights, for each model type and option (GQA, llama3/linear RoPE, Qwen2 biases and tied head,
  Mistral sliding window and head_dim, Llama attention/MLP bias), in float64; padded batches and packed rows with
  a block-diagonal mask equal separate sequences; config defaults and refusals.
- LoRA: unmerged = merged = the formula; adapters disabled = base model; rsLoRA scaling.
- log-probs and DPO: the sum definition, the loss formula, autograd gradient against central differences.
- fixtures (when present): check_export passes, stored log-probs reproduce, and make_fixtures regenerates them
  bit-identically.
"""

import argparse
import filecmp
import io
import json
import math
import os
import struct
import sys
import tempfile
import traceback
from collections import OrderedDict

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from torchref import check_export, hf_decoder as H, logprobs, lora, make_fixtures, safetensors_io as st  # noqa

F64 = torch.float64
CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


def assert_close(a, b, rtol, what):
    a, b = torch.as_tensor(a, dtype=F64), torch.as_tensor(b, dtype=F64)
    err = float(((a - b).abs() / b.abs().clamp_min(1e-300)).max()) if a.numel() else 0.0
    if not err <= rtol:
        raise AssertionError(f"{what}: max relative error {err:.3e} > {rtol:.1e}")
    return err


def expect_error(fn, *fragments):
    try:
        fn()
    except (ValueError, OSError) as e:
        msg = str(e)
        for frag in fragments:
            if frag not in msg:
                raise AssertionError(f"error message {msg!r} lacks {frag!r}")
        return msg
    raise AssertionError(f"no error raised (expected one mentioning {fragments})")


# ----------------------------------------------------------------------------------------------- safetensors

@check
def safetensors_rust_test_vectors():
    """Byte-exact against tests in safetensors/src/tensor.rs (test_serialization, test_empty, forced alignment)."""
    data = torch.arange(6, dtype=torch.float32)
    got = st.serialize({"attn.0": data.reshape(1, 2, 3)}, None)
    want = bytes([64, 0, 0, 0, 0, 0, 0, 0]) + b'{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}' \
        + struct.pack("<6f", *range(6))
    assert got == want, "test_serialization"
    assert st.serialize({}, None) == bytes([8, 0, 0, 0, 0, 0, 0, 0]) + b"{}      ", "test_empty"
    want = bytes([40, 0, 0, 0, 0, 0, 0, 0]) + b'{"__metadata__":{"framework":"pt"}}     '
    assert st.serialize({}, {"framework": "pt"}) == want, "test_empty with metadata"
    got = st.serialize({"attn0": data.reshape(1, 1, 2, 3)}, None)
    head = b'{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}'
    want = bytes([72, 0, 0, 0, 0, 0, 0, 0]) + head + b" " * 7 + struct.pack("<6f", *range(6))
    assert got == want, "test_serialization_forced_alignement"
    return "4 vectors byte-identical"


@check
def safetensors_round_trip_all_dtypes():
    g = torch.Generator().manual_seed(1)
    ts = OrderedDict()
    ts["f32"] = torch.randn(3, 5, generator=g)
    ts["f64"] = torch.randn(4, generator=g, dtype=F64)
    ts["bf16"] = torch.randn(7, 3, generator=g).to(torch.bfloat16)
    ts["f16"] = torch.randn(2, 2, 2, generator=g).to(torch.float16)
    ts["i64"] = torch.randint(-2 ** 62, 2 ** 62, (5,), generator=g)
    ts["i32"] = torch.randint(-2 ** 31, 2 ** 31 - 1, (3, 1), generator=g, dtype=torch.int32)
    ts["i16"] = torch.randint(-2 ** 15, 2 ** 15 - 1, (4,), generator=g, dtype=torch.int16)
    ts["i8"] = torch.randint(-128, 127, (9,), generator=g, dtype=torch.int8)
    ts["u8"] = torch.randint(0, 255, (2, 3), generator=g, dtype=torch.uint8)
    ts["bool"] = torch.rand(6, generator=g) > 0.5
    ts["scalar"] = torch.tensor(3.25)
    ts["empty"] = torch.zeros(0, 4)
    ts["nan_inf"] = torch.tensor([float("nan"), float("inf"), -0.0], dtype=torch.bfloat16)
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "x.safetensors")
        st.save_file(ts, p)
        h = st.read_header(p)
        assert h.metadata == {"format": "pt"}
        assert (8 + h.header_len) % 8 == 0
        order = [n for n in h.tensors]
        dt = [st.DTYPE_ORDER.index(h.tensors[n].dtype) for n in order]
        assert dt == sorted(dt, reverse=True), f"not sorted by descending dtype: {order}"
        back, _ = st.load_file(p)
        for k, t in ts.items():
            b = back[k]
            assert b.dtype == t.dtype and b.shape == t.shape, k
            assert st.tensor_bytes(b) == st.tensor_bytes(t), k
            assert (h.data_start + h.tensors[k].begin) % st.DTYPE_SIZE[h.tensors[k].dtype] == 0, f"{k} misaligned"
    return f"{len(ts)} tensors bit-identical"


def _raw_file(header_obj, data, pad=True, header_bytes=None):
    hb = header_bytes if header_bytes is not None else json.dumps(header_obj, separators=(",", ":")).encode()
    if pad:
        hb += b" " * ((8 - len(hb) % 8) % 8)
    return len(hb).to_bytes(8, "little") + hb + data


@check
def safetensors_reader_rejects_bad_files():
    good = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
            "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}
    cases = [
        ("truncated", _raw_file(good, b"\0" * 10), "file has"),
        ("trailing", _raw_file(good, b"\0" * 13), "file has"),
        ("header beyond file", (10 ** 6).to_bytes(8, "little") + b"{}", "runs past the end"),
        ("header too large", (10 ** 8 + 1).to_bytes(8, "little") + b"{}", "exceeds the limit"),
        ("tiny", b"\1\0\0", "fewer than the 8-byte"),
        ("gap", _raw_file({"a": good["a"], "b": {"dtype": "F32", "shape": [1], "data_offsets": [9, 13]}},
                          b"\0" * 13), "gap"),
        ("overlap", _raw_file({"a": good["a"], "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}},
                              b"\0" * 8), "overlap"),
        ("not at 0", _raw_file({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8), "gap"),
        ("unknown dtype", _raw_file({"a": {"dtype": "F31", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4),
         "unknown dtype"),
        ("shape/bytes", _raw_file({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8),
         "needs 12"),
        ("overflow", _raw_file({"a": {"dtype": "F32", "shape": [2 ** 40, 2 ** 40], "data_offsets": [0, 8]}},
                               b"\0" * 8), "overflows"),
        ("duplicate", _raw_file(None, b"\0" * 4, header_bytes=b'{"a":{"dtype":"F32","shape":[1],"data_offsets":'
                                                              b'[0,4]},"a":{"dtype":"F32","shape":[1],'
                                                              b'"data_offsets":[0,4]}}'), "duplicate key"),
        ("not object", _raw_file([1, 2], b""), "not an object"),
        ("not json", _raw_file(None, b"", header_bytes=b"{nope"), "not valid JSON"),
        ("not utf8", _raw_file(None, b"", header_bytes=b'{"\xff":1}'), "UTF-8"),
        ("metadata", _raw_file({"__metadata__": {"x": 1}}, b""), "string to string"),
        ("negative", _raw_file({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 0]}}, b""),
         "non-negative"),
    ]
    with tempfile.TemporaryDirectory() as d:
        for name, raw, frag in cases:
            p = os.path.join(d, name.replace(" ", "_").replace("/", "_") + ".safetensors")
            with open(p, "wb") as f:
                f.write(raw)
            msg = expect_error(lambda: st.read_header(p), frag, p)
            if name in ("gap", "overlap", "unknown dtype", "shape/bytes"):
                assert "tensor '" in msg, f"{name}: message does not name the tensor: {msg}"
        ok = os.path.join(d, "ok.safetensors")
        with open(ok, "wb") as f:
            f.write(_raw_file(good, b"\0" * 12))
        st.read_header(ok)
    return f"{len(cases)} broken files rejected, each naming file and rule"


@check
def sharded_directory_and_index():
    g = torch.Generator().manual_seed(2)
    sd = OrderedDict((f"t{i}", torch.randn(10 + i, generator=g)) for i in range(6))
    sd["big"] = torch.randn(100, generator=g)
    with tempfile.TemporaryDirectory() as d:
        files = st.save_pretrained(d, sd, {"model_type": "x"}, max_shard_bytes=120)
        # bytes 40, 44, 48, 52, 56, 60, 400: huggingface_hub closes a shard when the next tensor would tip it over
        # 120 and puts a tensor larger than the limit in a shard of its own at once (before the open one).
        shards = st.shard_state_dict(sd, 120)
        assert [list(s) for s in shards] == [["t0", "t1"], ["t2", "t3"], ["big"], ["t4", "t5"]], \
            [list(s) for s in shards]
        assert files == [f"model-{i:05d}-of-00004.safetensors" for i in range(1, 5)], files
        idx = json.load(open(os.path.join(d, st.INDEX_FILE)))
        assert idx["metadata"]["total_size"] == sum(t.numel() * 4 for t in sd.values())
        back = st.load_state_dict(d)
        assert set(back) == set(sd) and all(torch.equal(back[k], sd[k]) for k in sd)
        # a shard named in the index that is missing; a tensor the index puts elsewhere
        os.rename(os.path.join(d, files[1]), os.path.join(d, "moved"))
        expect_error(lambda: st.read_index(d), "does not exist", files[1])
        os.rename(os.path.join(d, "moved"), os.path.join(d, files[1]))
        idx["weight_map"]["t0"] = files[2]
        st.write_json(os.path.join(d, st.INDEX_FILE), idx)
        expect_error(lambda: st.read_index(d), "t0")
        idx["weight_map"]["t0"] = files[0]
        idx["metadata"]["total_size"] += 4
        st.write_json(os.path.join(d, st.INDEX_FILE), idx)
        expect_error(lambda: st.read_index(d), "total_size")
    with tempfile.TemporaryDirectory() as d:
        assert st.save_pretrained(d, sd, None, "5GB") == [st.SINGLE_FILE]
    assert st.parse_size("5GB") == 5 * 10 ** 9 and st.parse_size("2MiB") == 2 ** 21
    return "hub shard split, index total_size/weight_map, missing shard and mismatches detected"


# ------------------------------------------------------------------------------------------------------ RoPE

def naive_inv_freq(dim, base, scaling):
    """Scalar math from the formulas: theta^(-2i/d); linear divides by factor; llama3 as Meta's apply_scaling."""
    freqs = [1.0 / (base ** (2 * i / dim)) for i in range(dim // 2)]
    if scaling is None:
        return freqs
    kind = scaling.get("rope_type", scaling.get("type"))
    if kind == "linear":
        return [f / scaling["factor"] for f in freqs]
    scale_factor, lo, hi = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
    old = scaling["original_max_position_embeddings"]
    lo_wl, hi_wl = old / lo, old / hi
    out = []
    for f in freqs:
        wl = 2 * math.pi / f
        if wl < hi_wl:
            out.append(f)
        elif wl > lo_wl:
            out.append(f / scale_factor)
        else:
            s = (old / wl - lo) / (hi - lo)
            out.append((1 - s) * f / scale_factor + s * f)
    return out


def tiny_cfg(model_type, **kw):
    c = {"model_type": model_type, "vocab_size": 61, "hidden_size": 32, "intermediate_size": 48,
         "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-5,
         "rope_theta": 10000.0}
    c.update(kw)
    return c


LLAMA31 = {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192,
           "rope_type": "llama3"}


@check
def rope_inv_freq_against_formulas():
    n = 0
    for cfg_dict, bands in [
        (tiny_cfg("llama", hidden_size=4096, num_attention_heads=32, num_key_value_heads=8, rope_theta=500000.0,
                  rope_scaling=LLAMA31), True),  # Llama 3.1 8B
        (tiny_cfg("llama", hidden_size=64, rope_theta=500000.0, head_dim=16,
                  rope_scaling=dict(LLAMA31, original_max_position_embeddings=64)), True),  # the fixture
        (tiny_cfg("llama", rope_scaling={"type": "linear", "factor": 2.0}), False),
        (tiny_cfg("mistral", head_dim=12, rope_theta=1e6), False),
    ]:
        cfg = H.DecoderConfig.from_dict(cfg_dict)
        got = H.rope_inv_freq(cfg, F64)
        want = naive_inv_freq(cfg.head_dim, cfg.rope_theta, cfg.rope_scaling)
        assert_close(got, want, 1e-13, f"inv_freq {cfg_dict.get('rope_scaling')}")
        assert_close(H.rope_inv_freq(cfg, torch.float32), want, 1e-6, "float32 inv_freq")
        if bands:  # all three regimes present
            wl = [2 * math.pi / f for f in naive_inv_freq(cfg.head_dim, cfg.rope_theta, None)]
            old = cfg.rope_scaling["original_max_position_embeddings"]
            assert any(w < old / 4 for w in wl) and any(w > old for w in wl) and any(old / 4 <= w <= old for w in wl)
        n += 1
    # Hand values for Llama 3.1 (head_dim 128, theta 5e5): i=0 unchanged, the lowest frequency divided by 8.
    cfg = H.DecoderConfig.from_dict(tiny_cfg("llama", hidden_size=4096, num_attention_heads=32, rope_theta=500000.0,
                                             rope_scaling=LLAMA31))
    f = H.rope_inv_freq(cfg, F64)
    assert f[0] == 1.0 and abs(float(f[-1]) - 500000.0 ** (-126 / 128) / 8) < 1e-20
    return f"{n} configs, float64 within 1e-13 of the scalar formulas"


@check
def rotate_half_is_pairwise_rotation():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, 2, 5, 8, generator=g, dtype=F64)
    inv = torch.tensor([1.0, 0.3, 0.01, 0.002], dtype=F64)
    cos, sin = H.rope_cos_sin(inv, torch.arange(5)[None], F64)
    got = H.apply_rotary(x, cos, sin)
    want = torch.empty_like(x)
    for t in range(5):
        for i in range(4):
            a, b = x[..., t, i], x[..., t, i + 4]
            th = t * float(inv[i])
            want[..., t, i] = a * math.cos(th) - b * math.sin(th)
            want[..., t, i + 4] = b * math.cos(th) + a * math.sin(th)
    assert_close(got, want, 1e-14, "rotate_half")
    return "(x_i, x_{i+D/2}) rotated by position x inv_freq_i"


# ----------------------------------------------------------------------------------------------------- model

def random_weights(cfg, seed):
    g = torch.Generator().manual_seed(seed)
    out = OrderedDict()
    for name, shape in H.expected_shapes(cfg).items():
        if "norm" in name:
            out[name] = 1 + 0.2 * torch.randn(shape, generator=g, dtype=F64)
        elif name.endswith(".bias"):
            out[name] = 0.3 * torch.randn(shape, generator=g, dtype=F64)
        else:
            gain = 2.0 if (".q_proj." in name or ".k_proj." in name) else 1.0
            out[name] = gain / math.sqrt(shape[-1]) * torch.randn(shape, generator=g, dtype=F64)
    return out


def naive_logits(cfg, w, ids):
    """One sequence, position by position and head by head; nothing shared with hf_decoder but the weights."""
    def rms(v, weight):
        return weight * (v / math.sqrt(float((v * v).mean()) + cfg.rms_norm_eps))

    def lin(name, v):
        y = w[name + ".weight"] @ v
        return y + w[name + ".bias"] if name + ".bias" in w else y

    inv = naive_inv_freq(cfg.head_dim, cfg.rope_theta, cfg.rope_scaling)
    hd, half = cfg.head_dim, cfg.head_dim // 2

    def rot(v, pos):
        out = v.clone()
        for i in range(half):
            c, s = math.cos(pos * inv[i]), math.sin(pos * inv[i])
            out[i] = v[i] * c - v[i + half] * s
            out[i + half] = v[i + half] * c + v[i] * s
        return out

    T = len(ids)
    x = [w["model.embed_tokens.weight"][i].clone() for i in ids]
    group = cfg.num_attention_heads // cfg.num_key_value_heads
    for layer in range(cfg.num_hidden_layers):
        p = f"model.layers.{layer}."
        window = cfg.sliding_windows[layer]
        hn = [rms(v, w[p + "input_layernorm.weight"]) for v in x]
        q = [lin(p + "self_attn.q_proj", v) for v in hn]
        k = [lin(p + "self_attn.k_proj", v) for v in hn]
        val = [lin(p + "self_attn.v_proj", v) for v in hn]
        att = [torch.zeros(cfg.num_attention_heads * hd, dtype=F64) for _ in range(T)]
        for h in range(cfg.num_attention_heads):
            kvh = h // group
            for t in range(T):
                qv = rot(q[t][h * hd:(h + 1) * hd], t)
                keys = [s for s in range(t + 1) if window is None or s > t - window]
                scores = [float(qv @ rot(k[s][kvh * hd:(kvh + 1) * hd], s)) / math.sqrt(hd) for s in keys]
                m = max(scores)
                e = [math.exp(sc - m) for sc in scores]
                z = sum(e)
                att[t][h * hd:(h + 1) * hd] = sum(ei / z * val[s][kvh * hd:(kvh + 1) * hd] for ei, s in zip(e, keys))
        x = [x[t] + lin(p + "self_attn.o_proj", att[t]) for t in range(T)]
        hn = [rms(v, w[p + "post_attention_layernorm.weight"]) for v in x]
        x = [x[t] + lin(p + "mlp.down_proj", torch.nn.functional.silu(lin(p + "mlp.gate_proj", hn[t]))
                        * lin(p + "mlp.up_proj", hn[t])) for t in range(T)]
    head = w["model.embed_tokens.weight"] if cfg.tie_word_embeddings else w["lm_head.weight"]
    return torch.stack([head @ rms(v, w["model.norm.weight"]) for v in x])


MODEL_CASES = {
    "llama GQA llama3-rope": tiny_cfg("llama", rope_theta=500000.0, head_dim=16, hidden_size=64,
                                      rope_scaling=dict(LLAMA31, original_max_position_embeddings=16)),
    "llama MHA linear-rope attention+mlp bias": tiny_cfg("llama", num_key_value_heads=4, attention_bias=True,
                                                         mlp_bias=True, rope_scaling={"type": "linear",
                                                                                      "factor": 2.0}),
    "qwen2 biases tied": tiny_cfg("qwen2", tie_word_embeddings=True, rope_theta=1e6),
    "qwen2 sliding layers >= max_window_layers": tiny_cfg("qwen2", use_sliding_window=True, sliding_window=4,
                                                          max_window_layers=1),
    "mistral window 5 head_dim 12 MQA": tiny_cfg("mistral", sliding_window=5, head_dim=12, num_key_value_heads=1),
}


@check
def model_matches_naive_forward():
    g = torch.Generator().manual_seed(4)
    worst = 0.0
    for i, (label, cfg_dict) in enumerate(MODEL_CASES.items()):
        cfg = H.DecoderConfig.from_dict(cfg_dict)
        w = random_weights(cfg, 10 + i)
        model = H.CausalLM(cfg, F64).load_hf_state_dict(w)
        ids = torch.randint(0, cfg.vocab_size, (13,), generator=g).tolist()
        with torch.no_grad():
            got = model(torch.tensor([ids]))[0]
        want = naive_logits(cfg, w, ids)
        worst = max(worst, assert_close(got, want, 1e-10, label))
    return f"{len(MODEL_CASES)} configurations, float64, max relative error {worst:.1e}"


@check
def float32_model_close_to_float64():
    cfg = H.DecoderConfig.from_dict(MODEL_CASES["llama GQA llama3-rope"])
    w = random_weights(cfg, 5)
    ids = torch.arange(1, 40)[None] % cfg.vocab_size
    with torch.no_grad():
        a = H.CausalLM(cfg, torch.float32).load_hf_state_dict(w)(ids)
        b = H.CausalLM(cfg, F64).load_hf_state_dict(w)(ids)
    err = float((a.double() - b).abs().max() / b.abs().max())
    assert err < 1e-5, err
    return f"max abs error / max |logit| = {err:.1e}"


@check
def padded_batch_and_packed_rows_equal_separate_sequences():
    cfg = H.DecoderConfig.from_dict(MODEL_CASES["mistral window 5 head_dim 12 MQA"])
    model = H.CausalLM(cfg, F64).load_hf_state_dict(random_weights(cfg, 6))
    g = torch.Generator().manual_seed(7)
    prompts = [torch.randint(3, 61, (n,), generator=g).tolist() for n in (3, 7, 1)]
    resps = [torch.randint(3, 61, (n,), generator=g).tolist() for n in (9, 2, 5)]
    with torch.no_grad():
        single = torch.stack([logprobs.sequence_logp(model, p, r) for p, r in zip(prompts, resps)])
        batched = logprobs.batch_sequence_logps(model, prompts, resps)
        assert_close(batched, single, 1e-12, "padded batch")
        # one packed row: three segments, positions restart, block-diagonal visibility
        seqs = [p + r for p, r in zip(prompts, resps)]
        ids = torch.tensor([sum(seqs, [])])
        seg = torch.tensor(sum([[i] * len(s) for i, s in enumerate(seqs)], []))
        pos = torch.cat([torch.arange(len(s)) for s in seqs])[None]
        allowed = (seg[:, None] == seg[None, :])[None]
        logits = model(ids, position_ids=pos, allowed=allowed)[0]
        start = 0
        for s, p in zip(seqs, prompts):
            want = model(torch.tensor([s]))[0]
            assert_close(logits[start:start + len(s)], want, 1e-12, "packed row")
            start += len(s)
        # the packed log-probs (bench_step.py's packed path), padding at the end of the row
        row = logprobs.PackedRow(prompts, resps, pad_multiple=16)
        assert row.ids.shape[1] == 32 and row.used_tokens == 27, row.ids.shape
        assert_close(row.logps(model), single, 1e-12, "packed row log-probs")
    return "right-padded batch and a packed row (restarted positions) equal one-by-one, float64"


@check
def config_defaults_and_refusals():
    c = H.DecoderConfig.from_dict(tiny_cfg("llama", num_key_value_heads=None))
    assert c.num_key_value_heads == 4 and c.head_dim == 8 and not c.tie_word_embeddings and not c.qkv_bias
    q = H.DecoderConfig.from_dict(tiny_cfg("qwen2"))
    assert q.qkv_bias and not q.o_bias and q.sliding_windows == (None, None)
    m = H.DecoderConfig.from_dict({k: v for k, v in tiny_cfg("mistral").items()})
    assert m.sliding_windows == (4096, 4096) and not m.qkv_bias  # MistralConfig's default window
    assert H.DecoderConfig.from_dict(tiny_cfg("mistral", sliding_window=None)).sliding_windows == (None, None)
    lin = H.DecoderConfig.from_dict(tiny_cfg("llama", rope_scaling={"type": "linear", "factor": 2.0}))
    assert lin.rope_type == "linear"
    v5 = H.DecoderConfig.from_dict(tiny_cfg("llama", rope_parameters={"rope_type": "default", "rope_theta": 5.0}))
    assert v5.rope_theta == 5.0 and v5.rope_scaling is None
    expect_error(lambda: H.DecoderConfig.from_dict(tiny_cfg("gpt2")), "model_type 'gpt2'")
    expect_error(lambda: H.DecoderConfig.from_dict(tiny_cfg("llama", hidden_act="gelu")), "hidden_act")
    expect_error(lambda: H.DecoderConfig.from_dict(tiny_cfg("llama", rope_scaling={"rope_type": "yarn",
                                                                                    "factor": 4.0})), "'yarn'")
    expect_error(lambda: H.DecoderConfig.from_dict(tiny_cfg("llama", rope_scaling={"rope_type": "llama3",
                                                                                    "factor": 8.0})),
                 "low_freq_factor")
    bad = tiny_cfg("llama")
    del bad["hidden_size"]
    expect_error(lambda: H.DecoderConfig.from_dict(bad, "x/config.json"), "x/config.json", "hidden_size")
    cfg = H.DecoderConfig.from_dict(tiny_cfg("qwen2", tie_word_embeddings=True))
    w = random_weights(cfg, 8)
    H.CausalLM(cfg, F64).load_hf_state_dict(dict(w, **{"lm_head.weight": w["model.embed_tokens.weight"]}))
    expect_error(lambda: H.CausalLM(cfg, F64).load_hf_state_dict(
        dict(w, **{"lm_head.weight": w["model.embed_tokens.weight"] + 1})), "lm_head.weight differs")
    w2 = dict(w)
    del w2["model.layers.1.self_attn.k_proj.bias"]
    expect_error(lambda: H.CausalLM(cfg, F64).load_hf_state_dict(w2), "model.layers.1.self_attn.k_proj.bias")
    for label, cd in MODEL_CASES.items():
        cfg = H.DecoderConfig.from_dict(cd)
        shapes = {k: tuple(v.shape) for k, v in H.CausalLM(cfg, F64).named_parameters()}
        assert list(shapes.items()) == list(H.expected_shapes(cfg).items()), label
    return "defaults per model_type, v4/v5 rope spellings, refusals name the field, expected_shapes = module"


@check
def from_pretrained_streams_and_refuses():
    cfg_dict = dict(MODEL_CASES["qwen2 biases tied"], torch_dtype="bfloat16")
    cfg = H.DecoderConfig.from_dict(cfg_dict)
    w = OrderedDict((k, v.to(torch.bfloat16)) for k, v in random_weights(cfg, 13).items())
    ids = torch.arange(2, 30)[None]
    with tempfile.TemporaryDirectory() as d:
        st.save_pretrained(d, w, cfg_dict, max_shard_bytes=3000)
        assert os.path.isfile(os.path.join(d, st.INDEX_FILE))
        with torch.no_grad():
            got = H.from_pretrained(d, F64)(ids)
            want = H.CausalLM(cfg, F64).load_hf_state_dict(w)(ids)
        assert torch.equal(got, want), "streamed load differs from load_hf_state_dict"
    variants = [("lm_head equal to embeddings", dict(w, **{"lm_head.weight": w["model.embed_tokens.weight"]}), None),
                ("lm_head differs", dict(w, **{"lm_head.weight": w["model.embed_tokens.weight"] * 2}),
                 "lm_head.weight differs"),
                ("unexpected tensor", dict(w, **{"model.layers.0.mlp.extra.weight": torch.zeros(2)}),
                 "model.layers.0.mlp.extra.weight"),
                ("wrong shape", dict(w, **{"model.norm.weight": torch.ones(7, dtype=torch.bfloat16)}),
                 "'model.norm.weight' has shape [7]")]
    for label, tensors, frag in variants:
        with tempfile.TemporaryDirectory() as d:
            st.save_pretrained(d, OrderedDict(tensors), cfg_dict)
            if frag is None:
                H.from_pretrained(d)
            else:
                expect_error(lambda: H.from_pretrained(d), frag)
    return "sharded bf16 directory loads bit-equal to in-memory weights; tied head, unexpected tensor, shape checked"


# ------------------------------------------------------------------------------------------------------ LoRA

def write_random_adapter(d, model, targets, r, alpha, rslora, seed):
    g = torch.Generator().manual_seed(seed)
    tensors = OrderedDict()
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.Linear) and name.rsplit(".", 1)[-1] in targets:
            tensors[f"{lora.PREFIX}{name}.lora_A.weight"] = torch.randn(r, m.in_features, generator=g) * 0.2
            tensors[f"{lora.PREFIX}{name}.lora_B.weight"] = torch.randn(m.out_features, r, generator=g) * 0.2
    lora.save_adapter(d, tensors, lora.peft_config(r, alpha, targets, "base", rslora))
    return tensors


@check
def lora_merged_equals_unmerged():
    cfg = H.DecoderConfig.from_dict(MODEL_CASES["qwen2 biases tied"])
    w = random_weights(cfg, 9)
    ids = torch.arange(3, 20)[None]
    with tempfile.TemporaryDirectory() as d:
        base = H.CausalLM(cfg, F64).load_hf_state_dict(w)
        tensors = write_random_adapter(d, base, ["q_proj", "v_proj", "down_proj"], 3, 6, True, 11)
        m = lora.apply_lora(H.CausalLM(cfg, F64).load_hf_state_dict(w), d)
        assert abs(lora.lora_modules(m)["model.layers.0.self_attn.q_proj"].scaling - 6 / math.sqrt(3)) < 1e-15
        with torch.no_grad():
            un = m(ids)
            with lora.adapters_disabled(m):
                off = m(ids)
            plain = base(ids)
            merged_sd = lora.merged_state_dict(m)
            merged = H.CausalLM(cfg, F64).load_hf_state_dict(merged_sd)(ids)
            merged2 = lora.merge_lora(m)(ids)
        assert_close(off, plain, 0, "adapters disabled")
        assert_close(merged, un, 1e-12, "merged state dict")
        assert_close(merged2, un, 1e-12, "merge_lora")
        assert float((un - plain).abs().max()) > 1e-2, "adapter has no effect"
        cfg_path = os.path.join(d, lora.ADAPTER_CONFIG)
        all_cfg = lora.peft_config(3, 6, "all-linear", "base")
        st.write_json(cfg_path, all_cfg)
        write_random_adapter(os.path.join(d, "all"), base, ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                             "up_proj", "down_proj"], 3, 6, False, 12)
        os.replace(os.path.join(d, "all", lora.ADAPTER_WEIGHTS), os.path.join(d, lora.ADAPTER_WEIGHTS))
        wrapped = lora.lora_modules(lora.apply_lora(H.CausalLM(cfg, F64).load_hf_state_dict(w), d))
        assert len(wrapped) == 7 * cfg.num_hidden_layers, f"all-linear wrapped {list(wrapped)}"
        # the unmerged layer is the formula
        name = "model.layers.1.mlp.down_proj"
        g = torch.Generator().manual_seed(13)  # seeded like every other check (was the global generator's draw)
        x = torch.randn(2, cfg.intermediate_size, dtype=F64, generator=g)
        a = tensors[f"{lora.PREFIX}{name}.lora_A.weight"].double()
        b = tensors[f"{lora.PREFIX}{name}.lora_B.weight"].double()
        layer = lora.LoraLinear(torch.nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False, dtype=F64), 3, 2.0)
        with torch.no_grad():
            layer.base_layer.weight.copy_(torch.randn(layer.base_layer.weight.shape, dtype=F64, generator=g))
            layer.lora_A.weight.copy_(a)
            layer.lora_B.weight.copy_(b)
            want = lora.linear_forward_unmerged(x, layer.base_layer.weight, None, a, b, 2.0)
            assert_close(layer(x), want, 1e-14, "LoraLinear")
            assert_close(x @ (layer.weight + 2.0 * b @ a).T, want, 1e-12, "W + s B A")
        # errors: a missing B, a tensor matching no module
        st.write_json(cfg_path, lora.peft_config(3, 6, ["q_proj", "v_proj", "down_proj"], "base", True))
        t2 = OrderedDict(tensors)
        t2.pop(f"{lora.PREFIX}model.layers.0.self_attn.v_proj.lora_B.weight")
        st.save_file(t2, os.path.join(d, lora.ADAPTER_WEIGHTS))
        expect_error(lambda: lora.apply_lora(H.CausalLM(cfg, F64).load_hf_state_dict(w), d), "v_proj.lora_B")
        t2 = OrderedDict(tensors)
        t2[f"{lora.PREFIX}model.layers.0.mlp.up_proj.lora_A.weight"] = torch.zeros(3, 32)
        st.save_file(t2, os.path.join(d, lora.ADAPTER_WEIGHTS))
        expect_error(lambda: lora.apply_lora(H.CausalLM(cfg, F64).load_hf_state_dict(w), d), "match no")
    return ("float64: unmerged = merged = W + (alpha/sqrt r) B A; disabled = base; 'all-linear' wraps all 7 "
            "projections; bad adapters refused")


# ------------------------------------------------------------------------------------------ log-probs and DPO

@check
def logps_definition_and_dpo_gradient():
    cfg = H.DecoderConfig.from_dict(MODEL_CASES["llama GQA llama3-rope"])
    model = H.CausalLM(cfg, F64).load_hf_state_dict(random_weights(cfg, 12))
    prompt, resp = [1, 5, 9, 4], [7, 3, 2]
    with torch.no_grad():
        logits = model(torch.tensor([prompt + resp]))[0]
        lsm = logits.log_softmax(-1)
        want = sum(float(lsm[t - 1, (prompt + resp)[t]]) for t in range(len(prompt), len(prompt) + len(resp)))
        assert_close(logprobs.sequence_logp(model, prompt, resp), want, 1e-14, "sequence_logp")
    pc, pr = torch.tensor([-3.0, -5.0], dtype=F64), torch.tensor([-4.0, -2.5], dtype=F64)
    rc, rr = torch.tensor([-3.5, -4.0], dtype=F64), torch.tensor([-3.0, -3.0], dtype=F64)
    want = sum(math.log1p(math.exp(-0.1 * ((a - c) - (b - d)))) for a, b, c, d in zip(pc, pr, rc, rr)) / 2
    assert_close(logprobs.dpo_sigmoid_loss(pc, pr, rc, rr, 0.1), want, 1e-14, "dpo loss")

    examples = [([1, 4, 6], [8, 2], [9, 9, 2], -20.0, -21.0), ([1], [5, 5, 5, 2], [7, 2], -30.0, -12.0)]

    def loss_fn():
        lc = torch.stack([logprobs.sequence_logp(model, p, c) for p, c, _, _, _ in examples])
        lr = torch.stack([logprobs.sequence_logp(model, p, r) for p, _, r, _, _ in examples])
        return logprobs.dpo_sigmoid_loss(lc, lr, torch.tensor([e[3] for e in examples], dtype=F64),
                                         torch.tensor([e[4] for e in examples], dtype=F64), 0.1)
    param = dict(model.named_parameters())["model.layers.0.self_attn.q_proj.weight"]
    grad, = torch.autograd.grad(loss_fn(), [param])
    eps, worst = 1e-6, 0.0
    for (i, j) in [(0, 0), (5, 17), (63, 31), (20, 2)]:
        with torch.no_grad():
            old = float(param[i, j])
            param[i, j] = old + eps
            up = float(loss_fn())
            param[i, j] = old - eps
            down = float(loss_fn())
            param[i, j] = old
        fd = (up - down) / (2 * eps)
        worst = max(worst, abs(fd - float(grad[i, j])) / max(abs(fd), 1e-12))
    assert worst < 1e-6, worst
    return f"sum definition, loss formula, autograd vs central differences (max rel {worst:.1e})"


# -------------------------------------------------------------------------------------------------- fixtures

def check_fixtures(root, regen):
    out = []
    names = [s["name"] for s in make_fixtures.FIXTURES] + [s["name"] for s in make_fixtures.ADAPTERS]
    for name in names:
        if not os.path.isdir(os.path.join(root, name)):
            raise AssertionError(f"{root}/{name} missing (run make_fixtures.py)")
    worst = 0.0
    for spec in make_fixtures.FIXTURES:
        d = os.path.join(root, spec["name"])
        buf = io.StringIO()
        stdout, sys.stdout = sys.stdout, buf
        try:
            rc = check_export.main(["--dir", d, "--quiet"])
        finally:
            sys.stdout = stdout
        assert rc == 0, f"check_export {d}:\n{buf.getvalue()}"
        exp = json.load(open(os.path.join(d, "expected.json")))
        model = H.from_pretrained(d, torch.float32)
        with torch.no_grad():
            for e in exp["examples"]:
                got = [float(logprobs.sequence_logp(model, e["prompt_ids"], e[k])) for k in ("chosen_ids",
                                                                                             "rejected_ids")]
                worst = max(worst, assert_close(got, [e["chosen_logps"], e["rejected_logps"]], 1e-6, d))
    for spec in make_fixtures.ADAPTERS:
        d = os.path.join(root, spec["name"])
        exp = json.load(open(os.path.join(d, "expected.json")))
        model = lora.apply_lora(H.from_pretrained(os.path.normpath(os.path.join(d, exp["model_dir"]))), d)
        with torch.no_grad():
            for e in exp["examples"]:
                got = [float(logprobs.sequence_logp(model, e["prompt_ids"], e[k])) for k in ("chosen_ids",
                                                                                             "rejected_ids")]
                worst = max(worst, assert_close(got, [e["chosen_logps"], e["rejected_logps"]], 1e-6, d))
    out.append(f"{len(names)} fixtures pass check_export and reproduce (max rel {worst:.1e})")
    if regen:
        with tempfile.TemporaryDirectory() as tmp:
            stdout, sys.stdout = sys.stdout, io.StringIO()
            try:
                make_fixtures.main(["--out", tmp])
            finally:
                sys.stdout = stdout
            cmp = filecmp.dircmp(root, tmp)
            diffs = []

            def walk(c, prefix=""):
                diffs.extend(prefix + f for f in c.left_only + c.right_only + c.funny_files)
                _, mism, errs = filecmp.cmpfiles(c.left, c.right, c.common_files, shallow=False)
                diffs.extend(prefix + f for f in mism + errs)
                for sub, sc in c.subdirs.items():
                    walk(sc, prefix + sub + "/")
            walk(cmp)
            assert not diffs, f"regenerated fixtures differ from {root}: {diffs}"
        out.append("make_fixtures regenerates every file bit-identically")
    return "; ".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fixtures", default=os.path.normpath(make_fixtures.DEFAULT_OUT),
                    help="committed fixtures to verify (default %(default)s)")
    ap.add_argument("--skip-regen", action="store_true", help="do not regenerate the fixtures to compare bytes")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    failed = 0
    for fn in CHECKS:
        try:
            detail = fn()
            print(f"ok   {fn.__name__}: {detail}")
        except Exception as e:  # noqa: BLE001 - report every check
            failed += 1
            print(f"FAIL {fn.__name__}: {e}")
            traceback.print_exc(limit=3)
    name = "fixtures"
    if os.path.isdir(args.fixtures):
        try:
            print(f"ok   {name}: {check_fixtures(args.fixtures, not args.skip_regen)}")
        except Exception as e:  # noqa: BLE001
            failed += 1
            print(f"FAIL {name}: {e}")
            traceback.print_exc(limit=3)
    else:
        print(f"skip {name}: {args.fixtures} does not exist")
    total = len(CHECKS) + 1
    print(f"{total - failed} of {total} checks passed" if not failed else f"{failed} of {total} checks FAILED")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
