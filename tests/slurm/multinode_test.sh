#!/usr/bin/env bash
# Runs across two nodes of the local multi-node cluster (slurm/local_multinode.sh, started once
# by CTest's fixture `multinode`): one case per call, each in its own folder, removed afterwards.
#   multinode_test.sh CASE SCOUTER_BIN MAKE_TOY_DATA_BIN SOURCE_DIR
# Cases:
#   bitwise   2 nodes x 1 rank ends with the same weights as 1 node x 2 ranks (bitwise, same
#             global batch); the logged topology and hosts.txt show the nodes
#   staging   each node's scratch receives exactly the shard files its rank reads; a second run
#             sends nothing; a corrupted copy on one node is sent again to that node only
#   node_loss rank 1 held at a step of epoch 2 (SCOUTER_FAULT_HOLD, common/step_hold.h), every
#             process of node2 killed there: the job ends non-zero, rank 0 naming `rank 1 on node2
#             (gone at step N` with N the held step; the last complete checkpoint resumes on 2
#             nodes to the uninterrupted result
#   silent    rank 1 held at a step of epoch 2, node2's link cut, the hold released (rank 1 goes on,
#             no connection closes, nothing reaches anyone): the job ends non-zero, rank 0 naming
#             rank 1 on node2 as silent in the held step; after the link is back the last
#             checkpoint resumes to the uninterrupted result
#   prep      `scouter prep` of an image dataset across 2 nodes writes the same shards as one process
#   slurm     `scouter sweep --slurm` of a 2-rank, 1-rank-per-node run spans both slurmds; rank 0
#             held at a step of epoch 2 gets USR1 (a time limit's signal), and in the requeued job
#             at a step of epoch 3 `scontrol requeue` (preemption): each stop checkpoints exactly
#             the held step and requeues; the run completes with the weights of an uninterrupted run
# Interruptions land where the test holds a rank, never at a time guessed from this machine's
# speed; the only clocks are the "never hangs" bounds of node_loss and silent: the timeouts the
# case sets (collective_timeout, Open MPI's keepalive) plus GRACE for a slow or loaded machine.
# Each prints the time the job took to end.
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

