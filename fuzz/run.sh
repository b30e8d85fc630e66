#!/usr/bin/env bash
# Runs the fuzz targets one after another: fuzz/run.sh BUILD_DIR SECONDS [TARGET...] (all by default).
# Each target reads its seeds (BUILD_DIR/seeds/TARGET, from make_seeds) and its growing corpus
# (BUILD_DIR/corpus/TARGET), and writes what it finds to BUILD_DIR/findings/TARGET/ (crash-*, leak-*,
# timeout-*, oom-*). Per target it prints executions and findings; it exits 1 if anything was found.
# One process at a time, niced, so a shared machine stays usable.
set -u
build=$1
seconds=$2
shift 2
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for t in "$build"/fuzz_*; do [ -x "$t" ] && targets+=("$(basename "$t")"); done
fi
# An input slower than 10 s is a hang; over 2 GB of memory (including ASan's) is a blow-up.
options=(-timeout=10 -rss_limit_mb=2560 -malloc_limit_mb=2048 -print_final_stats=1 -max_len=65536)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
total_findings=0
printf '%-32s %12s %9s %8s %s\n' target executions exec/s corpus findings
for t in "${targets[@]}"; do
  mkdir -p "$build/corpus/$t" "$build/findings/$t" "$build/logs"
  log="$build/logs/$t.log"
  nice -n 10 "$build/$t" "${options[@]}" -max_total_time="$seconds" -artifact_prefix="$build/findings/$t/" \
    "$build/corpus/$t" "$build/seeds/$t" >"$log" 2>&1
  status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  corpus=$(find "$build/corpus/$t" -type f | wc -l)
  found=$(find "$build/findings/$t" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  if [ "$status" -ne 0 ] && [ "$found" -eq 0 ]; then found=1; fi  # died without an artifact: still a finding
  total_findings=$((total_findings + found))
  printf '%-32s %12s %9s %8s %s\n' "$t" "${runs:-?}" "${rate:-?}" "$corpus" "$found"
  if [ "$found" -ne 0 ]; then
    echo "  $t: see $log and $build/findings/$t/"
    grep -m3 -E 'ERROR: |FINDING: |runtime error|Sanitizer' "$log" | sed 's/^/    /'
  fi
done
[ "$total_findings" -eq 0 ]
