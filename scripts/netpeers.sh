# Real network stacks on an IfApi bridge: sourced by tests/e2e/netns.sh and bench/netns.sh.
# Two network namespaces, each with a Linux tap relayed (ifapi-relay) into one IfApi bridge, or,
# for comparison, both taps owned by a vde_switch. Addresses come from 198.18.0.0/15.
# Needs root, /dev/net/tun, iproute2 with netns; uses the Release build of the service and relay.

np_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
np_id="ifapi$$"                     # namespaces and taps of this run only
np_pids=()
np_namespaces=()
np_env=()                           # settings every service started here gets (np_cluster sets them)
np_stops=()                         # commands that stop what np_cluster started

# Why this machine cannot run real peers, or nothing when it can.
np_unable() {
  [ "$(id -u)" = 0 ] || { echo "not running as root"; return; }
  [ -c /dev/net/tun ] || { echo "no /dev/net/tun"; return; }
  command -v ip >/dev/null || { echo "no ip (iproute2)"; return; }
  ip netns add "${np_id}probe" 2>/dev/null || { echo "cannot create network namespaces"; return; }
  ip netns del "${np_id}probe"
}

# Installs the Debian packages named when their commands are missing: np_need iperf3:iperf3 vde_switch:vde2
np_need() {
  local missing=() pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq "${missing[@]}"; } >/dev/null 2>&1
}

# For the end-to-end scripts: where real peers cannot run, prints "e2e: skipped: REASON" and exits;
# else installs what they use and makes np_work, removed at exit with everything started here.
np_e2e_begin() {
  local reason
  if reason=$(np_unable) && [ -n "$reason" ]; then
    echo "e2e: skipped: $reason"
    exit 0
  fi
  np_need iperf3:iperf3 ping:iputils-ping curl:curl || { echo "e2e: FAIL could not install iperf3, ping and curl"; exit 1; }
  np_work=$(mktemp -d /tmp/ifapi-e2e.XXXXXX)
  chmod 755 "$np_work" # a throw-away PostgreSQL runs as its own user and must reach its folder
  trap 'np_cleanup; np_cluster_stop; rm -rf "$np_work"' EXIT
  np_failed=0
}

# One end-to-end check: np_check NAME COMMAND... prints "e2e: PASS NAME" or "e2e: FAIL NAME" and the
# command's output; a failure sets np_failed.
np_check() {
  local name=$1; shift
  if "$@" >"$np_work/check.log" 2>&1; then
    echo "e2e: PASS $name"
  else
    echo "e2e: FAIL $name"; sed 's/^/    /' "$np_work/check.log"; np_failed=1
  fi
}

np_cleanup() {
  local p ns
  for p in "${np_pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${np_pids[@]}"; do wait "$p" 2>/dev/null; done
  for ns in "${np_namespaces[@]}"; do ip netns del "$ns" 2>/dev/null; done
  np_pids=() np_namespaces=()
}

# Stops what np_cluster started (np_cleanup leaves it, for the next round's replicas).
np_cluster_stop() {
  local p
  for p in "${np_stops[@]}"; do $p; done
  np_stops=() np_env=()
}

# PostgreSQL and nats-server of this run's own under DIR (which the postgres user must reach), so
# that services started next are replicas of one store whose frames cross through NATS.
np_cluster() {
  local dir=$1 conn nats
  conn=$("$np_root/scripts/postgres.sh" start "$dir/pg" fast) || { echo "could not start PostgreSQL"; return 1; }
  np_stops+=("$np_root/scripts/postgres.sh stop $dir/pg")
  nats=$("$np_root/scripts/nats.sh" start "$dir/nats") || { echo "could not start nats-server"; return 1; }
  np_stops+=("$np_root/scripts/nats.sh stop $dir/nats")
  np_env=(Database__Provider=Postgres "ConnectionStrings__IfApi=$conn" "Frames__Nats__Url=$nats")
}

