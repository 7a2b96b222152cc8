#!/usr/bin/env bash
# End-to-end with real peers: two network namespaces, each a Linux tap relayed into one IfApi
# bridge (198.18.0.1 and 198.18.0.2); ping must cross it and iperf3 must run over it.
# Prints one line per check ("e2e: PASS …" / "e2e: FAIL …"), or "e2e: skipped: REASON".
set -uo pipefail
source "$(dirname "$0")/../../scripts/netpeers.sh"

np_e2e_begin
work=$np_work

np_service "$work" || { echo "e2e: FAIL the service starts"; exit 1; }
bridge=$(np_bridge)
np_relay "${np_id}a" "$bridge" "${np_id}a" 198.18.0.1 "$work/relay-a.log" || { echo "e2e: FAIL relay a"; exit 1; }
np_relay "${np_id}b" "$bridge" "${np_id}b" 198.18.0.2 "$work/relay-b.log" --plain --no-offload || { echo "e2e: FAIL relay b"; exit 1; }

np_check "ping crosses the bridge (batched relay with offloads to plain relay without)" ip netns exec "${np_id}a" ping -c 3 -W 2 198.18.0.2
ip netns exec "${np_id}b" iperf3 -s -1 -B 198.18.0.2 >"$work/iperf-server.log" 2>&1 &
np_pids+=($!)
sleep 0.5
np_check "iperf3 TCP runs across the bridge" ip netns exec "${np_id}a" iperf3 -c 198.18.0.2 -t 2 --connect-timeout 3000
grep -E "receiver" "$work/check.log" | sed 's/^/    /'
# A relay whose tap is down drops what it cannot deliver and carries on once it is up again.
ip -n "${np_id}a" link set "${np_id}a" down
ip netns exec "${np_id}b" ping -c 2 -W 1 198.18.0.1 >/dev/null 2>&1
ip -n "${np_id}a" link set "${np_id}a" up
ip -n "${np_id}a" addr replace 198.18.0.1/24 dev "${np_id}a"
np_check "a relay survives its tap going down and up" ip netns exec "${np_id}b" ping -c 3 -W 2 198.18.0.1
np_check "the bridge's members are the two relayed taps" sh -c "curl -fs $np_url/v1/interfaces/$bridge/members | grep -q '\"members\":\[\"tap[0-9]*\",\"tap[0-9]*\"\]'"
exit $np_failed
