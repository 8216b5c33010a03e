"""A reference of Hugging Face's Llama / Mistral / Qwen2 causal LM forward, written out in plain PyTorch 1.13.

It follows transformers' modeling_llama.py / modeling_mistral.py / modeling_qwen2.py (eager attention) and
modeling_rope_utils.py operation for operation, so that in float32 it computes what HF computes on a CPU after
loading the weights in float32 (bf16/f16 checkpoints are upcast, as `from_pretrained(..., torch_dtype=float32)` does).
Built with dtype=float64 it is the same math in float64 (RMSNorm, softmax and RoPE then also in float64), which serves
as the "exact" answer.

Parameter names are HF's (`model.embed_tokens.weight`, `model.layers.{i}.self_attn.q_proj.weight`, ...), so
`model.state_dict()` and a checkpoint's tensors line up one to one. `lm_head.weight` is absent when the embeddings
are tied.
"""

import json
import math
import os
from collections import OrderedDict
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from . import safetensors_io

SUPPORTED_MODEL_TYPES = ("llama", "mistral", "qwen2")

# transformers' constructor defaults of each config class (LlamaConfig, MistralConfig, Qwen2Config), for the fields
# that change the math. A config.json written by transformers carries all of them; hand-written ones may not.
CONFIG_DEFAULTS = {
    "llama": dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                  num_attention_heads=32, num_key_value_heads=None, head_dim=None, hidden_act="silu",
                  max_position_embeddings=2048, rms_norm_eps=1e-6, rope_theta=10000.0, rope_scaling=None,
                  tie_word_embeddings=False, attention_bias=False, mlp_bias=False, bos_token_id=1, eos_token_id=2),
    "mistral": dict(vocab_size=32000, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                    num_attention_heads=32, num_key_value_heads=8, head_dim=None, hidden_act="silu",
                    max_position_embeddings=4096 * 32, rms_norm_eps=1e-6, rope_theta=10000.0, rope_scaling=None,
                    tie_word_embeddings=False, sliding_window=4096, bos_token_id=1, eos_token_id=2),
    "qwen2": dict(vocab_size=151936, hidden_size=4096, intermediate_size=22016, num_hidden_layers=32,
                  num_attention_heads=32, num_key_value_heads=32, head_dim=None, hidden_act="silu",
                  max_position_embeddings=32768, rms_norm_eps=1e-6, rope_theta=10000.0, rope_scaling=None,
                  tie_word_embeddings=False, use_sliding_window=False, sliding_window=4096, max_window_layers=28,
                  bos_token_id=None, eos_token_id=None),
}
REQUIRED_FIELDS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size")
SUPPORTED_ROPE_TYPES = ("default", "linear", "llama3")


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class DecoderConfig:
    model_type: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    rms_norm_eps: float
    rope_theta: float
    rope_scaling: dict  # None, or a dict with "rope_type" normalised from "type"
    tie_word_embeddings: bool
    qkv_bias: bool  # Qwen2 always; Llama with attention_bias
    o_bias: bool  # Llama with attention_bias (o_proj shares the flag); never Qwen2 or Mistral
    mlp_bias: bool  # Llama's mlp_bias
    sliding_windows: tuple = field(default=())  # per layer: None or the window W (key k visible to q iff q-W < k <= q)
    bos_token_id: object = None
    eos_token_id: object = None
    torch_dtype: str = None
    raw: dict = field(default=None, compare=False, repr=False)

    @property
    def rope_type(self):
        return "default" if self.rope_scaling is None else self.rope_scaling["rope_type"]

    @staticmethod
    def from_dict(d, source="config.json"):
        """Reads a transformers config dict; refuses, by name, anything that changes the math and is not modelled."""
        def fail(msg):
            raise ConfigError(f"{source}: {msg}")

        mt = d.get("model_type")
        if mt not in SUPPORTED_MODEL_TYPES:
            fail(f"model_type {mt!r} is not supported (supported: {', '.join(SUPPORTED_MODEL_TYPES)})")
        for k in REQUIRED_FIELDS:
            if k not in d:
                fail(f"missing required field '{k}'")
        c = dict(CONFIG_DEFAULTS[mt])
        c.update(d)
        if c.get("hidden_act") != "silu":
            fail(f"hidden_act {c.get('hidden_act')!r} is not supported (only 'silu')")
        heads = c["num_attention_heads"]
        kv = c["num_key_value_heads"] if c.get("num_key_value_heads") is not None else heads
        if heads % kv:
            fail(f"num_attention_heads {heads} is not a multiple of num_key_value_heads {kv}")
        head_dim = c.get("head_dim") or c["hidden_size"] // heads
        if head_dim % 2:
            fail(f"head_dim {head_dim} is odd; rotate-half RoPE needs an even head_dim")
        if c.get("partial_rotary_factor", 1.0) != 1.0:
            fail("partial_rotary_factor other than 1.0 is not supported")

        rope_theta = float(c["rope_theta"])
        scaling = c.get("rope_scaling")
        params = c.get("rope_parameters")  # transformers v5 spelling: rope_theta and the scaling in one dict
        if params is not None:
            rope_theta = float(params.get("rope_theta", rope_theta))
            scaling = {k: v for k, v in params.items() if k != "rope_theta"}
        if scaling is not None:
            scaling = dict(scaling)
            rt = scaling.get("rope_type", scaling.get("type"))  # "type" is the old spelling
            scaling.pop("type", None)
            scaling["rope_type"] = rt
            if rt not in SUPPORTED_ROPE_TYPES:
                fail(f"rope_scaling type {rt!r} is not supported (supported: {', '.join(SUPPORTED_ROPE_TYPES)})")
            need = {"linear": ["factor"], "llama3": ["factor", "low_freq_factor", "high_freq_factor",
                                                     "original_max_position_embeddings"]}.get(rt, [])
            for k in need:
                if k not in scaling:
                    fail(f"rope_scaling of type {rt} lacks '{k}'")
            if rt == "default":
                scaling = None

        n = c["num_hidden_layers"]
        if mt == "mistral":
            windows = tuple([c.get("sliding_window")] * n)
        elif mt == "qwen2":
            # Qwen2Config: sliding attention only with use_sliding_window, on layers >= max_window_layers.
            w = c.get("sliding_window") if c.get("use_sliding_window") else None
            mwl = c.get("max_window_layers", 28)
            windows = tuple(w if (w is not None and i >= mwl) else None for i in range(n))
        else:
            windows = tuple([None] * n)
        attention_bias = bool(c.get("attention_bias", False))
        return DecoderConfig(
            model_type=mt, vocab_size=c["vocab_size"], hidden_size=c["hidden_size"],
            intermediate_size=c["intermediate_size"], num_hidden_layers=n, num_attention_heads=heads,
            num_key_value_heads=kv, head_dim=head_dim, rms_norm_eps=float(c["rms_norm_eps"]), rope_theta=rope_theta,
            rope_scaling=scaling, tie_word_embeddings=bool(c.get("tie_word_embeddings", False)),
            qkv_bias=(mt == "qwen2") or (mt == "llama" and attention_bias),
            o_bias=(mt == "llama" and attention_bias), mlp_bias=(mt == "llama" and bool(c.get("mlp_bias", False))),
            sliding_windows=windows, bos_token_id=c.get("bos_token_id"), eos_token_id=c.get("eos_token_id"),
            torch_dtype=c.get("torch_dtype", c.get("dtype")), raw=dict(d))

    @staticmethod
    def from_file(path):
        with open(path, encoding="utf-8") as f:
            return DecoderConfig.from_dict(json.load(f), source=str(path))


