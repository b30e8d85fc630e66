#!/usr/bin/env bash
# illume vs llama.cpp, side by side on this machine (`make bench-compare`; docs/performance.md).
#
#   bench/compare.sh [BUILD]          BUILD: the build folder (default build) with illume and bench/bench_compare
#
# 1. fetches llama.cpp from npm and builds the harness (bench/llama/build.sh; nothing is committed);
# 2. writes random Qwen3-0.6B-shaped weights as a Hugging Face folder (bench_compare --write-random)
#    and exports the same weights as GGUF, F32 and BF16 (`illume export`);
# 3. measures both engines with one protocol (prefill 512 with last-token logits; decode batch 1: 128
#    greedy tokens after the 512-token prompt; decode batch 8: 8 unrelated 16-token prompts, 128 steps;
#    warm-up, then the median of 3), llama.cpp at every KV-cache type x flash-attention setting and at
#    its defaults (F16 KV, flash attention auto);
# 4. prints one table of tokens/s with illume's ratio to llama.cpp's best setting per column and dtype,
#    and writes it with the CPU model and flags to BUILD/bench-compare/report.md.
#
# Settings (environment): THREADS=2 REPS=3 LAYERS=28 PREFILL=512 DECODE_STEPS=128 BATCH=8 BATCH_PROMPT=16
# DTYPES="f32 bf16" LLAMA_SETTINGS="f32:off f32:on f16:off f16:on f16:auto" (KV type:flash attention)
# OUT=BUILD/bench-compare (model, GGUF files, results.jsonl, report.md).
# LAYERS below 28 gives a smaller model of the same width, for a quick run.
set -euo pipefail

BUILD="${1:-build}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
THREADS="${THREADS:-2}" REPS="${REPS:-3}" LAYERS="${LAYERS:-28}" PREFILL="${PREFILL:-512}"
DECODE_STEPS="${DECODE_STEPS:-128}" BATCH="${BATCH:-8}" BATCH_PROMPT="${BATCH_PROMPT:-16}"
DTYPES="${DTYPES:-f32 bf16}"
LLAMA_SETTINGS="${LLAMA_SETTINGS:-f32:off f32:on f16:off f16:on f16:auto}"
SHARED="${ILLUME_SHARED:-$ROOT/../shared}"
OUT="${OUT:-$BUILD/bench-compare}"
mkdir -p "$OUT"

for program in "$BUILD/illume" "$BUILD/bench/bench_compare"; do
  [ -x "$program" ] || { echo "bench-compare: $program is missing (make build, or cmake --build $BUILD --target illume_cli bench_compare)" >&2; exit 1; }
done
[ -f "$SHARED/tokenizer/tokenizer.json" ] || { echo "bench-compare: $SHARED/tokenizer/tokenizer.json is missing (../shared)" >&2; exit 1; }

status=0
harness="$(bench/llama/build.sh)" || status=$?
if [ "$status" -ne 0 ]; then
  echo "bench-compare: llama.cpp is not available (bench/llama/build.sh exited $status); nothing to compare with" >&2
  exit 1
fi

model="$OUT/qwen3-0.6b-shape-L$LAYERS"
if [ ! -f "$model/model.safetensors" ]; then
  "$BUILD/bench/bench_compare" --write-random "$model" --tokenizer "$SHARED/tokenizer" --layers "$LAYERS"
fi
for dtype in $DTYPES; do
  gguf="$model-$dtype.gguf"
  [ -f "$gguf" ] && [ "$gguf" -nt "$model/model.safetensors" ] || \
    "$BUILD/illume" export --model "$model" --format gguf --dtype "$dtype" --out "$gguf"
done

results="$OUT/results.jsonl"
: >"$results"
common=(--threads "$THREADS" --reps "$REPS" --prefill "$PREFILL" --decode-steps "$DECODE_STEPS" --batch "$BATCH"
        --batch-prompt "$BATCH_PROMPT")
for dtype in $DTYPES; do
  echo "bench-compare: illume $dtype" >&2
  line="$(ILLUME_THREADS="$THREADS" "$BUILD/bench/bench_compare" --model "$model" --dtype "$dtype" "${common[@]}" | tail -n 1)"
  echo "{\"engine\": \"illume\", \"dtype\": \"$dtype\", \"result\": $line}" >>"$results"
  for setting in $LLAMA_SETTINGS; do
    kv="${setting%%:*}" flash="${setting##*:}"
    echo "bench-compare: llama.cpp $dtype, KV $kv, flash attention $flash" >&2
    line="$("$harness" bench "$model-$dtype.gguf" --kv "$kv" --flash "$flash" "${common[@]}" | tail -n 1)"
    echo "{\"engine\": \"llama.cpp\", \"dtype\": \"$dtype\", \"result\": $line}" >>"$results"
  done
done

machine="$("$BUILD/illume" info 2>&1 | grep -E '^(cpu|isa|amx|blas)' | tr '\n' ';' | sed 's/;$//; s/;/; /g')"
cpu_model="$(grep -m 1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
cpu_flags="$(grep -m 1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx|avx2|fma|f16c|avx512.*|amx.*|avx_vnni)$' | tr '\n' ' ')"
llama_version="$(cat "$(dirname "$(dirname "$harness")")/version.json")"
node "$ROOT/bench/compare_table.js" "$results" "$cpu_model" "$cpu_flags" "$llama_version" "$machine" \
  "threads $THREADS, $LAYERS layers, prefill $PREFILL, decode $DECODE_STEPS steps, batch $BATCH x $BATCH_PROMPT-token prompts, median of $REPS after a warm-up" \
  | tee "$OUT/report.md"
echo "bench-compare: wrote $OUT/report.md" >&2
