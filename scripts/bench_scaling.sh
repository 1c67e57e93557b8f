#!/usr/bin/env bash
# Weak scaling of data-parallel training on this machine: 1 rank x 1 thread against 2 ranks x 1
# thread on the same per-rank batch, ROUNDS (3) times each in alternation (the machine is noisy), with and
# without overlapping communication and backward. Efficiency = throughput(2) / (2 x throughput(1)).
#   scripts/bench_scaling.sh [FILTER] [STEPS]   e.g. scripts/bench_scaling.sh "SCOUTER+ smallcnn" 40
# PRECISION (fp32): `scouter bench --precision` (fp32, bf16 or auto).
# CLUSTER=1: across the nodes of the local multi-node cluster (slurm/local_multinode.sh start):
# 1 rank on node1 against 1 rank on each of node1 and node2, over the bridge (TCP), unbound (every
# node would bind its rank to core 0).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BUILD_DIR:-build}/launcher/scouter
filter=${1:-quickstart SCOUTER+}
steps=${2:-40}
precision=${PRECISION:-fp32}
mpirun="mpirun --allow-run-as-root --oversubscribe --bind-to core"
one="-np 1" two="-np 2"
if [ "${CLUSTER:-0}" = 1 ]; then
  # shellcheck source=/dev/null
  source /run/scouter-cluster/env
  mpirun="mpirun --allow-run-as-root --oversubscribe --bind-to none"
  one="--host node1 -np 1" two="--host node1,node2 -np 2"
fi
out=$(mktemp)
for round in $(seq "${ROUNDS:-3}"); do
  $mpirun $one "$bin" bench --scaling true --threads 1 --steps "$steps" --filter "$filter" --precision "$precision" 2>/dev/null | grep '^| [^-c]' >> "$out"
  $mpirun $two "$bin" bench --scaling true --threads 1 --steps "$steps" --filter "$filter" --precision "$precision" 2>/dev/null | grep '^| [^-c]' >> "$out"
done
echo "| case | precision | ranks | batch/rank | gradient sync | step ms | images/s | comm wait ms/step |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
cat "$out"
# Best of the rounds per (ranks, sync): noise only ever slows a run down.
awk -F'|' '{ key=$4"|"$6; v=$8+0; if (v > best[key]) best[key]=v } END {
  one = best[" 1 | none "];
  for (k in best) if (k ~ /^ 2 /) printf("efficiency (%s): %.3f\n", k, best[k] / (2 * one)) }' "$out"
rm -f "$out"