# ------------------------------------------------------------------------------------------------------------ RoPE

def rope_inv_freq(cfg, dtype=torch.float32):
    """inv_freq of transformers' ROPE_INIT_FUNCTIONS[rope_type] (default, linear, llama3), computed in `dtype` with
    the same operations (HF computes it in float32)."""
    dim = cfg.head_dim
    base = cfg.rope_theta
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).to(dtype) / dim))
    rs = cfg.rope_scaling
    if rs is None:
        return inv_freq
    if rs["rope_type"] == "linear":
        return inv_freq / rs["factor"]
    if rs["rope_type"] == "llama3":  # _compute_llama3_parameters
        factor = rs["factor"]
        low_freq_factor = rs["low_freq_factor"]
        high_freq_factor = rs["high_freq_factor"]
        old_context_len = rs["original_max_position_embeddings"]
        low_freq_wavelen = old_context_len / low_freq_factor
        high_freq_wavelen = old_context_len / high_freq_factor
        wavelen = 2 * math.pi / inv_freq
        inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
        smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
        smoothed_inv_freq = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
        is_medium_freq = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
        return torch.where(is_medium_freq, smoothed_inv_freq, inv_freq_llama)
    raise ConfigError(f"rope type {rs['rope_type']!r} is not supported")


def rope_cos_sin(inv_freq, position_ids, dtype):
    """cos, sin of shape [B, T, head_dim] (the two halves repeat), as LlamaRotaryEmbedding.forward: the angles are
    inv_freq x position in inv_freq's dtype (float32 in HF), then cast to the activations' dtype."""
    freqs = inv_freq[None, :, None] @ position_ids[:, None, :].to(inv_freq.dtype)  # [B, dim/2, T]
    freqs = freqs.transpose(1, 2)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary(x, cos, sin):
    """x: [B, H, T, D]; cos/sin: [B, T, D]."""
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    return (x * cos) + (rotate_half(x) * sin)


