#!/usr/bin/env bash
# The one script for a lent GPU machine (CUDA 13, PyTorch with FlexAttention, transformers, peft; no Java, no
# network). From the carried tree, in one call of under 8 minutes:
#
#   1. build      CMake: libprefixshare (CPU kernels, the reference), libprefixshare_cuda (sm_80 + sm_90 code, sm_90
#                 PTX) and the CUDA harness, without JNI (-DPS_WITH_JNI=OFF); lists the embedded code objects
#   2. harness    ps_cuda_test: CUDA vs CPU kernels, forward and backward, fp32 (<= 1e-4) / bf16 / fp16 (<= 1e-2),
#                 lse float32 (<= 1e-4), GQA, D 64 and 128, causal / pair / packed / N-way tree / training rows,
#                 padding, odd lengths, blind rows; every case run twice (a race shows as a difference)
#   3. hf         check_hf_peft.py on the carried fixtures (.gpu-fixtures/, made by make_gpu_fixtures.sh): our HF
#                 model, PEFT adapter and merged directories read by transformers / peft, log-probs within 1e-4
#   4. perf       ps_cuda_test --perf: our kernels alone, CUDA events (bf16, Hq 32, Hkv 8, D 128, pair / packed)
#   5. bench      the GPU's ceilings (bf16 matrix product, copy bandwidth), then bench_flex.py: ours vs
#                 FlexAttention vs SDPA (dense mask; flash on the paired layout), causal / pair / packed,
#                 T 1,024-8,192, forward and forward + backward
#
# and writes docs/cuda-report-<date>.md plus CSVs, or, when $OUT is set (the device tool's folder that comes back),
# everything under $OUT, flat: cuda-report-<date>.md, cuda-bench-<date>.csv, cuda-perf-<date>.csv, run_gpu.log.
#
#   native/tests/run_gpu.sh [--only build,harness,hf,perf,bench]   (build always runs when a later step needs it)
#
# Time: every step runs under `timeout`, capped by its own limit and by a deadline for the whole run
# (PS_GPU_DEADLINE_S, default 420 s after the start), and the later steps keep a reserve, so one slow step cannot eat
# the budget; bench goes last and gets what is left (its CSV is written row by row, so a cut keeps what finished).
# Expected on an H100 (estimates; the report prints the measured ones beside them):
#   build    ~30 s   measured on the 2-core CI machine: 30 s wall for the whole tree, attention_bwd.cu 12 s,
#                    attention_fwd.cu 9 s, attention_cpu.cpp 20 s (the critical path); 16 cores: ~25 s
#   harness  ~30 s   ~100 cases; CPU reference <= ~5 GFLOP per dtype on 16 cores, GPU time negligible
#   hf       ~25 s   importing transformers + peft ~10 s; 3 tiny models x 8 sequences on the CPU
#   perf     ~20 s   8 shapes x 12 runs; fwd+bwd at T 8192 causal-like ~1.1 TFLOP fwd visible: ~50 ms at
#                    ~100 TFLOP/s; host-side random fill of 3 x 67M values per shape dominates
#   ceilings ~8 s    torch import, 13 products of 1.1 TFLOP, 13 copies of 4 GiB
#   bench    ~180 s  FlexAttention compiles once per T (static shapes): ~30-45 s each, 4 T; timing 12 layouts x 4
#                    methods x 2 x 23 runs: at most ~150 ms per fwd+bwd set at T 8192 -> ~20 s in all
#   total    ~4.8 min, hard stop by the deadline (7 min)
set -uo pipefail
export PYTHONUNBUFFERED=1
START=$(date +%s)
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
NATIVE="$ROOT/native"
BUILD="$NATIVE/target/cmake-cuda"
DATE="$(date -u +%Y-%m-%d)"
DEADLINE=$((START + ${PS_GPU_DEADLINE_S:-420}))
FIXTURES="${PS_GPU_FIXTURES:-$ROOT/.gpu-fixtures}"
if [[ -n "${OUT:-}" ]]; then
    DEST="$OUT"
else
    DEST="$ROOT/docs"
fi
mkdir -p "$DEST"
REPORT="$DEST/cuda-report-$DATE.md"
BENCH_CSV="$DEST/cuda-bench-$DATE.csv"
PERF_CSV="$DEST/cuda-perf-$DATE.csv"
LOG="${OUT:+$OUT/run_gpu.log}"
LOG="${LOG:-$(mktemp)}"
WORK="$(mktemp -d)"
exec > >(tee -a "$LOG") 2>&1

ONLY="build,harness,hf,perf,bench"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --only) ONLY="$2"; shift 2 ;;
        *) echo "usage: $0 [--only build,harness,hf,perf,bench]" >&2; exit 2 ;;
    esac
