# Real network stacks on an IfApi bridge: sourced by tests/e2e/netns.sh and bench/netns.sh.
# Two network namespaces, each with a Linux tap relayed (ifapi-relay) into one IfApi bridge, or,
# for comparison, both taps owned by a vde_switch. Addresses come from 198.18.0.0/15.
# Needs root, /dev/net/tun, iproute2 with netns; uses the Release build of the service and relay.

np_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
np_id="ifapi$$"                     # namespaces and taps of this run only
np_pids=()
np_namespaces=()

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

np_cleanup() {
  local p ns
  for p in "${np_pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${np_pids[@]}"; do wait "$p" 2>/dev/null; done
  for ns in "${np_namespaces[@]}"; do ip netns del "$ns" 2>/dev/null; done
  np_pids=() np_namespaces=()
}

# Starts the service on a free loopback port with an SQLite store in DIR; sets np_url.
np_service() {
  local dir=$1 port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  np_url="http://127.0.0.1:$port"
  ASPNETCORE_URLS=$np_url ConnectionStrings__IfApi="Data Source=$dir/ifapi.db" Logging__LogLevel__Default=Warning \
    dotnet "$np_root/src/IfApi/bin/Release/net10.0/IfApi.dll" >"$dir/service.log" 2>&1 &
  np_pids+=($!)
  for _ in $(seq 100); do
    curl -fs "$np_url/healthz" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "the service did not start:"; cat "$dir/service.log"; return 1
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