def repeat_kv(x, n_rep):
    b, kv, t, d = x.shape
    if n_rep == 1:
        return x
    return x[:, :, None, :, :].expand(b, kv, n_rep, t, d).reshape(b, kv * n_rep, t, d)


def upcast_dtype(dtype):
    """The dtype HF's float32 islands (RMSNorm, softmax) use: float32, or float64 when computing in float64."""
    return torch.float64 if dtype == torch.float64 else torch.float32


# ------------------------------------------------------------------------------------------------------- modules

class RMSNorm(nn.Module):
    def __init__(self, n, eps, dtype, device=None):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n, dtype=dtype, device=device))
        self.eps = eps

    def forward(self, x):
        in_dtype = x.dtype
        h = x.to(upcast_dtype(in_dtype))
        variance = h.pow(2).mean(-1, keepdim=True)
        h = h * torch.rsqrt(variance + self.eps)
        return self.weight * h.to(in_dtype)


class Attention(nn.Module):
    def __init__(self, cfg, layer_idx, dtype, device=None):
        super().__init__()
        self.cfg, self.layer_idx = cfg, layer_idx
        hd, h, kv = cfg.head_dim, cfg.num_attention_heads, cfg.num_key_value_heads
        f = dict(dtype=dtype, device=device)
        self.q_proj = nn.Linear(cfg.hidden_size, h * hd, bias=cfg.qkv_bias, **f)
        self.k_proj = nn.Linear(cfg.hidden_size, kv * hd, bias=cfg.qkv_bias, **f)
        self.v_proj = nn.Linear(cfg.hidden_size, kv * hd, bias=cfg.qkv_bias, **f)
        self.o_proj = nn.Linear(h * hd, cfg.hidden_size, bias=cfg.o_bias, **f)
        self.scaling = hd ** -0.5

    def forward(self, x, cos, sin, mask):
        """x: [B, T, hidden]; mask: bool [B, 1, T, T], True where the key is visible to the query."""
        b, t, _ = x.shape
        cfg = self.cfg
        q = self.q_proj(x).view(b, t, -1, cfg.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, -1, cfg.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, -1, cfg.head_dim).transpose(1, 2)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        n_rep = cfg.num_attention_heads // cfg.num_key_value_heads
        k, v = repeat_kv(k, n_rep), repeat_kv(v, n_rep)
        scores = torch.matmul(q, k.transpose(2, 3)) * self.scaling
        # HF adds finfo.min where masked; for a row with at least one visible key this is the same as masking out.
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        probs = F.softmax(scores, dim=-1, dtype=upcast_dtype(q.dtype)).to(q.dtype)
        out = torch.matmul(probs, v).transpose(1, 2).reshape(b, t, -1)
        return self.o_proj(out)