done
wants() { [[ ",$ONLY," == *",$1,"* ]]; }
if ! wants build && { wants harness || wants perf || wants bench; }; then ONLY="build,$ONLY"; fi
[[ -d /usr/local/cuda/bin && ":$PATH:" != *":/usr/local/cuda/bin:"* ]] && export PATH="$PATH:/usr/local/cuda/bin"

# ---- step runner --------------------------------------------------------------------------------------------------
declare -a S_NAME S_STATUS S_SECS S_CAP S_EXPECT
status=0
# The time each selected step is guaranteed (its cap is cut so that the later selected steps keep theirs, plus 15 s
# for the report, before the deadline); bench gets the most: what it needs to compile and time T 1,024 and 2,048.
ORDER=(build harness hf perf ceilings bench)
declare -A NEED=([build]=40 [harness]=40 [hf]=30 [perf]=20 [ceilings]=10 [bench]=130)
reserve_after() {  # reserve_after NAME: seconds the selected steps after NAME need, plus the report's 15
    local r=15 seen=0 n
    for n in "${ORDER[@]}"; do
        if ((seen)) && wants "${n/ceilings/bench}"; then r=$((r + NEED[$n])); fi
        [[ $n == "$1" ]] && seen=1
    done
    echo "$r"
}
# step NAME CAP_S EXPECTED_S cmd...: runs cmd under timeout (its cap, cut by the deadline and reserve_after),
# output to the log and $WORK/NAME.out; records status and duration
step() {
    local name=$1 cap=$2 expect=$3 reserve
    shift 3
    reserve=$(reserve_after "$name")
    local now left t0 rc st
    now=$(date +%s)
    left=$((DEADLINE - now - reserve))
    ((left < cap)) && cap=$left
    printf '\n===== %s (limit %s s, expected ~%s s, %s s into the run) =====\n' "$name" "$cap" "$expect" \
        "$((now - START))"
    if ((cap < 10)); then
        echo "not run: the deadline leaves ${cap} s"
        S_NAME+=("$name") S_STATUS+=("NOT RUN (deadline)") S_SECS+=(0) S_CAP+=("$cap") S_EXPECT+=("$expect")
        status=1
        return 1
    fi
    t0=$(date +%s)
    timeout --kill-after=10 "$cap" "$@" 2>&1 | tee "$WORK/$name.out"
    rc=${PIPESTATUS[0]}
    case $rc in
        0) st=PASS ;;
        124 | 137) st="TIMEOUT after ${cap} s" ;;
        77) st="SKIPPED (exit 77)" ;;
        *) st="FAIL (exit $rc)" ;;
    esac
    [[ $rc -eq 0 ]] || status=1
    S_NAME+=("$name") S_STATUS+=("$st") S_SECS+=($(($(date +%s) - t0))) S_CAP+=("$cap") S_EXPECT+=("$expect")
    echo "----- $name: $st in $(($(date +%s) - t0)) s"
    return "$rc"
}

# ---- environment ----------------------------------------------------------------------------------------------------
echo "run_gpu.sh: $(date -u +%FT%TZ) on $(hostname), steps: $ONLY, deadline in $((DEADLINE - START)) s"
GPU_LINE="$(nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,compute_cap --format=csv,noheader \
    2>&1 | head -n 1)"
{
    echo "nvidia-smi: $GPU_LINE"
    echo "nvcc: $(nvcc --version 2>&1 | tail -n 2 | head -n 1)"
    echo "cmake: $(cmake --version 2>&1 | head -n 1); ninja: $(ninja --version 2>&1); gcc: $(gcc -dumpfullversion 2>&1)"
    echo "python: $(python3 -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "CUDA",
        torch.version.cuda)' 2>&1 | tail -n 1)"
    echo "cpus: $(nproc)"
} | tee "$WORK/env.out"

LIB="$BUILD/cuda-lib/libprefixshare_cuda.so"
built=1
if wants build; then
    gen=""
    command -v ninja >/dev/null && gen="-G Ninja"
    step build 180 30 bash -ec "
        cmake $gen -S '$NATIVE' -B '$BUILD' -DCMAKE_BUILD_TYPE=Release -DPS_WITH_CUDA=ON -DPS_WITH_JNI=OFF \\
            --log-level=WARNING
        cmake --build '$BUILD' -j $(nproc) --target prefixshare prefixshare_cuda ps_cuda_test
        if command -v cuobjdump >/dev/null; then cuobjdump --list-elf '$LIB'; cuobjdump --list-ptx '$LIB'; fi
        python3 '$NATIVE/tests/cuda_fatbin_list.py' '$LIB' --require elf:sm_80 elf:sm_90 ptx:sm_90" || built=0
fi
if wants harness; then
    if ((built)); then step harness 150 30 "$BUILD/ps_cuda_test"; else echo "harness: not run (build failed)"; fi
