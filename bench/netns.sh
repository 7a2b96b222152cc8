#!/usr/bin/env bash
# The real-peer path: iperf3 TCP, iperf3 64-byte UDP and ping between two network namespaces,
# through IfApi (a bridge, two taps, one ifapi-relay each, batched framing) and, in the same run,
# through vde_switch owning both taps. Rounds alternate between the two; medians are printed.
# With "replicas": two replicas on one PostgreSQL with frames crossing through NATS, the relays on
# different replicas against both on one replica, alternating.
#   bench/netns.sh [ROUNDS] [SECONDS] [replicas]   (default 3 rounds of 5 s per measurement; needs root)
set -uo pipefail
source "$(dirname "$0")/../scripts/netpeers.sh"
rounds=${1:-3}
seconds=${2:-5}
mode=${3:-vde}

if reason=$(np_unable) && [ -n "$reason" ]; then echo "netns bench: cannot run: $reason"; exit 1; fi
np_need iperf3:iperf3 vde_switch:vde2 ping:iputils-ping curl:curl || { echo "could not install iperf3, vde2, ping and curl"; exit 1; }
[ -f "$np_root/src/IfApi.Relay/bin/Release/net10.0/ifapi-relay.dll" ] || dotnet build "$np_root/IfApi.sln" -c Release >/dev/null

work=$(mktemp -d /tmp/ifapi-netns.XXXXXX)
chmod 755 "$work" # a throw-away PostgreSQL runs as its own user and must reach its folder
trap 'np_cleanup; np_cluster_stop; rm -rf "$work"' EXIT
a=198.18.0.1 b=198.18.0.2

# measure LABEL: ping, TCP and UDP from namespace a to b; appends "LABEL metric value" to results.
measure() {
  local label=$1 nsa="${np_id}a" nsb="${np_id}b"
  ip netns exec "$nsa" ping -c 3 -W 2 $b >/dev/null || { echo "$label: no ping across"; return 1; }
  ip netns exec "$nsb" iperf3 -s -D -B $b -I "$work/iperf.pid" >/dev/null 2>&1; sleep 0.3
  ip netns exec "$nsa" iperf3 -c $b -t "$seconds" -J >"$work/tcp.json" 2>&1
  ip netns exec "$nsa" iperf3 -c $b -t "$seconds" -u -l 64 -b 0 -J >"$work/udp.json" 2>&1
  kill "$(cat "$work/iperf.pid")" 2>/dev/null; sleep 0.2
  # Last, on a warm path (a service and relays just started are still compiling): 200 pings 20 ms apart.
  ip netns exec "$nsa" ping -c 200 -i 0.02 $b >"$work/ping.txt"
  python3 - "$label" "$work/ping.txt" "$work/tcp.json" "$work/udp.json" >>"$work/results" <<'PY'
import json, re, statistics, sys
label, ping, tcp, udp = sys.argv[1], open(sys.argv[2]).read(), json.load(open(sys.argv[3])), json.load(open(sys.argv[4]))
t = tcp["end"]["sum_received"]["bits_per_second"] / 1e6
u = udp["end"]["sum"]
rtts = sorted(float(x) for x in re.findall(r"time=([0-9.]+)", ping))
print(label, "tcp_mbit", t)
print(label, "udp_rx_pps", (u["packets"] - u["lost_packets"]) / u["seconds"])
print(label, "udp_loss_pct", u["lost_percent"])
print(label, "rtt_p50_ms", statistics.median(rtts))
print(label, "rtt_p99_ms", rtts[int(0.99 * (len(rtts) - 1))])
PY
}

# replicas RELAY_B_ON: two replicas of the cluster, relay a on the first, relay b on the one named.
replicas() {
  np_service "$work" one && local one=$np_url && np_service "$work" two && local two=$np_url || return 1
  np_url=$one
  bridge=$(np_bridge) && np_relay "${np_id}a" "$bridge" "${np_id}a" $a "$work/relay-a.log" || return 1
  [ "$1" = two ] && np_url=$two
  np_relay "${np_id}b" "$bridge" "${np_id}b" $b "$work/relay-b.log"
}

[ "$mode" = replicas ] && { np_cluster "$work" || exit 1; }
for round in $(seq "$rounds"); do
  echo "round $round/$rounds"
  if [ "$mode" = replicas ]; then
    replicas one && measure one_replica
    np_cleanup
    replicas two && measure across
    np_cleanup
    continue
  fi
  np_service "$work" && bridge=$(np_bridge) \
    && np_relay "${np_id}a" "$bridge" "${np_id}a" $a "$work/relay-a.log" \
    && np_relay "${np_id}b" "$bridge" "${np_id}b" $b "$work/relay-b.log" \
    && measure ifapi
  np_cleanup; rm -f "$work/ifapi.db"*
  np_vde "$work" "${np_id}a" "${np_id}a" $a "${np_id}b" "${np_id}b" $b && measure vde_switch
  np_cleanup
done

python3 - "$work/results" "$mode" <<'PY'
import statistics, sys, collections
r = collections.defaultdict(list)
for line in open(sys.argv[1]):
    label, metric, value = line.split()
    r[(label, metric)].append(float(value))
med = {k: statistics.median(v) for k, v in r.items()}
labels = ("across", "one_replica") if sys.argv[2] == "replicas" else ("ifapi", "vde_switch")
n = len(r[(labels[0], "tcp_mbit")])
print(f"\nreal peers, 2 namespaces, medians of {n} rounds (iperf3 TCP and 64-byte UDP unlimited; then 200 pings 20 ms apart):")
print(f"{'':12} {'TCP Mbit/s':>11} {'UDP64 rx pps':>13} {'UDP loss %':>11} {'ping p50 ms':>12} {'ping p99 ms':>12}")
for label in labels:
    print(f"{label:12} {med[(label,'tcp_mbit')]:11.0f} {med[(label,'udp_rx_pps')]:13.0f} {med[(label,'udp_loss_pct')]:11.1f} {med[(label,'rtt_p50_ms')]:12.3f} {med[(label,'rtt_p99_ms')]:12.3f}")
if sys.argv[2] == "replicas":
    print(f"ratio across/one_replica: TCP {med[('across','tcp_mbit')]/med[('one_replica','tcp_mbit')]:.2f}x (target >= 0.5), "
          f"UDP64 rx {med[('across','udp_rx_pps')]/med[('one_replica','udp_rx_pps')]:.2f}x, "
          f"ping p50 {med[('across','rtt_p50_ms')]/med[('one_replica','rtt_p50_ms')]:.2f}x")
    sys.exit(0)
print(f"ratio ifapi/vde_switch: TCP {med[('ifapi','tcp_mbit')]/med[('vde_switch','tcp_mbit')]:.2f}x (target >= 1.5), "
      f"UDP64 rx {med[('ifapi','udp_rx_pps')]/med[('vde_switch','udp_rx_pps')]:.2f}x, "
      f"ping p50 {med[('ifapi','rtt_p50_ms')]/med[('vde_switch','rtt_p50_ms')]:.2f}x (target <= 1; lower is better)")
PY