class MLP(nn.Module):
    def __init__(self, cfg, dtype, device=None):
        super().__init__()
        f = dict(bias=cfg.mlp_bias, dtype=dtype, device=device)
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, **f)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, **f)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, **f)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, cfg, layer_idx, dtype, device=None):
        super().__init__()
        self.self_attn = Attention(cfg, layer_idx, dtype, device)
        self.mlp = MLP(cfg, dtype, device)
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, dtype, device)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, dtype, device)

    def forward(self, x, cos, sin, mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class Backbone(nn.Module):
    def __init__(self, cfg, dtype, device=None):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size, dtype=dtype, device=device)
        self.layers = nn.ModuleList([DecoderLayer(cfg, i, dtype, device) for i in range(cfg.num_hidden_layers)])
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, dtype, device)


def attention_mask_4d(t, window=None, attention_mask=None, allowed=None, device=None):
    """bool [B or 1, 1, T, T]: causal by index (key k <= query q), within the sliding window (q - W < k) when given,
    keys not padded (attention_mask [B, T] of 0/1), and `allowed` [B, T, T] (e.g. a block-diagonal packing mask)."""
    idx = torch.arange(t, device=device)
    m = idx[None, :] <= idx[:, None]  # [q, k]
    if window is not None:
        m = m & (idx[None, :] > idx[:, None] - window)
    m = m[None, None]
    if attention_mask is not None:
        m = m & attention_mask.bool()[:, None, None, :]
    if allowed is not None:
        m = m & allowed.bool()[:, None]
    return m


class CausalLM(nn.Module):
    """HF's *ForCausalLM: `forward(input_ids)` returns logits [B, T, vocab] in the model's dtype.
    `init_weights=False` allocates the parameters without initialising them (for loading a checkpoint)."""

    def __init__(self, cfg, dtype=torch.float32, init_weights=True):
        super().__init__()
        self.cfg, self.dtype = cfg, dtype
        device = None if init_weights else "meta"
        self.model = Backbone(cfg, dtype, device)
        if not cfg.tie_word_embeddings:
            self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False, dtype=dtype, device=device)
        if not init_weights:
            self.to_empty(device="cpu")
        self.register_buffer("inv_freq", rope_inv_freq(cfg, upcast_dtype(dtype)), persistent=False)

    def head_weight(self):
        return self.model.embed_tokens.weight if self.cfg.tie_word_embeddings else self.lm_head.weight

    def forward(self, input_ids, attention_mask=None, position_ids=None, allowed=None):
        """input_ids [B, T] (long). attention_mask [B, T] (1 = real token) masks padded keys; position_ids [B, T]
        default to 0..T-1 (what HF uses when none are passed, as in TRL's concatenated_forward); `allowed`
        [B, T, T] is an extra visibility mask (True = may attend) for packed rows."""
        b, t = input_ids.shape
        if position_ids is None:
            position_ids = torch.arange(t, device=input_ids.device)[None].expand(b, t)
        h = self.model.embed_tokens(input_ids)
        cos, sin = rope_cos_sin(self.inv_freq, position_ids, h.dtype)
        masks = {}
        for i, layer in enumerate(self.model.layers):
            w = self.cfg.sliding_windows[i] if self.cfg.sliding_windows else None
            if w not in masks:
                masks[w] = attention_mask_4d(t, w, attention_mask, allowed, input_ids.device)
            h = layer(h, cos, sin, masks[w])
        h = self.model.norm(h)
        return F.linear(h, self.head_weight())

    # -------------------------------------------------------------------------------------------------- loading

    def load_hf_state_dict(self, tensors, source="checkpoint"):
        """Copies HF-named tensors in (upcast/cast to the model's dtype). A missing or unexpected tensor, or a wrong
        shape, is an error naming it; `lm_head.weight` next to tied embeddings is accepted only if equal."""
        own = OrderedDict(self.named_parameters())
        tensors = dict(tensors)
        if self.cfg.tie_word_embeddings and "lm_head.weight" in tensors:
            lm = tensors.pop("lm_head.weight")
            emb = tensors.get("model.embed_tokens.weight")
            if emb is None or lm.shape != emb.shape or not torch.equal(lm, emb):
                raise ValueError(f"{source}: tie_word_embeddings is true but lm_head.weight differs from "
                                 f"model.embed_tokens.weight")
        missing = [k for k in own if k not in tensors]
        unexpected = [k for k in tensors if k not in own]
        if missing or unexpected:
            raise ValueError(f"{source}: missing tensors {missing}, unexpected tensors {unexpected}")
        with torch.no_grad():
            for k, p in own.items():
                src = tensors[k]
                if tuple(src.shape) != tuple(p.shape):
                    raise ValueError(f"{source}: tensor '{k}' has shape {list(src.shape)}, expected {list(p.shape)}")
                p.copy_(src.to(p.dtype))
        return self

    def hf_state_dict(self):
        """The tensors under HF names, in transformers' state-dict order (lm_head last, absent when tied)."""
        return OrderedDict((k, v.detach()) for k, v in self.named_parameters())


