#!/usr/bin/env python3
"""Local tests of check_hf_peft.py's arithmetic and file handling, with a small torch model standing in for
transformers (which is only on the GPU machine):

    /usr/bin/python3 native/tests/test_check_hf_peft.py
"""
import json
import math
import os
import struct
import sys
import tempfile
import unittest

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_hf_peft as chk  # noqa: E402

VOCAB, DIM = 37, 6


class PrefixMeanModel(torch.nn.Module):
    """logits[t] = W mean(emb[ids[0..t]]) + b: depends on the whole prefix, so an off-by-one in the position of the
    logits or of the target changes the result."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(11)
        self.emb = torch.nn.Parameter(torch.randn(VOCAB, DIM, generator=g))
        self.w = torch.nn.Parameter(torch.randn(VOCAB, DIM, generator=g))
        self.b = torch.nn.Parameter(torch.randn(VOCAB, generator=g))

    def forward(self, ids):  # [1, L] -> [1, L, V]
        e = self.emb[ids]
        mean = e.cumsum(1) / torch.arange(1, ids.shape[1] + 1).view(1, -1, 1)
        return mean @ self.w.T + self.b


def naive_logp(model, prompt, response):
    """Independent oracle: one position at a time, log-sum-exp in Python floats."""
    ids = prompt + response
    total = 0.0
    for t in range(len(prompt), len(ids)):
        with torch.no_grad():
            row = model(torch.tensor([ids[:t]]))[0, -1].tolist()  # the logits after ids[0..t-1]
        m = max(row)
        total += row[ids[t]] - (m + math.log(sum(math.exp(x - m) for x in row)))
    return total


def write_jsonl(path, lines):
    with open(path, "w") as f:
        for line in lines:
            f.write((line if isinstance(line, str) else json.dumps(line)) + "\n")


def examples_for(model):
    g = torch.Generator().manual_seed(5)
    out = []
    for i in range(4):
        prompt = torch.randint(0, VOCAB, (3 + i,), generator=g).tolist()
        chosen = torch.randint(0, VOCAB, (2 + i,), generator=g).tolist()
        rejected = torch.randint(0, VOCAB, (5,), generator=g).tolist()
        out.append(dict(index=i, prompt_ids=prompt, chosen_ids=chosen, rejected_ids=rejected,
                        chosen_logps=naive_logp(model, prompt, chosen),
                        rejected_logps=naive_logp(model, prompt, rejected)))
    return out


class ScoreTest(unittest.TestCase):

    def setUp(self):
        self.model = PrefixMeanModel()
        self.tmp = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.tmp.name, "score.jsonl")

    def tearDown(self):
        self.tmp.cleanup()

    def test_logps_match_an_independent_oracle(self):
        exs = examples_for(self.model)
        write_jsonl(self.path, exs + [{"examples": 4, "mean_margin": 0.1}])
        examples, summary = chk.read_score_jsonl(self.path)
        self.assertEqual(summary["examples"], 4)
        rows, worst = chk.compare_scores(self.model, examples)
        self.assertEqual(len(rows), 8)
        self.assertLess(worst, 1e-12)

    def test_a_wrong_logp_fails(self):
        exs = examples_for(self.model)
        exs[2]["rejected_logps"] *= 1 + 3e-4
        write_jsonl(self.path, exs + [{"examples": 4}])
        rows, worst = chk.compare_scores(self.model, chk.read_score_jsonl(self.path)[0])
        self.assertGreater(worst, chk.LOGP_RTOL)
        self.assertEqual([r[:2] for r in rows if r[4] > chk.LOGP_RTOL], [(2, "rejected")])

    def test_an_off_by_one_logp_fails(self):
        exs = examples_for(self.model)
        ex = exs[1]  # what a score that also counted the last prompt token would print
        ex["chosen_logps"] = naive_logp(self.model, ex["prompt_ids"][:-1], ex["prompt_ids"][-1:] + ex["chosen_ids"])
        write_jsonl(self.path, exs + [{"examples": 4}])
        _, worst = chk.compare_scores(self.model, chk.read_score_jsonl(self.path)[0])
        self.assertGreater(worst, chk.LOGP_RTOL)

    def test_malformed_files_name_file_and_line(self):
        good = examples_for(self.model)
        cases = [
            (good + [{"examples": 3}], "the summary says 3 examples, the file has 4"),
            (good, "no summary line"),
            (good[:1] + ["{not json"] + [{"examples": 1}], "score.jsonl:2: not JSON"),
            ([dict(good[0], chosen_ids="abc"), {"examples": 1}], "score.jsonl:1: chosen_ids must be a list"),
            ([dict(good[0], prompt_ids=[]), {"examples": 1}], "score.jsonl:1: empty prompt_ids"),
            ([{"examples": 0}, good[0]], "score.jsonl:2: example after the summary"),
        ]
        for lines, message in cases:
            write_jsonl(self.path, lines)
            with self.assertRaises(chk.FixtureError) as e:
                chk.read_score_jsonl(self.path)
            self.assertIn(message, str(e.exception))


class StateDictTest(unittest.TestCase):

    def test_equal_tied_missing_and_different(self):
        g = torch.Generator().manual_seed(3)
        theirs = {"model.embed_tokens.weight": torch.randn(10, 4, generator=g),
                  "model.layers.0.self_attn.q_proj.weight": torch.randn(4, 4, generator=g)}
        theirs["lm_head.weight"] = theirs["model.embed_tokens.weight"]
        ours = {k: v.clone() for k, v in theirs.items() if k != "lm_head.weight"}
        problems, worst, n = chk.compare_state_dicts(ours, theirs, tied_names=("lm_head.weight",))
        self.assertEqual((problems, worst, n), ([], 0.0, 2))
        problems, _, _ = chk.compare_state_dicts(ours, theirs)  # untied: lm_head must be there
        self.assertEqual(problems, ["lm_head.weight: in theirs, not in ours"])
        ours["model.layers.0.self_attn.q_proj.weight"] = ours["model.layers.0.self_attn.q_proj.weight"] * (1 + 2e-5)
        problems, worst, _ = chk.compare_state_dicts(ours, theirs, tied_names=("lm_head.weight",))
        self.assertEqual(len(problems), 1)
        self.assertIn("q_proj", problems[0])
        self.assertAlmostEqual(worst, 2e-5, delta=1e-6)
        ours["extra"] = torch.zeros(1)
        ours["model.embed_tokens.weight"] = torch.zeros(4, 10)
        problems, _, _ = chk.compare_state_dicts(ours, theirs, tied_names=("lm_head.weight",))
        self.assertIn("extra: in ours, not in theirs", problems)
        self.assertIn("model.embed_tokens.weight: shape (4, 10) in ours, (10, 4) in theirs", problems)

    def test_adapter_is_trained(self):
        self.assertFalse(chk.adapter_is_trained({"x.lora_A.weight": torch.ones(2, 2), "x.lora_B.weight":
                                                 torch.zeros(2, 2)}))
        self.assertTrue(chk.adapter_is_trained({"x.lora_B.weight": torch.tensor([[0.0, 1e-9]])}))
        self.assertFalse(chk.adapter_is_trained({}))


class SafetensorsTest(unittest.TestCase):

    def test_minimal_reader(self):
        a = torch.arange(6, dtype=torch.float32).reshape(2, 3) / 7
        b = torch.tensor([1.5, -2.25, 3.0], dtype=torch.bfloat16)
        da, db = a.numpy().tobytes(), b.view(torch.int16).numpy().tobytes()
        header = {"a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, len(da)]},
                  "b": {"dtype": "BF16", "shape": [3], "data_offsets": [len(da), len(da) + len(db)]},
                  "__metadata__": {"format": "pt"}}
        h = json.dumps(header).encode()
        h += b" " * (-len(h) % 8)
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, "model.safetensors"), "wb") as f:
                f.write(struct.pack("<Q", len(h)) + h + da + db)
            got = chk.load_safetensors_dir(tmp)
        self.assertTrue(torch.equal(got["a"], a))
        self.assertTrue(torch.equal(got["b"], b))

    def test_no_fixtures_is_a_skip(self):
        with tempfile.TemporaryDirectory() as tmp:
            self.assertEqual(chk.main([tmp]), 77)


def write_safetensors(path, tensors):
    """A float32 safetensors file (the format's own layout: header length, JSON header, packed data)."""
    header, data = {}, b""
    for name, t in tensors.items():
        raw = t.detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


class _Out:
    def __init__(self, logits):
        self.logits = logits


class _Config:
    tie_word_embeddings = False


class FakeCausalLM(torch.nn.Module):
    """transformers' surface as check_hf_peft uses it, around PrefixMeanModel's weights read from a directory."""

    def __init__(self, tensors):
        super().__init__()
        self.inner = PrefixMeanModel()
        with torch.no_grad():
            for name, t in tensors.items():
                getattr(self.inner, name).copy_(t)
        self.config = _Config()

    def forward(self, input_ids):
        return _Out(self.inner(input_ids))

    @classmethod
    def from_pretrained(cls, directory, dtype=None, attn_implementation=None):
        assert dtype is torch.float32 and attn_implementation == "eager"
        return cls({k.split(".", 1)[1]: v for k, v in chk.load_safetensors_dir(directory).items()})


class FakePeftModel(torch.nn.Module):
    """peft's surface: a LoRA on inner.w (w + B A, scale 1) read from adapter_model.safetensors."""

    def __init__(self, base, a, b):
        super().__init__()
        self.base, self.a, self.b = base, a, b

    def forward(self, input_ids):
        inner = self.base.inner
        e = inner.emb[input_ids]
        mean = e.cumsum(1) / torch.arange(1, input_ids.shape[1] + 1).view(1, -1, 1)
        return _Out(mean @ (inner.w + self.b @ self.a).T + inner.b)

    @classmethod
    def from_pretrained(cls, base, adapter_dir):
        t = chk.load_safetensors_dir(adapter_dir)
        return cls(base, t["base_model.model.inner.w.lora_A.weight"], t["base_model.model.inner.w.lora_B.weight"])

    def merge_and_unload(self):
        with torch.no_grad():
            self.base.inner.w += self.b @ self.a
        return self.base


class PlumbingTest(unittest.TestCase):
    """check_fixture end to end with stand-ins for transformers and peft (the real ones are on the GPU machine)."""

    def setUp(self):
        import types
        self.saved = {m: sys.modules.get(m) for m in ("transformers", "peft")}
        sys.modules["transformers"] = types.SimpleNamespace(AutoModelForCausalLM=FakeCausalLM, __version__="fake")
        sys.modules["peft"] = types.SimpleNamespace(PeftModel=FakePeftModel, __version__="fake")
        self.tmp = tempfile.TemporaryDirectory()
        root = os.path.join(self.tmp.name, "llama")
        base = PrefixMeanModel()
        names = ("emb", "w", "b")
        write_safetensors(os.path.join(root, "model", "model.safetensors"),
                          {f"inner.{n}": getattr(base, n) for n in names})
        exs = examples_for(base)
        write_jsonl(os.path.join(root, "score.jsonl"), exs + [{"examples": len(exs)}])
        g = torch.Generator().manual_seed(9)
        a, b = torch.randn(2, DIM, generator=g) * 0.3, torch.randn(VOCAB, 2, generator=g) * 0.3
        write_safetensors(os.path.join(root, "adapter", "adapter_model.safetensors"),
                          {"base_model.model.inner.w.lora_A.weight": a, "base_model.model.inner.w.lora_B.weight": b})
        merged = PrefixMeanModel()
        with torch.no_grad():
            merged.w += b @ a
        self.merged_path = os.path.join(root, "merged", "model.safetensors")
        write_safetensors(self.merged_path, {f"inner.{n}": getattr(merged, n) for n in names})
        a_exs = [dict(ex, chosen_logps=naive_logp(merged, ex["prompt_ids"], ex["chosen_ids"]),
                      rejected_logps=naive_logp(merged, ex["prompt_ids"], ex["rejected_ids"])) for ex in exs]
        write_jsonl(os.path.join(root, "adapter-score.jsonl"), a_exs + [{"examples": len(a_exs)}])
        self.merged = merged

    def tearDown(self):
        for m, mod in self.saved.items():
            if mod is None:
                sys.modules.pop(m, None)
            else:
                sys.modules[m] = mod
        self.tmp.cleanup()

    def test_all_checks_pass_on_consistent_fixtures(self):
        md = os.path.join(self.tmp.name, "report.md")
        self.assertEqual(chk.main([self.tmp.name, "--md", md]), 0)
        with open(md) as f:
            text = f.read()
        self.assertIn("8 of 8 checks passed", text)
        self.assertNotIn("FAIL", text)

    def test_a_merged_export_that_differs_fails(self):
        with torch.no_grad():
            self.merged.w[3, 2] += 1e-3
        write_safetensors(self.merged_path, {f"inner.{n}": getattr(self.merged, n) for n in ("emb", "w", "b")})
        md = os.path.join(self.tmp.name, "report.md")
        self.assertEqual(chk.main([self.tmp.name, "--md", md]), 1)
        with open(md) as f:
            text = f.read()
        self.assertIn("FAIL: llama: merge_and_unload() equals merged/", text)
        self.assertIn("inner.w: max relative difference", text)


if __name__ == "__main__":
    unittest.main()
