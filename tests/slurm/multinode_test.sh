#!/usr/bin/env bash
# Runs across two nodes of the local multi-node cluster (slurm/local_multinode.sh, started once
# by CTest's fixture `multinode`): one case per call, each in its own folder, removed afterwards.
#   multinode_test.sh CASE SCOUTER_BIN MAKE_TOY_DATA_BIN SOURCE_DIR
# Cases:
#   bitwise   2 nodes x 1 rank ends with the same weights as 1 node x 2 ranks (bitwise, same
#             global batch); the logged topology and hosts.txt show the nodes
#   staging   each node's scratch receives exactly the shard files its rank reads; a second run
#             sends nothing; a corrupted copy on one node is sent again to that node only
#   node_loss every process of node2 killed mid-epoch ends the job within collective_timeout plus
#             a bounded grace, naming the missing rank and its host; the last complete
#             checkpoint resumes on 2 nodes to the uninterrupted result
#   silent    node2's link cut mid-epoch (its processes live on, no connection closes): the job
#             ends within collective_timeout plus Open MPI's keepalive, rank 0 naming rank 1 on
#             node2 as missing; after the link is back the last checkpoint resumes to the
#             uninterrupted result
#   prep      `scouter prep` of an image dataset across 2 nodes writes the same shards as one process
#   slurm     `scouter sweep --slurm` of a 2-rank, 1-rank-per-node run spans both slurmds; USR1
#             (a time limit's signal) in epoch 2 and `scontrol requeue` (preemption) in epoch 3
#             each checkpoint and requeue; the run completes with the weights of an
#             uninterrupted run
set -euo pipefail
case_name=$1 scouter=$2 make_toy=$3 src=$4
cluster=$src/slurm/local_multinode.sh
STATE=/run/scouter-cluster
work=$(mktemp -d /tmp/scouter-multinode-XXXXXX)
fail() { echo "FAIL: $*" >&2; exit 1; }
jobs_pids=()
cleanup() {
  for p in "${jobs_pids[@]}"; do kill -KILL -- "-$p" 2>/dev/null || true; done
  [ "$case_name" != silent ] || "$cluster" heal-node node2 2>/dev/null || true  # a failed case_silent
  rm -rf "$work"
}
trap cleanup EXIT

[ -s "$STATE/env" ] || fail "the local multi-node cluster is not running (slurm/local_multinode.sh start)"
# shellcheck source=/dev/null
source "$STATE/env"
MPIRUN="mpirun --allow-run-as-root --oversubscribe"
on_two_nodes="$MPIRUN --host node1,node2 -np 2"
on_one_node="$MPIRUN --host node1:2 -np 2"
# 4 classes of generated images, 4 train shards of 256 and one validation shard.
"$make_toy" "$work/data" 1024 128 256
train_args="--model smallcnn --num_classes 4 --batch_size 16 --threads 1 --lr 3e-4 --slots_per_class 2 --aug true --dataset_dir $work/data"

# The final weights of two runs, bitwise.
same_weights() {
  h5diff -q "$(ls "$1"/checkpoints/epoch-*.h5 | grep -v step | tail -1)" \
            "$(ls "$2"/checkpoints/epoch-*.h5 | grep -v step | tail -1)" /model /model
}

