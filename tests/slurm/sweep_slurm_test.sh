#!/usr/bin/env bash
# A sweep on a real (local, one-node) Slurm: starts munge, slurmctld and slurmd, submits a small
# sweep (FC, SCOUTER+ from it with use_pre, SCOUTER-; 2 ranks each) on generated data, checks the
# arrays, the afterok dependency (SCOUTER+ seen pending on it while FC is held at a step), the run
# folders and the report; the sweep's site keys reach the
# job: a raw sbatch option, mem, setup lines (their export seen by every rank, and a stage_dir
# named by a variable only they define), a wrapper launcher every rank runs through, and threads
# from the partition's node size (SLURM_CPUS_PER_TASK); --dry-run shows the job script. Sends a
# run USR1 while one of its ranks is held at a step (SCOUTER_FAULT_HOLD) and checks that it
# checkpoints that step, requeues and completes with the same final weights as an uninterrupted
# run; resubmits the sweep and checks that nothing reruns. Stops the daemons it started.
#   sweep_slurm_test.sh SCOUTER_BIN MAKE_TOY_DATA_BIN SOURCE_DIR
set -euo pipefail
scouter=$1 make_toy=$2 src=$3
work=$(mktemp -d /tmp/scouter-slurm-test-XXXXXX)
fail() { echo "FAIL: $*" >&2; exit 1; }
cleanup() {
  # A failure can leave jobs running (fc held at its step): cancel them while slurmd still runs,
  # or their slurmstepd would outlive the daemons.
  local left
  left=$(squeue -h -o %A 2>/dev/null) || true
  if [ -n "$left" ]; then
    # shellcheck disable=SC2086  # one job id a word
    scancel $left || true
    for _ in $(seq 60); do [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break; sleep 1; done
  fi
  "$src/slurm/local_cluster.sh" stop || true
  rm -rf "$work"
}
trap cleanup EXIT

[ "$(id -u)" -eq 0 ] || fail "starting Slurm's daemons needs root"
"$src/slurm/local_cluster.sh" start
"$make_toy" "$work/data" 1024 128 256

common='dataset = "MNIST"
dataset_dir = "'"$work"'/data"
model = "smallcnn"
num_classes = 4
batch_size = 16
lr = 3e-4
threads = 1'
# The launcher: records each rank's host, rank, what the setup exported and its CPUs, then runs it.
# fc's training alone holds rank 0 before step 1 until fc-go exists (SCOUTER_FAULT_HOLD), so the
# test sees pos waiting on fc while fc cannot have ended.
cat > "$work/wrap.sh" <<'SH'
#!/bin/sh
echo "$(hostname -s) rank=${SLURM_PROCID:-?} setup=${SCOUTER_TEST_SETUP:-unset} cpus=${SLURM_CPUS_PER_TASK:-unset} $*" >> "$(dirname "$0")/wrap.log"
case "$*" in *" train -c "*/study/fc/run.toml" "*) export SCOUTER_FAULT_HOLD="0:1:$(dirname "$0")/fc-go" ;; esac
exec "$@"
SH
chmod +x "$work/wrap.sh"
cat > "$work/study.toml" <<TOML
[sweep]
name = "study"
dir = "$work/study"
explain_images = 12
explain_pictures = 2
[resources]
ranks = 2
ranks_per_node = 2
threads_per_rank = 0
time_limit = "00:10:00"
mem = 512
sbatch = ["--comment=scouter-slurm-test"]
setup = ["export SCOUTER_TEST_SETUP=from-setup", "export SCOUTER_TEST_STAGE=$work/stage-\$SLURM_JOB_ID"]
launcher = "$work/wrap.sh"
scouter = "$scouter"
[defaults]
$common
img_size = 0
epochs = 1
stage_dir = "\${SCOUTER_TEST_STAGE}/scratch"
[runs.fc]
use_slot = false
[runs.pos]
use_pre = true
pre_run = "fc"
slots_per_class = 2
[runs.neg]
loss_status = -1
slots_per_class = 2
power = 2
TOML

wait_jobs() {  # until none of our jobs is in the queue
  for _ in $(seq "$1"); do
    [ -z "$(squeue -h -o %i)" ] && return 0
    sleep 2
  done
  squeue; fail "jobs still queued after $(( $1 * 2 )) s"
}

