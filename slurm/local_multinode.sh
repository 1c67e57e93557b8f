#!/usr/bin/env bash
# A real multi-node cluster inside this machine, for the tests and for trying runs across nodes:
#   slurm/local_multinode.sh start [N]    N nodes (default 2, at most 4), then munge, slurmctld
#                                         and one slurmd per node; idempotent
#   slurm/local_multinode.sh status       nodes, addresses, daemons, sinfo
#   slurm/local_multinode.sh stop         kills every process inside the nodes, removes the
#                                         namespaces, the bridge and the state; works after a crash
#   slurm/local_multinode.sh exec NODE CMD...   runs CMD on NODE (its network, hostname, mounts)
#   slurm/local_multinode.sh kill-node NODE     SIGKILLs every process on NODE but the cluster's
#                                         own daemons (a node lost under a running job)
#   slurm/local_multinode.sh cut-node NODE      takes NODE's link down: its processes live on but
#                                         nothing reaches them and no connection closes (a node
#                                         lost silently: power, a dead switch port)
#   slurm/local_multinode.sh heal-node NODE     brings the link up again
#   source /run/scouter-cluster/env       mpirun, srun, sbatch and squeue then use the cluster
#
# A node is a network namespace (`ip netns`, scouter-node1 ...) with a veth on the private bridge
# scbr0 (10.213.0.0/24; the machine is .1, node k is .1k), plus a UTS namespace (hostname nodeK)
# and a mount namespace held open by a `sleep infinity` process. Every path of the machine is
# shared by the nodes (their mount namespaces are copies of the machine's), except the node-local
# folder /run/scouter-cluster/local: each node has its own (a bind mount of
# /run/scouter-cluster/nodes.d/nodeK/, where the tests read it from outside), holding scratch/
# (use it as stage_dir), tmp/ (Slurm's TmpFS) and the node's slurmd spool and log. On the
# machine itself that path is an empty folder.
#
# MPI: the env file points Open MPI's rsh agent at /run/scouter-cluster/rsh (nsenter instead of
# ssh), restricts its TCP traffic and its out-of-band channel to the bridge's subnet and turns
# off core binding (all nodes share this machine's cores), so
#   source /run/scouter-cluster/env; mpirun --allow-run-as-root --host node1,node2 hostname
# prints node1 and node2. Slurm: its own munged (socket under /run/scouter-cluster/munge),
# slurmctld on node1 and a slurmd per node, all inside the nodes' namespaces, so they listen only
# on the bridge; clients on the machine reach them through SLURM_CONF=/run/scouter-cluster/slurm.conf.
# Nothing here touches the one-node Slurm of slurm/local_cluster.sh (its files, ports and
# daemons); both can run at once. Needs root.
set -euo pipefail
STATE=/run/scouter-cluster
SUBNET=10.213.0
BRIDGE=scbr0
NETNS_PREFIX=scouter-
MAX_NODES=4