case_bitwise() {
  local t0=$SECONDS
  $on_two_nodes "$scouter" train $train_args --img_size 0 --epochs 2 --output_dir "$work/two" > "$work/two.log" 2>&1 \
    || { cat "$work/two.log"; fail "2 nodes x 1 rank failed"; }
  $on_one_node "$scouter" train $train_args --img_size 0 --epochs 2 --output_dir "$work/one" > "$work/one.log" 2>&1 \
    || { cat "$work/one.log"; fail "1 node x 2 ranks failed"; }
  grep -q "train on 2 nodes x 2 ranks (node1: 0; node2: 1)" "$work/two.log" || { cat "$work/two.log"; fail "topology of 2 nodes x 1 rank not logged"; }
  grep -q "train on 1 node x 2 ranks (node1: 0-1)" "$work/one.log" || { cat "$work/one.log"; fail "topology of 1 node x 2 ranks not logged"; }
  [ "$(cat "$work/two/hosts.txt")" = "$(printf 'node1\nnode2')" ] || fail "hosts.txt of 2 nodes: $(cat "$work/two/hosts.txt")"
  [ "$(cat "$work/one/hosts.txt")" = "$(printf 'node1\nnode1')" ] || fail "hosts.txt of 1 node: $(cat "$work/one/hosts.txt")"
  same_weights "$work/two" "$work/one" || fail "2 nodes x 1 rank and 1 node x 2 ranks end with different weights"
  echo "bitwise: $((SECONDS - t0)) s"
}

# "staging train (epoch 1): 2 file(s), 1.2 MB sent, 0 already verified" -> "2 0"
staging_counts() {
  sed -n "s/.*staging $2 (epoch 1): \([0-9]*\) file(s), .* sent, \([0-9]*\) already verified.*/\1 \2/p" "$1"
}
# The shard files (no checksums) in a node's scratch, one a line.
staged() { (cd "$STATE/nodes.d/$1/scratch" && find . -name '*.h5' -printf '%f\n' | sort); }