def expected_shapes(cfg):
    """HF tensor name -> shape that `cfg` implies, in state-dict order, without allocating the model."""
    h, hd, i = cfg.hidden_size, cfg.head_dim, cfg.intermediate_size
    q, kv = cfg.num_attention_heads * hd, cfg.num_key_value_heads * hd
    out = OrderedDict([("model.embed_tokens.weight", (cfg.vocab_size, h))])
    for n in range(cfg.num_hidden_layers):
        p = f"model.layers.{n}."
        for name, shape, bias in (("q_proj", (q, h), cfg.qkv_bias), ("k_proj", (kv, h), cfg.qkv_bias),
                                  ("v_proj", (kv, h), cfg.qkv_bias), ("o_proj", (h, q), cfg.o_bias)):
            out[f"{p}self_attn.{name}.weight"] = shape
            if bias:
                out[f"{p}self_attn.{name}.bias"] = (shape[0],)
        for name, shape in (("gate_proj", (i, h)), ("up_proj", (i, h)), ("down_proj", (h, i))):
            out[f"{p}mlp.{name}.weight"] = shape
            if cfg.mlp_bias:
                out[f"{p}mlp.{name}.bias"] = (shape[0],)
        out[f"{p}input_layernorm.weight"] = (h,)
        out[f"{p}post_attention_layernorm.weight"] = (h,)
    out["model.norm.weight"] = (h,)
    if not cfg.tie_word_embeddings:
        out["lm_head.weight"] = (cfg.vocab_size, h)
    return out


def load_config(model_dir):
    return DecoderConfig.from_file(os.path.join(model_dir, "config.json"))


def from_pretrained(model_dir, dtype=torch.float32):
    """Builds the model from a HF directory (config.json + model.safetensors or shards), weights cast to `dtype`.
    Tensors are streamed one at a time into the parameters (peak memory: the model plus its largest tensor)."""
    cfg = load_config(model_dir)
    model = CausalLM(cfg, dtype, init_weights=False)
    files, _ = safetensors_io.weight_files(model_dir)
    stored = OrderedDict()
    for fname in files:
        for name, info in safetensors_io.read_header(os.path.join(model_dir, fname)).tensors.items():
            if name in stored:
                raise ValueError(f"{model_dir}: tensor '{name}' stored twice ({stored[name][0]}, {fname})")
            stored[name] = (fname, info)
    own = OrderedDict(model.named_parameters())
    tied_head = cfg.tie_word_embeddings and "lm_head.weight" in stored
    missing = [k for k in own if k not in stored]
    unexpected = [k for k in stored if k not in own and not (tied_head and k == "lm_head.weight")]
    if missing or unexpected:
        raise ValueError(f"{model_dir}: missing tensors {missing}, unexpected tensors {unexpected}")

    def read(name):
        fname, _ = stored[name]
        return safetensors_io.load_file(os.path.join(model_dir, fname), names={name})[0][name]
    with torch.no_grad():
        for name, p in own.items():
            shape = stored[name][1].shape
            if tuple(shape) != tuple(p.shape):
                raise ValueError(f"{model_dir}/{stored[name][0]}: tensor '{name}' has shape {list(shape)}, "
                                 f"config.json implies {list(p.shape)}")
            p.copy_(read(name))  # copy_ converts (bf16/f16 -> the model's dtype) on the way
        if tied_head:
            lm, emb = read("lm_head.weight"), read("model.embed_tokens.weight")
            if lm.shape != emb.shape or not torch.equal(lm, emb):
                raise ValueError(f"{model_dir}: tie_word_embeddings is true but lm_head.weight differs from "
                                 f"model.embed_tokens.weight")
    model.eval()
    return model
