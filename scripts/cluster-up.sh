#!/usr/bin/env bash
# cluster-up.sh: a local three-node tallyd cluster and N agents on loopback,
# for trying Tally's clustering by hand. Everything stays on 127.0.0.1 and
# in one directory; Ctrl-C (or SIGTERM) stops it all. `cluster-up.sh --help`
# prints the settings below (docs/operations.md describes them too).
usage() {
  cat <<'USAGE'
usage: scripts/cluster-up.sh [AGENTS]     (default 3 agents; 0 for none)

Starts three tallyd nodes (node1 founds the cluster, node2 and node3 join it)
and AGENTS tally-agents on 127.0.0.1, creates account "demo" with a pool
"countthings", and writes DIR/cluster.env for tallyctl and tally-agent.
Ctrl-C stops everything; running it again restarts the same cluster.

Settings (environment variables):
  TALLY_CLUSTER_DIR  where node and agent state, logs and cluster.env live
                     (default .tally-cluster; reused on the next run)
  TALLY_BASE_PORT    first port (default 7540); node i uses BASE+10*i+3 for
                     agents (UDP), BASE+10*i+4 for admin (TCP) and
                     BASE+10*i+5 for Raft (TCP): 7553-7555, 7563-7565, 7573-7575
  TALLY_SEATS        seats of the demo pool (default 5)
  TALLY_BIN          directory holding tallyd, tallyctl and tally-agent
                     (default bin/ of the checkout, built with make if missing)

The cluster-admin token never appears on a command line: nodes 2 and 3 join
with --token-file, and tallyctl reads it from $TALLY_TOKEN (cluster.env,
mode 0600). cluster.env sets TALLY_ADDR to all three admin addresses
(TALLY_ADDR=a,b,c): tallyctl tries the next one when a node is down.
USAGE
}
case ${1:-} in -h | --help) usage; exit 0 ;; esac
if [[ $# -gt 1 || ! ${1:-0} =~ ^[0-9]+$ ]]; then usage >&2; exit 2; fi
set -euo pipefail

agents=${1:-3}
dir=${TALLY_CLUSTER_DIR:-.tally-cluster}
base=${TALLY_BASE_PORT:-7540}
seats=${TALLY_SEATS:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${TALLY_BIN:-$root/bin}

if [[ ! -x $bin/tallyd || ! -x $bin/tallyctl || ! -x $bin/tally-agent ]]; then
  echo "building binaries into $bin" >&2
  make -C "$root" build >/dev/null
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

pids=()
stop() {
  trap - INT TERM EXIT
  echo "stopping agents and nodes" >&2
  # Agents first, so they release their seats while the cluster is up.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

port() { echo $((base + 10 * $1 + $2)); }     # port NODE OFFSET
node_addrs() {                                  # node_addrs NODE
  echo --agent-addr "127.0.0.1:$(port "$1" 3)" --admin-addr "127.0.0.1:$(port "$1" 4)" --raft-addr "127.0.0.1:$(port "$1" 5)"
}

wait_for() { # wait_for WHAT COMMAND...
  local what=$1; shift
  for _ in $(seq 1 150); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "cluster-up: timed out waiting for $what (logs in $dir/*.log)" >&2
  exit 1
}

# On a first run node 1 founds the cluster and nodes 2 and 3 join through
# it. On later runs all three restart at once: node 1 alone has no majority
# and cannot lead until another node is back.
restart=false
if [[ -s $dir/node1/node.json && -s $dir/node2/node.json && -s $dir/node3/node.json ]]; then
  restart=true
fi
"$bin/tallyd" serve --data "$dir/node1" --node-id node1 $(node_addrs 1) >>"$dir/node1.log" 2>&1 &
pids+=($!)
wait_for "node1's admin token" test -s "$dir/node1/admin.token"
export TALLY_ADDR=127.0.0.1:$(port 1 4) TALLY_CACERT=$dir/node1/ca.pem
TALLY_TOKEN=$(cat "$dir/node1/admin.token")
export TALLY_TOKEN
if [[ $restart == false ]]; then
  wait_for "node1 to lead" sh -c "'$bin/tallyctl' status | grep -q Leader"
fi

# Nodes 2 and 3 join through node 1 (on later runs they just restart).
for n in 2 3; do
  "$bin/tallyd" join --join "$TALLY_ADDR" --token-file "$dir/node1/admin.token" --cacert "$TALLY_CACERT" \
    --node-id "node$n" --data "$dir/node$n" $(node_addrs "$n") >>"$dir/node$n.log" 2>&1 &
  pids+=($!)
done
wait_for "three voters" sh -c "'$bin/tallyctl' cluster list --json | grep -c '\"reachable\": true' | grep -qx 3"

# A demo account and pool, once.
if [[ ! -s $dir/enroll.token ]]; then
  "$bin/tallyctl" accounts create demo >/dev/null
  "$bin/tallyctl" pools set-seats demo countthings "$seats" >/dev/null
  (umask 077 && "$bin/tallyctl" enroll-tokens create demo --ttl 720h --uses 100 >"$dir/enroll.token")
fi

# Agents, each told about node 1 only (the enrollment token goes by
# environment, not on the command line): they learn the other nodes from it.
for ((a = 1; a <= agents; a++)); do
  mkdir -p "$dir/agent$a"
  TALLY_ENROLL_TOKEN=$(cat "$dir/enroll.token") "$bin/tally-agent" run --state "$dir/agent$a" --server "127.0.0.1:$(port 1 3)" \
    --ca "$TALLY_CACERT" --socket "$dir/agent$a/agent.sock" >"$dir/agent$a.log" 2>&1 &
  pids+=($!)
done
for ((a = 1; a <= agents; a++)); do
  wait_for "agent$a to enroll" sh -c "'$bin/tally-agent' status --socket '$dir/agent$a/agent.sock' --json | grep -q '\"enrolled\": true'"
done

# Every node's admin address: tallyctl fails over to the next one.
all_admin=127.0.0.1:$(port 1 4),127.0.0.1:$(port 2 4),127.0.0.1:$(port 3 4)
(umask 077 && cat >"$dir/cluster.env" <<ENV
export TALLY_ADDR=$all_admin
export TALLY_TOKEN=$TALLY_TOKEN
export TALLY_CACERT=$TALLY_CACERT
export TALLY_AGENT_SOCKET=$dir/agent1/agent.sock
export PATH="$bin:\$PATH"
ENV
)

cat <<MSG
cluster is up: 3 nodes, $agents agents, pool demo/countthings with $seats seats (state in $dir, logs in $dir/*.log)

In another terminal:
  source $dir/cluster.env
  tallyctl cluster list                              # nodes, roles, applied index
  tally-agent checkout countthings                   # agent1 takes a seat
  TALLY_AGENT_SOCKET=$dir/agent2/agent.sock tally-agent checkout countthings
  tallyctl leases
  kill -9 \$(pgrep -f 'tallyd serve --data $dir/node1')   # kill node1; agents fail over
  tallyctl --addr 127.0.0.1:$(port 2 4) cluster list   # ask a survivor

Ctrl-C stops everything.
MSG
# Stay up while anything runs: a node killed by hand is part of the demo.
wait