case_staging() {
  # shuffle_block = shard size: each rank reads exactly two whole train shards, so the plan
  # gives each node two, disjoint, and both nodes the one validation shard.
  local run="$on_two_nodes $scouter train $train_args --img_size 0 --epochs 1 --shuffle_block 256 --stage_dir $STATE/local/scratch"
  rm -rf "$STATE"/nodes.d/node{1,2}/scratch/*
  $run --output_dir "$work/a" > "$work/a.log" 2>&1 || { cat "$work/a.log"; fail "first staged run failed"; }
  [ "$(staging_counts "$work/a.log" train)" = "4 0" ] || { cat "$work/a.log"; fail "first run: not 4 train files sent"; }
  [ "$(staging_counts "$work/a.log" val)" = "2 0" ] || { cat "$work/a.log"; fail "first run: not 2 validation copies sent"; }
  local n1 n2
  n1=$(staged node1) n2=$(staged node2)
  echo "node1: $(echo $n1) | node2: $(echo $n2)"
  [ "$(echo "$n1" | grep -c train)" -eq 2 ] && [ "$(echo "$n2" | grep -c train)" -eq 2 ] || fail "each node should hold 2 train shards"
  [ -z "$(comm -12 <(echo "$n1" | grep train) <(echo "$n2" | grep train))" ] || fail "a train shard was staged on both nodes"
  [ "$(printf '%s\n%s\n' "$n1" "$n2" | grep train | sort)" = "$(cd "$work/data" && ls train-*.h5 | sort)" ] || fail "the nodes' train shards are not the whole train split"
  echo "$n1" | grep -q '^val' && echo "$n2" | grep -q '^val' || fail "a node lacks the validation shard"
  # Every rank read its own node's copies: the shards each rank saw are in its node's scratch.
  for node in node1 node2; do
    for f in $(staged "$node"); do cmp -s "$STATE/nodes.d/$node/scratch/"*/"$f" "$work/data/$f" || fail "$node's copy of $f differs"; done
  done

  $run --output_dir "$work/b" > "$work/b.log" 2>&1 || { cat "$work/b.log"; fail "second staged run failed"; }
  [ "$(staging_counts "$work/b.log" train)" = "0 4" ] || { cat "$work/b.log"; fail "second run sent train files again"; }

  # Damage node2's first train copy; node1's copies must stay untouched (same inode and mtime).
  local victim before after
  victim=$(ls "$STATE"/nodes.d/node2/scratch/*/train-*.h5 | head -1)
  before=$(stat -c '%n %i %Y' "$STATE"/nodes.d/node1/scratch/*/*.h5)
  printf 'garbage!' | dd of="$victim" bs=1 seek=4000 conv=notrunc 2>/dev/null
  $run --output_dir "$work/c" > "$work/c.log" 2>&1 || { cat "$work/c.log"; fail "third staged run failed"; }
  [ "$(staging_counts "$work/c.log" train)" = "1 3" ] || { cat "$work/c.log"; fail "not exactly the corrupted copy sent again"; }
  cmp -s "$victim" "$work/data/$(basename "$victim")" || fail "node2's corrupted copy was not repaired"
  after=$(stat -c '%n %i %Y' "$STATE"/nodes.d/node1/scratch/*/*.h5)
  [ "$before" = "$after" ] || fail "node1's copies were rewritten: $before -> $after"
}

# The caller's $run, uninterrupted into $work/full; then again into $work/NAME in the background
# (its pid in the caller's `job`), returning half a second into its second epoch.
full_run_then_start_in_epoch_2() {
  local name=$1
  $run --output_dir "$work/full" > "$work/full.log" 2>&1 || { cat "$work/full.log"; fail "uninterrupted run failed"; }
  setsid $run --output_dir "$work/$name" > "$work/$name.log" 2>&1 &
  job=$!
  jobs_pids+=("$job")
  for _ in $(seq 240); do [ -f "$work/$name/checkpoints/epoch-0001.h5.done" ] && break; sleep 0.5; done
  [ -f "$work/$name/checkpoints/epoch-0001.h5.done" ] || { cat "$work/$name.log"; fail "no first checkpoint"; }
  sleep 0.5
}

# $work/NAME, interrupted in epoch 2, resumed with the caller's $run from epoch 1's checkpoint,
# ends with the weights of $work/full.
resume_ends_as_full_run() {
  local name=$1
  rm -f "$work/$name"/checkpoints/*-step-*  # none is expected; resume from the epoch's
  $run --output_dir "$work/$name" --resume true > "$work/resume.log" 2>&1 || { cat "$work/resume.log"; fail "resume on 2 nodes failed"; }
  grep -q "resumed from .*epoch-0001.h5" "$work/resume.log" || { cat "$work/resume.log"; fail "did not resume from epoch 1's checkpoint"; }
  same_weights "$work/full" "$work/$name" || fail "the resumed run ends with other weights than the uninterrupted one"
}

case_node_loss() {
  local run="$on_two_nodes $scouter train $train_args --img_size 0 --epochs 2 --collective_timeout 10" job
  full_run_then_start_in_epoch_2 lost
  local t0=$SECONDS
  "$cluster" kill-node node2
  local status=0 waited=0
  while kill -0 "$job" 2>/dev/null && [ "$waited" -lt 60 ]; do sleep 0.5; waited=$((SECONDS - t0)); done
  kill -0 "$job" 2>/dev/null && { cat "$work/lost.log"; fail "the job still runs 60 s after node2 was lost"; }
  wait "$job" || status=$?
  echo "node loss: the job ended $((SECONDS - t0)) s after node2's processes were killed, status $status"
  [ "$status" -ne 0 ] || fail "the job reported success"
  # Within collective_timeout (10 s) plus a grace: rank 0 sees rank 1's lifeline close at once
  # and ends the job naming it (mpirun, losing node2's daemon, would end it a second later).
  [ "$((SECONDS - t0))" -le 20 ] || fail "the job took $((SECONDS - t0)) s to end"
  grep "rank 1 on node2 (gone at step" "$work/lost.log" || { cat "$work/lost.log"; fail "the missing rank and its host are not named"; }
  resume_ends_as_full_run lost
}

case_silent() {
  # Open MPI's daemons notice a silent node only by TCP keepalive (default: 300 s idle + 9 x 20 s);
  # docs/distributed.md recommends these settings for multi-node jobs.
  export OMPI_MCA_oob_tcp_keepalive_time=5 OMPI_MCA_oob_tcp_keepalive_intvl=2 OMPI_MCA_oob_tcp_keepalive_probes=3
  local run="$on_two_nodes $scouter train $train_args --img_size 0 --epochs 2 --collective_timeout 10" job
  full_run_then_start_in_epoch_2 cut
  local t0=$SECONDS status=0
  "$cluster" cut-node node2
  while kill -0 "$job" 2>/dev/null && [ "$((SECONDS - t0))" -lt 90 ]; do sleep 0.5; done
  local ended=$((SECONDS - t0))
  "$cluster" heal-node node2
  kill -0 "$job" 2>/dev/null && { cat "$work/cut.log"; fail "the job still runs 90 s after node2's link was cut"; }
  wait "$job" || status=$?
  "$cluster" kill-node node2  # what is left there (rank 1 and its daemon, cut off from the job)
  echo "silent node loss: the job ended $ended s after node2's link was cut, status $status"
  [ "$status" -ne 0 ] || fail "the job reported success"
  # Two clocks race: rank 0's collective_timeout (10 s: it names the missing rank and ends the job)
  # and mpirun's keepalive to node2's daemon (5 + 3 x 2 s: it ends the job, and rank 0, stopped
  # while waiting, names the missing rank). Either way within 40 s, naming rank 1 on node2 as
  # silent (its heartbeats stopped): it may have arrived in the collective just before the cut.
  [ "$ended" -le 40 ] || fail "the job took $ended s to end"
  grep -E "rank 1 on node2 \(last seen at step [0-9]+; silent for [0-9]+ s: stopped, or its node or link is down\) (did not arrive|arrived but cannot be reached|still missing)" "$work/cut.log" \
    || { cat "$work/cut.log"; fail "the missing rank and its host are not named"; }
  resume_ends_as_full_run cut
}

case_prep() {
  local fixtures=$src/tests/fixtures/convert_images size cat i
  size=$(h5dump -a img_size "$fixtures/expected.h5" | sed -n 's/.*(0): \([0-9]*\).*/\1/p')
  local names=(rgb.jpg gray.jpg cmyk.jpg rgb.png rgba.png small.png)
  for cat in Bar Cafe Motel; do
    for i in 0 1 2 3 4 5; do
      mkdir -p "$work/src"
      cp "$fixtures/${names[$i]}" "$work/src/${cat}_$i.$([ "$i" -lt 3 ] && echo jpg || echo png)"
    done
  done
  local prep="prep ConText --src $work/src --img_size $size --shard_size 4 --threads 1"
  "$scouter" $prep --out "$work/one" > "$work/one.log" 2>&1 || { cat "$work/one.log"; fail "prep in one process failed"; }
  $on_two_nodes "$scouter" $prep --out "$work/two" > "$work/two.log" 2>&1 || { cat "$work/two.log"; fail "prep across 2 nodes failed"; }
  grep -q "2 nodes x 2 ranks" "$work/two.log" || { cat "$work/two.log"; fail "prep did not run across 2 nodes"; }
  local n=0 f
  for f in "$work"/one/*.h5; do
    h5diff -q "$f" "$work/two/$(basename "$f")" || fail "$(basename "$f") differs between one process and 2 nodes"
    n=$((n + 1))
  done
  [ "$n" -ge 2 ] && [ "$(ls "$work"/two/*.h5 | wc -l)" -eq "$n" ] || fail "not the same shard files: $(ls "$work/one") vs $(ls "$work/two")"
}

# True while a slurmstepd runs on a node of the cluster.
step_daemons_left() {
  local node
  for node in node1 node2; do
    ip netns pids "scouter-$node" | xargs -r ps -o comm= -p | grep -q slurmstepd && return 0
  done
  return 1
}

# Waits (up to 120 s) until FILE exists, or with FILE empty until job JOB has left the queue
# (fails if it left without FILE). Meanwhile releases the job from the hold Slurm puts on a
# requeued job (BeginTime, about two minutes) as soon as the previous run's step daemons are
# gone (a new step with the same id needs their sockets).
wait_in_queue() {
  local job=$1 file=$2 state
  for _ in $(seq 600); do
    [ -n "$file" ] && [ -f "$file" ] && return 0
    state=$(squeue -h -j "$job" -o '%T %r' 2>/dev/null || true)
    if [ -z "$state" ]; then [ -z "$file" ] || [ -f "$file" ]; return; fi
    if [[ "$state" == "PENDING BeginTime" ]] && ! step_daemons_left; then
      scontrol update jobid="$job" StartTime=now >/dev/null 2>&1
    fi
    sleep 0.2
  done
  squeue
  return 1
}

case_slurm() {
  cat > "$work/study.toml" <<TOML
[sweep]
name = "multi"
dir = "$work/study"
explain_images = 0
[resources]
ranks = 2
ranks_per_node = 1
threads_per_rank = 1
time_limit = "00:10:00"
[defaults]
dataset = "MNIST"
dataset_dir = "$work/data"
model = "smallcnn"
num_classes = 4
batch_size = 16
lr = 3e-4
threads = 1
img_size = 0
epochs = 3
aug = true
[runs.pos]
slots_per_class = 2
TOML
  local out job run=$work/study/pos ckpt=$work/study/pos/checkpoints
  out=$("$scouter" sweep "$work/study.toml" --slurm true)
  job=$(echo "$out" | awk '$3 == "pos:" {print $2}')
  [ -n "$job" ] || fail "no job id in: $out"
  wait_in_queue "$job" "$ckpt/epoch-0001.h5.done" || { cat "$work"/study/slurm/*.out; fail "no first checkpoint"; }
  [ "$(cat "$run/hosts.txt")" = "$(printf 'node1\nnode2')" ] || fail "the run's ranks are not on node1 and node2: $(cat "$run/hosts.txt")"
  # Epoch 2: the time limit's signal (USR1 to the batch shell, which passes it on through srun).
  scancel --signal=USR1 --batch "${job}_0"
  # Epoch 3, in the requeued job: preemption as an administrator's `scontrol requeue` (Slurm sends
  # SIGTERM to every process of the job on both nodes, SIGKILL KillWait = 30 s later).
  wait_in_queue "$job" "$ckpt/epoch-0002.h5.done" || { cat "$work"/study/slurm/*.out; fail "the requeued job did not finish epoch 2"; }
  scontrol requeue "${job}_0"
  wait_in_queue "$job" "" || fail "the job is still queued"
  local log
  log=$(cat "$work"/study/slurm/*.out)
  echo "$log" | grep -q "on node\[1-2\]" || { echo "$log"; fail "the job did not span node1 and node2"; }
  echo "$log" | grep -q "stopped by SIGUSR1 in epoch 2/3" || { echo "$log"; fail "the run did not stop on USR1 in epoch 2"; }
  echo "$log" | grep -Eq "stopped by SIG(TERM|USR1) in epoch 3/3" || { echo "$log"; fail "the run did not stop on scontrol requeue in epoch 3"; }
  [ "$(echo "$log" | grep -c "resumed from .*-step-")" = 2 ] || { echo "$log"; fail "the requeued job did not resume mid-epoch twice"; }
  echo "$log" | grep -q "(restart 2)" || { echo "$log"; fail "the job did not start a third time"; }
  [ -f "$run/summary.json" ] || { echo "$log"; fail "the requeued run did not complete"; }
  # The same run without interruption, as a local sweep: 1 node x 2 ranks (equal to 2 x 1:
  # case bitwise; a local sweep cannot place 1 rank per node on one machine).
  sed -e "s|$work/study\"|$work/ref\"|" -e "s|^ranks_per_node = 1|ranks_per_node = 2|" "$work/study.toml" > "$work/ref.toml"
  "$scouter" sweep "$work/ref.toml" > "$work/ref.log" 2>&1 || { cat "$work/ref.log"; fail "reference run failed"; }
  same_weights "$run" "$work/ref/pos" || fail "final weights differ from the uninterrupted run"
}

"case_$case_name"
echo "PASS $case_name"