# Reading a run: its steps per epoch from the header line ("... 32 steps/epoch of 16 x 2 ranks"),
# and a field of a hold's FILE.held (common/step_hold.h: host, pid, rank, epoch, step_in_epoch, step).
steps_per_epoch() { sed -n 's/.* \([0-9][0-9]*\) steps\/epoch of .*/\1/p' "$1" | head -1; }
held_field() { sed -n "s/^$2=//p" "$1"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# Grace for a slow or loaded machine on top of the clocks a case sets (collective_timeout,
# keepalive): what it adds is process teardown, which takes about a second on the 2-core VM.
# The bounds only say "never hangs"; where the interruption lands is held, not timed.
GRACE=30

# The caller's $train on 2 nodes, uninterrupted into $work/full; then again into $work/NAME in the
# background (its pid in the caller's `job`) with rank 1 (on node2) held before global step `held`
# (a quarter into epoch 2, set here for the caller) by SCOUTER_FAULT_HOLD, releasing on
# $work/NAME.release (the caller's `release`). Returns once the hold has begun: whatever the
# machine's speed, the run stands there, rank 0 waiting for rank 1 in that step's collective
# (under its collective_timeout, which runs from now on).
full_run_then_hold_in_epoch_2() {
  local name=$1 spe
  $on_two_nodes $train --output_dir "$work/full" > "$work/full.log" 2>&1 || { cat "$work/full.log"; fail "uninterrupted run failed"; }
  spe=$(steps_per_epoch "$work/full.log")
  [ -n "$spe" ] && [ "$spe" -ge 4 ] || { cat "$work/full.log"; fail "no steps per epoch (>= 4) in the run's header"; }
  held=$((spe + spe / 4)) release=$work/$name.release
  setsid $on_two_nodes -x "SCOUTER_FAULT_HOLD=1:$held:$release" $train --output_dir "$work/$name" > "$work/$name.log" 2>&1 &
  job=$!
  jobs_pids+=("$job")
  local t0=$SECONDS
  while [ ! -f "$release.held" ] && kill -0 "$job" 2>/dev/null && [ $((SECONDS - t0)) -lt 600 ]; do sleep 0.1; done
  [ -f "$release.held" ] || { cat "$work/$name.log"; fail "rank 1 never reached the hold at step $held"; }
  [ "$(held_field "$release.held" host) $(held_field "$release.held" step) $(held_field "$release.held" epoch)" = "node2 $held 2" ] \
    || { cat "$release.held"; fail "the hold is not rank 1's on node2 at step $held of epoch 2"; }
  echo "rank 1 held on node2 before step $held (epoch 2, $spe steps an epoch)"
}

# Waits until background job $job ends, at most LIMIT s after T0 (from now()); then sets `ended`
# (seconds since T0) and `status`. Fails, showing LOG, if it still runs then.
wait_for_end() {
  local t0=$1 limit=$2 log=$3
  while kill -0 "$job" 2>/dev/null && awk -v e="$(since "$t0")" -v l="$limit" 'BEGIN { exit !(e < l) }'; do sleep 0.1; done
  ended=$(since "$t0")
  kill -0 "$job" 2>/dev/null && { cat "$log"; fail "the job still runs $ended s later (bound $limit s)"; }
  status=0
  wait "$job" || status=$?
}

# $work/NAME, interrupted in epoch 2, resumed with the caller's $train from epoch 1's checkpoint,
# ends with the weights of $work/full.
resume_ends_as_full_run() {
  local name=$1
  rm -f "$work/$name"/checkpoints/*-step-*  # none is expected; resume from the epoch's
  $on_two_nodes $train --output_dir "$work/$name" --resume true > "$work/resume.log" 2>&1 || { cat "$work/resume.log"; fail "resume on 2 nodes failed"; }
  grep -q "resumed from .*epoch-0001.h5" "$work/resume.log" || { cat "$work/resume.log"; fail "did not resume from epoch 1's checkpoint"; }
  same_weights "$work/full" "$work/$name" || fail "the resumed run ends with other weights than the uninterrupted one"
}

case_node_loss() {
  # The naming comes from rank 1's lifeline the moment its process dies; collective_timeout only
  # has to outlast the test's reaction to the hold (seeing a file, killing node2's processes).
  local timeout=20
  local train="$scouter train $train_args --img_size 0 --epochs 2 --collective_timeout $timeout" job held release ended status
  full_run_then_hold_in_epoch_2 lost
  local t0
  t0=$(now)
  "$cluster" kill-node node2
  # Rank 0 names rank 1 the moment its lifeline closes and ends the job (mpirun, losing node2's
  # daemon, would end it a second later). Never later than rank 0's own collective_timeout (its
  # wait began with the hold, before the kill) plus the grace.
  wait_for_end "$t0" $((timeout + GRACE)) "$work/lost.log"
  echo "node loss: the job ended $ended s after node2's processes were killed (bound $((timeout + GRACE)) s), status $status"
  [ "$status" -ne 0 ] || { cat "$work/lost.log"; fail "the job reported success"; }
  grep "rank 1 on node2 (gone at step $held:" "$work/lost.log" || { cat "$work/lost.log"; fail "rank 1 on node2, gone at the held step $held, is not named"; }
  resume_ends_as_full_run lost
}

case_silent() {
  # Open MPI's daemons notice a silent node only by TCP keepalive (default: 300 s idle + 9 x 20 s);
  # docs/distributed.md recommends these settings for multi-node jobs.
  local ka_time=5 ka_intvl=2 ka_probes=3
  export OMPI_MCA_oob_tcp_keepalive_time=$ka_time OMPI_MCA_oob_tcp_keepalive_intvl=$ka_intvl OMPI_MCA_oob_tcp_keepalive_probes=$ka_probes
  # mpirun's keepalive gives up on node2's daemon ka_time + ka_intvl x ka_probes after node2 last
  # spoke (at the latest: the cut), ends the job, and rank 0, stopped while waiting, names the
  # missing rank. collective_timeout (running since the hold, just before the cut) is longer on
  # purpose: had rank 0 aborted first, mpirun's abort messages to node2's daemon would sit
  # unacknowledged, TCP sends no keepalive probe while data waits, and mpirun would wait out
  # TCP's retransmissions instead (still running 15 min later, seen here: docs/distributed.md).
  local keepalive=$((ka_time + ka_intvl * ka_probes)) timeout=20
  local train="$scouter train $train_args --img_size 0 --epochs 2 --collective_timeout $timeout" job held release ended status
  full_run_then_hold_in_epoch_2 cut
  local t0
  t0=$(now)
  "$cluster" cut-node node2
  touch "$release"  # rank 1 goes on into its step, but can reach no one
  local bound=$((keepalive + GRACE))
  wait_for_end "$t0" "$bound" "$work/cut.log"
  "$cluster" heal-node node2
  "$cluster" kill-node node2  # what is left there (rank 1 and its daemon, cut off from the job)
  echo "silent node loss: the job ended $ended s after node2's link was cut (bound $bound s), status $status"
  [ "$status" -ne 0 ] || { cat "$work/cut.log"; fail "the job reported success"; }
  # Rank 1 never arrived in the held step's collective (its announcement cannot pass the cut):
  # rank 0 last saw it in the step before, and names it as silent (its heartbeats stopped), as
  # still missing when mpirun's signal came (or, had its own timeout come first, as not arrived).
  grep -E "at step $held.*rank 1 on node2 \(last seen at step $((held - 1)); silent for [0-9]+ s: stopped, or its node or link is down\) (still missing|did not arrive)" "$work/cut.log" \
    || { cat "$work/cut.log"; fail "rank 1 on node2 is not named as silent in the held step $held"; }
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
  # The same run without interruption first, as a local sweep: 1 node x 2 ranks (equal to 2 x 1:
  # case bitwise; a local sweep cannot place 1 rank per node on one machine). Its log gives the
  # steps per epoch where the Slurm job is held.
  sed -e "s|$work/study\"|$work/ref\"|" -e "s|^ranks_per_node = 1|ranks_per_node = 2|" "$work/study.toml" > "$work/ref.toml"
  "$scouter" sweep "$work/ref.toml" > "$work/ref.log" 2>&1 || { cat "$work/ref.log"; fail "reference run failed"; }
  local spe
  spe=$(steps_per_epoch "$work/ref/pos/train.log")
  [ -n "$spe" ] && [ "$spe" -ge 4 ] || { cat "$work/ref/pos/train.log"; fail "no steps per epoch (>= 4) in the reference's log"; }
  # Rank 0 held a quarter into epoch 2, and again a quarter into epoch 3 (the requeued job starts
  # past the first hold); each hold ends when the signal reaches it, so the run stops after
  # exactly that step.
  local usr1=$((spe + spe / 4)) requeue=$((2 * spe + spe / 4))
  local out job run=$work/study/pos ckpt=$work/study/pos/checkpoints
  out=$(SCOUTER_FAULT_HOLD="0:$usr1:$work/usr1,0:$requeue:$work/requeue" "$scouter" sweep "$work/study.toml" --slurm true)
  job=$(echo "$out" | awk '$3 == "pos:" {print $2}')
  [ -n "$job" ] || fail "no job id in: $out"
  wait_in_queue "$job" "$work/usr1.held" || { cat "$work"/study/slurm/*.out; fail "rank 0 never reached the hold at step $usr1"; }
  [ "$(cat "$run/hosts.txt")" = "$(printf 'node1\nnode2')" ] || fail "the run's ranks are not on node1 and node2: $(cat "$run/hosts.txt")"
  [ "$(held_field "$work/usr1.held" host) $(held_field "$work/usr1.held" epoch)" = "node1 2" ] || { cat "$work/usr1.held"; fail "not held on node1 in epoch 2"; }
  # Epoch 2: the time limit's signal (USR1 to the batch shell, which passes it on through srun).
  scancel --signal=USR1 --batch "${job}_0"
  # Epoch 3, in the requeued job: preemption as an administrator's `scontrol requeue` (Slurm sends
  # SIGTERM to every process of the job on both nodes, SIGKILL KillWait = 30 s later).
  wait_in_queue "$job" "$work/requeue.held" || { cat "$work"/study/slurm/*.out; fail "the requeued job never reached the hold at step $requeue"; }
  [ "$(held_field "$work/requeue.held" epoch)" = 3 ] || { cat "$work/requeue.held"; fail "the second hold is not in epoch 3"; }
  scontrol requeue "${job}_0"
  wait_in_queue "$job" "" || fail "the job is still queued"
  local log k1 k2
  log=$(cat "$work"/study/slurm/*.out)
  # Each stop comes after the held step: its checkpoint holds that step and no other.
  k1=$((usr1 - spe + 1)) k2=$((requeue - 2 * spe + 1))
  echo "$log" | grep -q "on node\[1-2\]" || { echo "$log"; fail "the job did not span node1 and node2"; }
  echo "$log" | grep -q "stopped by SIGUSR1 in epoch 2/3 after its step $k1 (1 epoch + $k1 steps done): checkpoint $ckpt/epoch-0001-step-$(printf %07d $k1).h5 written" \
    || { echo "$log"; fail "the run did not stop on USR1 after the held step $usr1 (epoch 2, its step $k1)"; }
  echo "$log" | grep -Eq "stopped by SIG(TERM|USR1) in epoch 3/3 after its step $k2 \(2 epochs \+ $k2 steps done\): checkpoint $ckpt/epoch-0002-step-$(printf %07d $k2).h5 written" \
    || { echo "$log"; fail "the run did not stop on scontrol requeue after the held step $requeue (epoch 3, its step $k2)"; }
  echo "$log" | grep -q "resumed from $ckpt/epoch-0001-step-$(printf %07d $k1).h5" || { echo "$log"; fail "the first requeue did not resume from the USR1 checkpoint"; }
  echo "$log" | grep -q "resumed from $ckpt/epoch-0002-step-$(printf %07d $k2).h5" || { echo "$log"; fail "the second requeue did not resume from the requeue's checkpoint"; }
  echo "$log" | grep -q "(restart 2)" || { echo "$log"; fail "the job did not start a third time"; }
  [ -f "$run/summary.json" ] || { echo "$log"; fail "the requeued run did not complete"; }
  same_weights "$run" "$work/ref/pos" || fail "final weights differ from the uninterrupted run"
  echo "slurm: USR1 at held step $usr1 -> epoch-0001-step-$k1, scontrol requeue at held step $requeue -> epoch-0002-step-$k2 ($spe steps an epoch)"
}

"case_$case_name"
echo "PASS $case_name"