echo "== --dry-run shows the job scripts"
dry=$("$scouter" sweep "$work/study.toml" --slurm true --dry-run true)
for line in "==> $work/study/slurm/fc.sbatch <==" "#SBATCH --comment=scouter-slurm-test" "#SBATCH --mem=512" \
            "export SCOUTER_TEST_SETUP=from-setup ||" "\"\${SRUN[@]}\" $work/wrap.sh $scouter train -c"; do
  echo "$dry" | grep -qF -- "$line" || { echo "$dry"; fail "--dry-run does not show: $line"; }
done
squeue -h -o %i | grep -q . && fail "--dry-run submitted a job"

echo "== submit the sweep"
out=$("$scouter" sweep "$work/study.toml" --slurm true)
echo "$out"
fc_job=$(echo "$out" | awk '$3 == "fc:" {print $2}')
pos_job=$(echo "$out" | awk '$3 == "pos:" {print $2}')
[ -n "$fc_job" ] && [ -n "$pos_job" ] || fail "no job ids in: $out"
echo "$out" | grep -q "pos: 1 run(s), afterok:$fc_job" || fail "pos does not wait for fc ($fc_job)"
# While fc's rank 0 is held, pos is PENDING for its Dependency (a sweep that forgot --dependency
# would have it running, or pending for Resources), then fc is released.
for _ in $(seq 750); do [ -f "$work/fc-go.held" ] && break; sleep 0.2; done
[ -f "$work/fc-go.held" ] || { squeue; cat "$work"/study/slurm/*.out; fail "fc never reached the hold at step 1"; }
[ "$(squeue -h -j "$fc_job" -o %T)" = RUNNING ] || { squeue; fail "fc ($fc_job) is not running while held"; }
pos_state=$(squeue -h -j "$pos_job" -o '%T %r')
[ "$pos_state" = "PENDING Dependency" ] || { squeue; fail "pos ($pos_job) is '$pos_state' while fc is held, not 'PENDING Dependency'"; }
scontrol show job "$pos_job" | grep -q "Dependency=afterok:${fc_job}" \
  || { scontrol show job "$pos_job"; fail "pos's dependency is not afterok:$fc_job"; }
echo "pos: $pos_state while fc is held at step 1"
touch "$work/fc-go"
grep -q -- "--array=0-0" "$work/study/slurm/fc.sbatch" || fail "fc is not an array job"
scontrol show job "$fc_job" | grep -q "Comment=scouter-slurm-test" || fail "the raw sbatch line did not reach Slurm"
# threads_per_rank = 0: the default partition's node (sinfo) shared by the 2 ranks of a node.
cpus=$(( $(sinfo -h -o %c | head -1 | tr -d +) / 2 ))
grep -q -- "^#SBATCH --cpus-per-task=$cpus\$" "$work/study/slurm/fc.sbatch" || fail "fc.sbatch does not ask $cpus CPUs per task"
wait_jobs 150
for run in fc pos neg; do
  [ -f "$work/study/$run/summary.json" ] || { cat "$work"/study/slurm/*.out; fail "$run has no summary.json"; }
  for f in run.toml config.toml command.txt hosts.txt version.txt metrics.jsonl explain/metrics.json explain/maps.h5; do
    [ -f "$work/study/$run/$f" ] || fail "$run lacks $f"
  done
done
grep -q "use_pre: loaded" "$work"/study/slurm/study-pos-*.out || fail "pos did not start from fc's backbone"
echo "== every rank ran through the launcher, after the setup, with the job's CPUs"
cat "$work/wrap.log"
for run in fc pos neg; do
  for rank in 0 1; do
    for step in "train -c $work/study/$run/run.toml" "explain $work/study/$run "; do
      grep -qF "rank=$rank setup=from-setup cpus=$cpus $scouter $step" "$work/wrap.log" \
        || fail "rank $rank of $run ($step) did not run through the launcher after the setup"
    done
  done
  grep -q "^threads = $cpus " "$work/study/$run/config.toml" || fail "$run did not run $cpus threads per rank"
  # stage_dir named a variable only the setup defined: each job staged into its own folder.
  grep -qF 'stage_dir = "${SCOUTER_TEST_STAGE}/scratch"  # "'"$work"'/stage-' "$work/study/$run/config.toml" \
    || fail "$run's config.toml does not keep stage_dir as written with its expansion"
done
[ "$(grep -c . "$work/wrap.log")" -eq 12 ] || fail "expected 12 rank starts (3 runs x train and explain x 2 ranks)"
[ "$(ls -d "$work"/stage-*/scratch/shards-* | wc -l)" -eq 3 ] || fail "the 3 jobs did not each stage into their own folder"
report=$("$scouter" report "$work/study")
echo "$report"
[ "$(echo "$report" | grep -c '1/1 complete')" -eq 3 ] || fail "report does not show 3 complete settings"
[ -f "$work/study/report.csv" ] && [ -f "$work/study/curves.svg" ] || fail "report files missing"

