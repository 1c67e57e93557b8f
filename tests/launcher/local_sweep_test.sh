#!/usr/bin/env bash
# A local sweep (`scouter sweep` without Slurm) of 2-rank runs, started with the launcher command
# the binary chose for the MPI it was built with (local_mpi_launcher in common/mpi_env.h). CTest
# runs it in builds against MPICH, label `mpich` (the launcher tests cover Open MPI's): a run
# completes on 2 ranks of this host; a SIGTERM to the sweep reaches the ranks through the
# launcher as SIGUSR1, they write a mid-epoch checkpoint and the sweep exits 3. The explanations
# after a run go through the same launcher.
#   local_sweep_test.sh SCOUTER_BIN MAKE_TOY_DATA_BIN
set -euo pipefail
scouter=$1 make_toy=$2
work=$(mktemp -d /tmp/scouter-local-sweep-XXXXXX)
fail() { echo "FAIL: $*" >&2; exit 1; }
trap 'rm -rf "$work"' EXIT
"$make_toy" "$work/data" 512 64 256

study() {  # study NAME EPOCHS: a sweep file of one run
  cat > "$work/$1.toml" <<TOML
[sweep]
name = "$1"
dir = "$work/$1"
explain_images = 8
explain_pictures = 1
[resources]
ranks = 2
threads_per_rank = 1
[defaults]
dataset = "MNIST"
dataset_dir = "$work/data"
model = "smallcnn"
num_classes = 4
img_size = 0
batch_size = 16
epochs = $2
[runs.pos]
slots_per_class = 1
TOML
}

echo "== a 2-rank run to the end"
study short 1
"$scouter" sweep "$work/short.toml" || fail "the sweep failed: $(cat "$work"/short/pos/train.log)"
run=$work/short/pos
[ -f "$run/summary.json" ] || fail "no summary.json"
grep -q "1 node x 2 ranks" "$run/train.log" || fail "not 2 ranks on one node: $(head -20 "$run/train.log")"
[ "$(wc -l < "$run/hosts.txt")" -eq 2 ] || fail "hosts.txt: $(cat "$run/hosts.txt")"
[ -f "$run/explain/metrics.json" ] || fail "no explanations: $(cat "$run/explain.log")"

echo "== SIGTERM to the sweep: the ranks checkpoint, the sweep exits 3"
study long 50
"$scouter" sweep "$work/long.toml" > "$work/long.log" 2>&1 &
sweep=$!
run=$work/long/pos
for _ in $(seq 1500); do
  [ -f "$run/checkpoints/epoch-0001.h5.done" ] && break
  sleep 0.2
done
[ -f "$run/checkpoints/epoch-0001.h5.done" ] || fail "no first checkpoint: $(cat "$run/train.log")"
kill -TERM "$sweep"
status=0
wait "$sweep" || status=$?
[ "$status" -eq 3 ] || fail "the sweep exited $status, not 3: $(cat "$work/long.log" "$run/train.log")"
grep -q "stopped by SIGUSR1" "$run/train.log" || fail "the ranks were not stopped by SIGUSR1: $(tail "$run/train.log")"
ls "$run"/checkpoints/*-step-*.h5.done > /dev/null || fail "no mid-epoch checkpoint"
echo "PASS"