# Starts the service on a free loopback port and sets np_url: on an SQLite store in DIR, or, after
# np_cluster, as one more replica (NAME tells their logs apart).
np_service() {
  local dir=$1 name=${2:-service} port
  local settings=("${np_env[@]}")
  [ ${#settings[@]} -eq 0 ] && settings=("ConnectionStrings__IfApi=Data Source=$dir/ifapi.db")
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  np_url="http://127.0.0.1:$port"
  env ASPNETCORE_URLS="$np_url" Logging__LogLevel__Default=Warning "${settings[@]}" \
    dotnet "$np_root/src/IfApi/bin/Release/net10.0/IfApi.dll" >"$dir/$name.log" 2>&1 &
  np_pids+=($!)
  for _ in $(seq 150); do
    curl -fs "$np_url/readyz" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "the service did not start:"; cat "$dir/$name.log"; return 1
}

# A counter of a service's /metrics, summed over the series that carry LABEL (name="value"): np_metric URL NAME [LABEL]
np_metric() {
  curl -fs "$1/metrics" | awk -v name="$2" -v label="${3:-}" \
    'index($1, name "{") == 1 || $1 == name { if (label == "" || index($1, label)) s += $2 } END { printf "%d\n", s }'
}

np_api() { curl -fsS -H 'content-type: application/json' "$@"; }

# An up bridge in the service; prints its name.
np_bridge() {
  local name
  name=$(np_api -XPOST "$np_url/v1/interfaces" -d '{"name":"bridge"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["name"])')
  np_api -XPATCH "$np_url/v1/interfaces/$name" -d '{"up":true}' >/dev/null
  echo "$name"
}

# A namespace NS with the (already created) tap TAP in it at ADDR/24, up.
np_namespace() {
  local ns=$1 tap=$2 addr=$3
  ip netns add "$ns" && np_namespaces+=("$ns")
  ip link set "$tap" netns "$ns"
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$addr/24" dev "$tap"
  ip -n "$ns" link set "$tap" up
}

# A relay from a new Linux tap TAP to a new IfApi tap (the cloning device), made a member of
# BRIDGE, then TAP moved into namespace NS at ADDR. Extra arguments go to the relay (--plain).
np_relay() {
  local tap=$1 bridge=$2 ns=$3 addr=$4 log=$5; shift 5
  dotnet "$np_root/src/IfApi.Relay/bin/Release/net10.0/ifapi-relay.dll" "ws://${np_url#http://}/v1/tap" --tap "$tap" "$@" >"$log" 2>&1 &
  np_pids+=($!)
  local remote=""
  for _ in $(seq 100); do
    remote=$(sed -nE 's/^ifapi-relay: [^ ]+ <-> ([a-z0-9]+)$/\1/p' "$log")
    [ -n "$remote" ] && break
    sleep 0.1
  done
  [ -n "$remote" ] || { echo "the relay did not connect:"; cat "$log"; return 1; }
  np_api -XPUT "$np_url/v1/interfaces/$bridge/members/$remote" >/dev/null
  np_namespace "$ns" "$tap" "$addr"
}

# Both taps owned by one vde_switch (DIR holds its control socket), then moved into namespaces.
np_vde() {
  local dir=$1 tapa=$2 nsa=$3 addra=$4 tapb=$5 nsb=$6 addrb=$7
  # It leaves when its console (stdin) ends, so it runs as a daemon, found again by its pid file.
  vde_switch --sock "$dir/vde.ctl" -t "$tapa" -t "$tapb" --daemon --pidfile "$dir/vde.pid" >"$dir/vde.log" 2>&1 || {
    echo "vde_switch did not start:"; cat "$dir/vde.log"; return 1; }
  for _ in $(seq 50); do
    [ -s "$dir/vde.pid" ] && ip link show "$tapa" >/dev/null 2>&1 && ip link show "$tapb" >/dev/null 2>&1 && break
    sleep 0.1
  done
  np_pids+=("$(cat "$dir/vde.pid")")
  np_namespace "$nsa" "$tapa" "$addra"
  np_namespace "$nsb" "$tapb" "$addrb"
}