fi
if wants hf; then
    step hf 100 25 python3 "$NATIVE/tests/check_hf_peft.py" "$FIXTURES" --device cpu --md "$WORK/hf.md"
fi
if wants perf; then
    if ((built)); then
        step perf 60 20 "$BUILD/ps_cuda_test" --perf 10
        grep -E '^(layout|pair|packed),' "$WORK/perf.out" >"$PERF_CSV" 2>/dev/null || rm -f "$PERF_CSV"
    else
        echo "perf: not run (build failed)"
    fi
fi
if wants bench; then
    # the two ceilings of METHOD.md, measured here: a bf16 matrix product and a device-to-device copy
    step ceilings 40 8 python3 -c '
import statistics, torch
def med(fn, n=10):
    for _ in range(3): fn()
    torch.cuda.synchronize(); ts = []
    for _ in range(n):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record(); fn(); b.record(); b.synchronize(); ts.append(a.elapsed_time(b))
    return statistics.median(ts)
x, y = (torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16) for _ in range(2))
ms = med(lambda: x @ y)
print(f"bf16 matmul 8192^3 on random data: {2 * 8192**3 / ms * 1e-9:.0f} TFLOP/s (median of 10, {ms:.3f} ms)")
src = torch.empty(2 * 1024**3, dtype=torch.uint8, device="cuda"); dst = torch.empty_like(src)
ms = med(lambda: dst.copy_(src))
print(f"device-to-device copy of 2 GiB: {2 * src.numel() / ms * 1e-9:.0f} GB/s read + written (median of 10)")
'
    if ((built)); then
        step bench 600 180 python3 "$NATIVE/tests/bench_flex.py" --lib "$LIB" --iters 20 --csv "$BENCH_CSV" \
            --md "$WORK/bench.md"
    else
        echo "bench: not run (build failed)"
    fi
fi

# ---- report ---------------------------------------------------------------------------------------------------------
section() {  # section TITLE FILE: the file as a code block, when it exists
    [[ -s "$2" ]] || return 0
    printf '\n## %s\n\n```\n' "$1"
    cat "$2"
    printf '```\n'
}
{
    echo "# CUDA kernels and Hugging Face interop on a GPU: report ($DATE)"
    echo
    echo "Generated by \`native/tests/run_gpu.sh --only $ONLY\` on $(hostname), $(date -u +%FT%TZ), in" \
        "$(($(date +%s) - START)) s. GPU (name, driver, memory, max SM clock, compute capability): $GPU_LINE."
    echo
    echo "| step | status | seconds | limit | expected |"
    echo "|---|---|---|---|---|"
    for i in "${!S_NAME[@]}"; do
        echo "| ${S_NAME[$i]} | ${S_STATUS[$i]} | ${S_SECS[$i]} | ${S_CAP[$i]} | ~${S_EXPECT[$i]} |"
    done
    section "Environment" "$WORK/env.out"
    section "Build and code objects" "$WORK/build.out"
    section "CUDA harness: CUDA vs CPU kernels (max |cuda - cpu| / max |cpu|; rerun: difference between two runs)" \
        "$WORK/harness.out"
    if [[ -s "$WORK/hf.md" ]]; then
        printf '\n## transformers / PEFT read our directories (check_hf_peft.py)\n\n'
        cat "$WORK/hf.md"
    else
        section "transformers / PEFT read our directories (check_hf_peft.py)" "$WORK/hf.out"
    fi
    section "Our kernels alone (ps_cuda_test --perf, min of 10; TFLOP/s on the visible area)" "$WORK/perf.out"
    section "Ceilings: bf16 matrix product and copy bandwidth on this GPU" "$WORK/ceilings.out"
    if [[ -s "$WORK/bench.md" ]]; then
        printf '\n## Ours vs FlexAttention vs SDPA (bench_flex.py; ratios > 1: ours faster)\n\n'
        cat "$WORK/bench.md"
        printf '\nEvery row, with the per-method notes: `%s`.\n' "$(basename "$BENCH_CSV")"
    fi
    section "bench_flex.py output" "$WORK/bench.out"
} >"$REPORT"

echo
echo "===== summary ($(($(date +%s) - START)) s) ====="
for i in "${!S_NAME[@]}"; do
    printf '%-8s %-24s %4s s (limit %s, expected ~%s)\n' "${S_NAME[$i]}" "${S_STATUS[$i]}" "${S_SECS[$i]}" \
        "${S_CAP[$i]}" "${S_EXPECT[$i]}"
done
[[ -s "$WORK/bench.md" ]] && cat "$WORK/bench.md"
echo "report: $REPORT"
ls -la "$DEST" | grep -E "cuda-|run_gpu" || true
rm -rf "$WORK"
exit $status
