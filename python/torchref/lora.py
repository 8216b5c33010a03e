"""PEFT LoRA adapters on the reference model: read `adapter_config.json` + `adapter_model.safetensors`, apply them
unmerged (y = x W^T + b + scale * (x A^T) B^T, as peft.tuners.lora.Linear.forward), merge them (W + scale * B A),
switch them off (what TRL does for reference log-probs when a PEFT model has no ref_model), and write them.
"""

import contextlib
import json
import math
import os
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from . import safetensors_io

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
PREFIX = "base_model.model."


class LoraLinear(nn.Module):
    """A frozen nn.Linear plus a LoRA branch; `enabled` False gives the base layer alone."""

    def __init__(self, base, r, scaling):
        super().__init__()
        self.base_layer = base
        self.lora_A = nn.Linear(base.in_features, r, bias=False, dtype=base.weight.dtype)
        self.lora_B = nn.Linear(r, base.out_features, bias=False, dtype=base.weight.dtype)
        self.scaling = scaling
        self.enabled = True

    @property
    def weight(self):
        return self.base_layer.weight

    @property
    def bias(self):
        return self.base_layer.bias

    def forward(self, x):
        result = self.base_layer(x)
        if self.enabled:
            result = result + self.lora_B(self.lora_A(x)) * self.scaling
        return result

    def delta_weight(self):
        return (self.lora_B.weight @ self.lora_A.weight) * self.scaling


def scaling_of(config):
    r, alpha = config["r"], config["lora_alpha"]
    return alpha / math.sqrt(r) if config.get("use_rslora", False) else alpha / r


def read_adapter_config(adapter_dir):
    path = os.path.join(adapter_dir, ADAPTER_CONFIG)
    with open(path, encoding="utf-8") as f:
        cfg = json.load(f)

    def fail(msg):
        raise ValueError(f"{path}: {msg}")
    if cfg.get("peft_type") != "LORA":
        fail(f"peft_type {cfg.get('peft_type')!r} is not LORA")
    if cfg.get("bias", "none") != "none":
        fail(f"bias {cfg.get('bias')!r} is not supported (only 'none')")
    if cfg.get("use_dora"):
        fail("use_dora is not supported")
    if cfg.get("fan_in_fan_out"):
        fail("fan_in_fan_out is not supported (Llama/Mistral/Qwen2 use nn.Linear)")
    for key in ("rank_pattern", "alpha_pattern"):
        if cfg.get(key):
            fail(f"{key} is not supported")
    if cfg.get("layers_to_transform") is not None:
        fail("layers_to_transform is not supported")
    if cfg.get("modules_to_save"):
        fail("modules_to_save is not supported")
    return cfg


def _targets(model, target_modules):
    """(module path, parent, attribute) of each nn.Linear that PEFT would wrap: a list matches module names equal to
    or ending in ".<entry>"; "all-linear" is every Linear but the output layer."""
    if isinstance(target_modules, str) and target_modules != "all-linear":
        raise ValueError(f"target_modules {target_modules!r}: regular expressions are not supported; give a list")
    out = []
    for name, module in model.named_modules():
        if not isinstance(module, nn.Linear):
            continue
        if target_modules == "all-linear":
            hit = name != "lm_head"
        else:
            hit = any(name == t or name.endswith("." + t) for t in target_modules)
        if hit:
            parent_name, _, attr = name.rpartition(".")
            out.append((name, model.get_submodule(parent_name), attr))
    return out