echo "== resubmit: nothing reruns"
again=$("$scouter" sweep "$work/study.toml" --slurm true 2>&1)
echo "$again"
echo "$again" | grep -q "nothing submitted" || fail "the resubmitted sweep submitted jobs"

echo "== USR1: checkpoint, requeue, same final weights as an uninterrupted run"
cat > "$work/long.toml" <<TOML
[sweep]
name = "long"
explain_images = 0
dir = "$work/long"
[resources]
ranks = 2
ranks_per_node = 2
threads_per_rank = 1
[defaults]
$common
img_size = 56
epochs = 2
aug = true
[runs.pos]
slots_per_class = 2
TOML
# The same run without interruption first, as a local 2-rank job; its log gives the steps per
# epoch ("... 32 steps/epoch of ...").
sed -e "s|$work/long\"|$work/ref\"|" "$work/long.toml" > "$work/ref.toml"
"$scouter" sweep "$work/ref.toml" >/dev/null 2>&1 || fail "reference run failed"
spe=$(sed -n 's/.* \([0-9][0-9]*\) steps\/epoch of .*/\1/p' "$work/ref/pos/train.log" | head -1)
[ -n "$spe" ] && [ "$spe" -ge 4 ] || fail "no steps per epoch (>= 4) in $work/ref/pos/train.log"
# USR1 while rank 0 is held (SCOUTER_FAULT_HOLD, released by the signal) a quarter into epoch 2
# (the last): the run stops after exactly that step, and resumes mid-epoch.
held=$((spe + spe / 4)) k=$((spe / 4 + 1))
out=$(SCOUTER_FAULT_HOLD="0:$held:$work/usr1" "$scouter" sweep "$work/long.toml" --slurm true)
job=$(echo "$out" | awk '$3 == "pos:" {print $2}')
for _ in $(seq 600); do [ -f "$work/usr1.held" ] && break; sleep 0.2; done
[ -f "$work/usr1.held" ] || { cat "$work"/long/slurm/*.out; fail "rank 0 never reached the hold at step $held"; }
scancel --signal=USR1 --batch "${job}_0"
wait_jobs 200   # a requeued job becomes eligible again after cred_expire (local_cluster.sh: 10 s)
log=$(cat "$work"/long/slurm/*.out)
ckpt=$work/long/pos/checkpoints/epoch-0001-step-$(printf %07d $k).h5
echo "$log" | grep -q "stopped by SIGUSR1 in epoch 2/2 after its step $k (1 epoch + $k steps done): checkpoint $ckpt written" \
  || { echo "$log"; fail "the run did not stop on USR1 after the held step $held"; }
echo "$log" | grep -q "requeueing" || { echo "$log"; fail "the job did not requeue"; }
echo "$log" | grep -q "resumed from $ckpt" || { echo "$log"; fail "the requeued job did not resume from the held step's checkpoint"; }
[ -f "$work/long/pos/summary.json" ] || fail "the requeued run did not complete"
h5diff -q "$work/long/pos/checkpoints/epoch-0002.h5" "$work/ref/pos/checkpoints/epoch-0002.h5" /model /model \
  || fail "final weights differ from the uninterrupted run"
echo "USR1 at held step $held -> $(basename "$ckpt") ($spe steps an epoch)"
echo "PASS"
