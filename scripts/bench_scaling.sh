#!/usr/bin/env bash
# Weak scaling of data-parallel training on this machine: 1 rank x 1 thread against 2 ranks x 1
# thread on the same per-rank batch, ROUNDS (3) times each in alternation (the machine is noisy), with and
# without overlapping communication and backward. Efficiency = throughput(2) / (2 x throughput(1)).
#   scripts/bench_scaling.sh [FILTER] [STEPS]   e.g. scripts/bench_scaling.sh "SCOUTER+ smallcnn" 40
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BUILD_DIR:-build}/launcher/scouter
filter=${1:-quickstart SCOUTER+}
steps=${2:-40}
mpirun="mpirun --allow-run-as-root --oversubscribe --bind-to core"
out=$(mktemp)
for round in $(seq "${ROUNDS:-3}"); do
  $mpirun -np 1 "$bin" bench --scaling true --threads 1 --steps "$steps" --filter "$filter" 2>/dev/null | grep '^| [^-c]' >> "$out"
  $mpirun -np 2 "$bin" bench --scaling true --threads 1 --steps "$steps" --filter "$filter" 2>/dev/null | grep '^| [^-c]' >> "$out"
done
echo "| case | ranks | batch/rank | gradient sync | step ms | images/s | comm wait ms/step |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
cat "$out"
# Best of the rounds per (ranks, sync): noise only ever slows a run down.
awk -F'|' '{ key=$3"|"$5; v=$7+0; if (v > best[key]) best[key]=v } END {
  one = best[" 1 | none "];
  for (k in best) if (k ~ /^ 2 /) printf("efficiency (%s): %.3f\n", k, best[k] / (2 * one)) }' "$out"
rm -f "$out"