def apply_lora(model, adapter_dir):
    """Wraps the targeted Linear layers of `model` with the adapter's A and B (cast to the model's dtype).
    Every adapter tensor must land on a module, and every wrapped module must get both A and B."""
    cfg = read_adapter_config(adapter_dir)
    wpath = os.path.join(adapter_dir, ADAPTER_WEIGHTS)
    tensors, _ = safetensors_io.load_file(wpath)
    scale = scaling_of(cfg)
    used = set()
    for name, parent, attr in _targets(model, cfg["target_modules"]):
        base = getattr(parent, attr)
        wrapped = LoraLinear(base, cfg["r"], scale)
        for part in ("lora_A", "lora_B"):
            key = f"{PREFIX}{name}.{part}.weight"
            if key not in tensors:
                raise ValueError(f"{wpath}: tensor '{key}' missing for targeted module '{name}'")
            t = tensors[key]
            expect = tuple(getattr(wrapped, part).weight.shape)
            if tuple(t.shape) != expect:
                raise ValueError(f"{wpath}: tensor '{key}' has shape {list(t.shape)}, expected {list(expect)}")
            with torch.no_grad():
                getattr(wrapped, part).weight.copy_(t.to(base.weight.dtype))
            used.add(key)
        setattr(parent, attr, wrapped)
    unused = sorted(set(tensors) - used)
    if unused:
        raise ValueError(f"{wpath}: tensors that match no targeted module: {unused}")
    if not used:
        raise ValueError(f"{adapter_dir}: target_modules {cfg['target_modules']} matched no module")
    return model


def lora_modules(model):
    return OrderedDict((n, m) for n, m in model.named_modules() if isinstance(m, LoraLinear))


@contextlib.contextmanager
def adapters_disabled(model):
    mods = lora_modules(model).values()
    before = [m.enabled for m in mods]
    for m in mods:
        m.enabled = False
    try:
        yield model
    finally:
        for m, e in zip(mods, before):
            m.enabled = e


def merged_state_dict(model):
    """The HF state dict with every LoRA module merged: W + scale * B A (in the model's dtype)."""
    out = OrderedDict()
    lora = lora_modules(model)
    for name, p in model.named_parameters():
        if ".lora_A." in name or ".lora_B." in name:
            continue
        module = name.rsplit(".", 2)[0]
        hf_name = name.replace(".base_layer.", ".")
        if module in lora and name.endswith(".base_layer.weight"):
            out[hf_name] = (p + lora[module].delta_weight()).detach()
        else:
            out[hf_name] = p.detach()
    return out


def merge_lora(model):
    """Replaces every LoRA module by a plain Linear holding W + scale * B A; returns the model."""
    for name, m in list(lora_modules(model).items()):
        parent_name, _, attr = name.rpartition(".")
        base = m.base_layer
        with torch.no_grad():
            base.weight.add_(m.delta_weight())
        setattr(model.get_submodule(parent_name), attr, base)
    return model


def adapter_state_dict(model):
    """PEFT's tensor names -> the A and B weights."""
    out = OrderedDict()
    for name, m in lora_modules(model).items():
        out[f"{PREFIX}{name}.lora_A.weight"] = m.lora_A.weight.detach()
        out[f"{PREFIX}{name}.lora_B.weight"] = m.lora_B.weight.detach()
    return out


def peft_config(r, lora_alpha, target_modules, base_model_name_or_path, use_rslora=False):
    """adapter_config.json as PEFT (0.1x) writes it for a LoRA CAUSAL_LM adapter."""
    return {
        "alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": base_model_name_or_path,
        "bias": "none", "fan_in_fan_out": False, "inference_mode": True, "init_lora_weights": True,
        "layer_replication": None, "layers_pattern": None, "layers_to_transform": None, "loftq_config": {},
        "lora_alpha": lora_alpha, "lora_dropout": 0.0, "megatron_config": None, "megatron_core": "megatron.core",
        "modules_to_save": None, "peft_type": "LORA", "r": r, "rank_pattern": {}, "revision": None,
        "target_modules": target_modules if isinstance(target_modules, str) else list(target_modules),
        "task_type": "CAUSAL_LM", "use_dora": False,
        "use_rslora": use_rslora,
    }


def save_adapter(adapter_dir, tensors, config):
    os.makedirs(adapter_dir, exist_ok=True)
    safetensors_io.write_json(os.path.join(adapter_dir, ADAPTER_CONFIG), config)
    safetensors_io.save_file(tensors, os.path.join(adapter_dir, ADAPTER_WEIGHTS))


def linear_forward_unmerged(x, w, b, a, bb, scale):
    """y = x W^T + b + scale * (x A^T) B^T, the formula the unmerged path implements (for tests)."""
    return F.linear(x, w, b) + F.linear(F.linear(x, a), bb) * scale