node_name() { echo "node$1"; }
node_addr() { echo "$SUBNET.1$1"; }
nodes() { cat "$STATE/nodes" 2>/dev/null || true; }  # node names, one a line
holder_pid() { cat "$STATE/nodes.d/$1/holder.pid" 2>/dev/null || true; }
# A live process (a killed one can linger as a zombie, which still has a /proc entry).
alive() { [ -n "$1" ] && [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

# Runs a command inside a node: its network, hostname and mounts.
in_node() {
  local node=$1 pid
  shift
  pid=$(holder_pid "$node")
  alive "$pid" || { echo "local_multinode: $node is not running (start the cluster)" >&2; return 1; }
  nsenter -t "$pid" --net --uts --mount -- "$@"
}

# The cluster is up when every node's holder lives and slurmctld answers.
healthy() {
  [ -s "$STATE/nodes" ] || return 1
  for node in $(nodes); do
    local pid
    pid=$(holder_pid "$node")
    alive "$pid" || return 1
  done
  SLURM_CONF=$STATE/slurm.conf timeout 10 sinfo -h >/dev/null 2>&1
}

install_packages() {
  if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null || ! command -v nsenter >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge util-linux iproute2 >/dev/null
  fi
}

make_node() {
  local k=$1 node ns dir
  node=$(node_name "$k")
  ns=$NETNS_PREFIX$node
  dir=$STATE/nodes.d/$node
  mkdir -p "$dir/scratch" "$dir/slurmd" "$dir/tmp"
  ip netns add "$ns"
  ip link add "scv$k" type veth peer name eth0 netns "$ns"
  ip link set "scv$k" master "$BRIDGE" up
  ip -n "$ns" addr add "$(node_addr "$k")/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  # The holder keeps the UTS and mount namespaces open; setsid detaches it from this shell.
  # nsenter, not `ip netns exec`: that remounts /sys, hiding the cgroup mount slurmd needs.
  nsenter --net="/run/netns/$ns" setsid unshare --uts --mount --propagation private sh -c \
    "hostname $node && mount --bind $dir $STATE/local && mount --bind $STATE/hosts /etc/hosts && echo \$\$ > $dir/holder.pid && exec sleep infinity" \
    </dev/null >/dev/null 2>&1 &
  for _ in $(seq 50); do [ -s "$dir/holder.pid" ] && break; sleep 0.1; done
  [ -s "$dir/holder.pid" ] || { echo "local_multinode: $node's namespaces did not come up" >&2; return 1; }
  echo "$node" >> "$STATE/nodes"
}

write_files() {  # hosts, env, rsh agent and slurm.conf for nodes 1..n
  local n=$1 cpus mem
  { grep -v "scouter-cluster" /etc/hosts || true
    echo "$SUBNET.1 $(hostname -s)-bridge  # scouter-cluster"
    for k in $(seq "$n"); do echo "$(node_addr "$k") $(node_name "$k")  # scouter-cluster"; done
  } > "$STATE/hosts"
  cat > "$STATE/rsh" <<RSH
#!/bin/sh
# Open MPI's rsh agent for the local cluster: "rsh HOST COMMAND..." runs COMMAND on HOST's namespaces.
host=\$1; shift
exec nsenter -t "\$(cat $STATE/nodes.d/\$host/holder.pid)" --net --uts --mount -- sh -c "\$*"
RSH
  chmod +x "$STATE/rsh"
  cat > "$STATE/env" <<ENV
# Source this to use the local multi-node cluster (slurm/local_multinode.sh).
export SLURM_CONF=$STATE/slurm.conf
export OMPI_MCA_plm_rsh_agent=$STATE/rsh
export OMPI_MCA_btl_tcp_if_include=$SUBNET.0/24
export OMPI_MCA_oob_tcp_if_include=$SUBNET.0/24
export OMPI_MCA_hwloc_base_binding_policy=none
ENV
  cpus=$(nproc)
  mem=$(( $(free -m | awk '/^Mem:/{print $2}') * 9 / 10 / n ))
  cat > "$STATE/slurm.conf" <<CONF
# written by scouter-hpc slurm/local_multinode.sh
ClusterName=scouter-local
SlurmctldHost=node1($(node_addr 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$STATE/munge/munge.socket
StateSaveLocation=$STATE/slurmctld
SlurmdSpoolDir=$STATE/local/slurmd
SlurmctldPidFile=$STATE/slurmctld/slurmctld.pid
SlurmdPidFile=$STATE/local/slurmd/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld/slurmctld.log
SlurmdLogFile=$STATE/local/slurmd/slurmd.log
# Node-local, since /tmp is shared by the nodes: srun --mpi=pmix makes its per-step folders here.
TmpFS=$STATE/local/tmp
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
KillWait=30
CONF
  for k in $(seq "$n"); do
    echo "NodeName=$(node_name "$k") NodeAddr=$(node_addr "$k") CPUs=$cpus Boards=1 SocketsPerBoard=1 CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=$mem State=UNKNOWN" >> "$STATE/slurm.conf"
  done
  echo "PartitionName=debug Nodes=node[1-$n] Default=YES MaxTime=INFINITE State=UP" >> "$STATE/slurm.conf"
}

start_slurm() {
  local n=$1
  mkdir -p "$STATE/munge" "$STATE/slurmctld"
  chown munge: "$STATE/munge"
  chmod 711 "$STATE/munge"  # munged wants the socket folder traversable by all
  [ -s /etc/munge/munge.key ] || { dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; chown munge: /etc/munge/munge.key; chmod 400 /etc/munge/munge.key; }
  # munged inside node1 too, so that stop finds it with the node's other processes.
  in_node node1 runuser -u munge -- /usr/sbin/munged --socket="$STATE/munge/munge.socket" \
    --pid-file="$STATE/munge/munged.pid" --seed-file="$STATE/munge/munged.seed" --log-file="$STATE/munge/munged.log"
  export SLURM_CONF=$STATE/slurm.conf
  in_node node1 /usr/sbin/slurmctld -f "$SLURM_CONF"
  for node in $(nodes); do in_node "$node" /usr/sbin/slurmd -f "$SLURM_CONF" -N "$node"; done
  for _ in $(seq 60); do
    [ "$(sinfo -h -o '%D %T' 2>/dev/null | awk '$2 ~ /^(idle|mixed|allocated)$/ {s += $1} END {print s + 0}')" -eq "$n" ] && return 0
    scontrol update nodename="node[1-$n]" state=resume >/dev/null 2>&1 || true
    sleep 1
  done
  echo "local_multinode: the nodes did not become idle; see $STATE/slurmctld/slurmctld.log and $STATE/nodes.d/*/slurmd/slurmd.log" >&2
  sinfo >&2 || true
  return 1
}

start() {
  local n=${1:-2}
  [[ "$n" =~ ^[1-9]$ ]] && [ "$n" -le "$MAX_NODES" ] || { echo "local_multinode: N must be 1..$MAX_NODES, got '$n'" >&2; exit 2; }
  if healthy; then
    [ "$(nodes | wc -l)" -eq "$n" ] && { echo "local_multinode: already running ($n nodes)"; return 0; }
    echo "local_multinode: running with $(nodes | wc -l) nodes; restarting with $n" >&2
  fi
  stop  # whatever a crashed start or run left behind
  install_packages
  mkdir -p "$STATE/local" "$STATE/nodes.d"
  : > "$STATE/nodes"
  trap 'echo "local_multinode: start failed; cleaning up" >&2; stop' EXIT
  ip link add "$BRIDGE" type bridge
  ip addr add "$SUBNET.1/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  write_files "$n"
  for k in $(seq "$n"); do make_node "$k"; done
  start_slurm "$n"
  trap - EXIT
  echo "local_multinode: $n nodes up: $(nodes | tr '\n' ' ')(source $STATE/env)"
}

# Every process in a node's network namespace: the holder, daemons, job processes.
node_pids() { ip netns pids "$NETNS_PREFIX$1" 2>/dev/null || true; }

stop() {
  local ns
  # Namespaces by name prefix, so a crashed start whose state file is gone is cleaned up too.
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$NETNS_PREFIX" || true); do
    local node=${ns#"$NETNS_PREFIX"} pids
    pids=$(node_pids "$node")
    [ -n "$pids" ] && kill -TERM $pids 2>/dev/null || true
    for _ in $(seq 20); do [ -z "$(node_pids "$node")" ] && break; sleep 0.25; done
    pids=$(node_pids "$node")
    [ -n "$pids" ] && kill -KILL $pids 2>/dev/null || true
    ip netns del "$ns"
  done
  ip link del "$BRIDGE" 2>/dev/null || true
  rm -rf "$STATE"
}

status() {
  if ! [ -s "$STATE/nodes" ]; then echo "local_multinode: not running"; return 1; fi
  for node in $(nodes); do
    printf '%s %s holder %s, %s process(es)\n' "$node" "$(node_addr "${node#node}")" "$(holder_pid "$node")" "$(node_pids "$node" | wc -l)"
  done
  SLURM_CONF=$STATE/slurm.conf sinfo
}

kill_node() {
  local node=$1 keep pid
  keep=" $(holder_pid "$node") $(cat "$STATE/munge/munged.pid" "$STATE/slurmctld/slurmctld.pid" "$STATE/nodes.d/$node/slurmd/slurmd.pid" 2>/dev/null | tr '\n' ' ') "
  for pid in $(node_pids "$node"); do
    [[ "$keep" == *" $pid "* ]] || kill -KILL "$pid" 2>/dev/null || true
  done
}

# The machine's end of NODE's veth (scvK) down or up.
link_of_node() {
  local node=$1
  [ -n "$(holder_pid "$node")" ] || { echo "local_multinode: no node $node (nodes: $(nodes | tr '\n' ' '))" >&2; exit 2; }
  echo "scv${node#node}"
}

[ "$(id -u)" -eq 0 ] || { echo "local_multinode: needs root (namespaces, bridge, daemons)" >&2; exit 2; }
case "${1:-}" in
  start) start "${2:-2}" ;;
  stop) stop ;;
  status) status ;;
  exec) shift; node=${1:?usage: $0 exec NODE CMD...}; shift; in_node "$node" "$@" ;;
  kill-node) kill_node "${2:?usage: $0 kill-node NODE}" ;;
  cut-node) link=$(link_of_node "${2:?usage: $0 cut-node NODE}") || exit 2; ip link set "$link" down ;;
  heal-node) link=$(link_of_node "${2:?usage: $0 heal-node NODE}") || exit 2; ip link set "$link" up ;;
  *) echo "usage: $0 start [N]|status|stop|exec NODE CMD...|kill-node NODE|cut-node NODE|heal-node NODE" >&2; exit 2 ;;
esac
