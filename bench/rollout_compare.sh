#!/usr/bin/env bash
# Rollout tokens/s of two builds of bench_rollout run alternately (these VMs are noisy: only ratios
# measured in one run mean something), e.g. before (main) and after a change:
#   bench/rollout_compare.sh BEFORE/bench/bench_rollout AFTER/bench/bench_rollout [ROUNDS] [bench args...]
# Prints each round's numbers, then per load the median tokens/s of both and the ratio after/before.
set -euo pipefail
if [[ $# -lt 2 ]]; then
  echo "usage: $0 BEFORE_BIN AFTER_BIN [ROUNDS] [bench_rollout args...]" >&2
  exit 2
fi
before=$1 after=$2
rounds=${3:-3}
shift $(( $# >= 3 ? 3 : 2 ))
for bin in "$before" "$after"; do
  [[ -x $bin ]] || { echo "$0: $bin: not an executable" >&2; exit 2; }
done
results=$(mktemp) run=$(mktemp)
trap 'rm -f "$results" "$run"' EXIT
for ((round = 1; round <= rounds; ++round)); do
  for which in before after; do
    bin=$before
    [[ $which == after ]] && bin=$after
    echo "# round $round: $which ($bin)"
    "$bin" "$@" > "$run"
    cat "$run"
    sed -n "s/^RESULT /$which /p" "$run" >> "$results"
  done
done
echo
echo "| load | before (tok/s) | after (tok/s) | after / before |"
echo "|---|---|---|---|"
awk '
  { split($2, l, "="); split($3, v, "="); values[$1 "," l[2]] = values[$1 "," l[2]] " " v[2]; loads[l[2]] = 1 }
  function median(list,   n, a, i, j, t) {
    n = split(list, a, " ")
    for (i = 1; i <= n; ++i) for (j = i + 1; j <= n; ++j) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  END {
    for (load in loads) {
      b = median(values["before," load]); a = median(values["after," load])
      printf "| %s | %.1f | %.1f | %.2fx |\n", load, b, a, a / b
    }
  }' "$results" | sort
