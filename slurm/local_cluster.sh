#!/usr/bin/env bash
# A real one-node Slurm on this machine, for the tests and for trying sweeps locally:
#   slurm/local_cluster.sh start   install (if needed) and start munge, slurmctld and slurmd
#   slurm/local_cluster.sh stop    stop the daemons this script started
#   slurm/local_cluster.sh status  sinfo
# Needs root. The generated slurm.conf (from `hostname -s`, nproc and free memory) goes to
# /etc/slurm/slurm.conf, unless one exists that this script did not write.
# Daemons are looked for in this machine's own network namespace only: the multi-node cluster's
# (slurm/local_multinode.sh) run inside theirs, and both clusters can be up at once.
set -euo pipefail
STATE=/run/scouter-slurm
running() { pgrep -x "$1" --ns $$ --nslist net >/dev/null; }
CONF=/etc/slurm/slurm.conf
MARK="# written by scouter-hpc slurm/local_cluster.sh"

start() {
  if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
  fi
  mkdir -p "$STATE" /run/munge /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/slurm /etc/slurm
  chown munge:munge /run/munge
  chown slurm: /var/spool/slurmctld
  [ -s /etc/munge/munge.key ] || { dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; chown munge: /etc/munge/munge.key; chmod 400 /etc/munge/munge.key; }
  if ! running munged; then
    runuser -u munge -- /usr/sbin/munged
    touch "$STATE/munged"
  fi
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(( $(free -m | awk '/^Mem:/{print $2}') * 9 / 10 ))
  if [ ! -f "$CONF" ] || grep -q "$MARK" "$CONF"; then
    cat > "$CONF" <<CONF
$MARK
ClusterName=local
SlurmctldHost=$host
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
# A requeued job waits cred_expire seconds before it may start again (Slurm's default: 120; the
# credentials of this one node are checked within a second of being issued), then the next pass
# of the main scheduler starts it (sched_interval; default 60 s).
AuthInfo=cred_expire=10
CredType=cred/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=5
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
KillWait=30
NodeName=$host CPUs=$cpus Boards=1 SocketsPerBoard=1 CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
  fi
  if ! running slurmctld; then /usr/sbin/slurmctld; touch "$STATE/slurmctld"; fi
  if ! running slurmd; then /usr/sbin/slurmd; touch "$STATE/slurmd"; fi
  for _ in $(seq 60); do
    if sinfo -h -o %T 2>/dev/null | grep -qE "^(idle|mixed|allocated)"; then return 0; fi
    scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true
    sleep 1
  done
  echo "local_cluster: the node did not become idle; see /var/log/slurm/" >&2
  sinfo >&2 || true
  return 1
}

stop() {
  local stopped=()
  for d in slurmd slurmctld munged; do
    if [ -f "$STATE/$d" ]; then pkill -x "$d" --ns $$ --nslist net || true; rm -f "$STATE/$d"; stopped+=("$d"); fi
  done
  # The daemons take a moment to shut down; leave only when they are gone.
  for _ in $(seq 20); do
    local alive=0
    for d in "${stopped[@]}"; do running "$d" && alive=1; done
    [ "$alive" -eq 0 ] && return 0
    sleep 0.5
  done
  echo "local_cluster: ${stopped[*]} still running after 10 s" >&2
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) sinfo ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
