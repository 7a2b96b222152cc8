#!/usr/bin/env bash
# End-to-end across replicas: two service processes on one PostgreSQL with frames crossing through
# NATS (both of this run's own), two network namespaces each with a Linux tap relayed into one
# IfApi bridge, each relay on a different replica (198.18.1.1 on one, 198.18.1.2 on the other);
# ping and iperf3 must cross. Prints one line per check ("e2e: PASS …" / "e2e: FAIL …"), or
# "e2e: skipped: REASON".
set -uo pipefail
source "$(dirname "$0")/../../scripts/netpeers.sh"

np_e2e_begin
work=$np_work

np_cluster "$work" || { echo "e2e: FAIL PostgreSQL and nats-server start"; exit 1; }
np_service "$work" one || { echo "e2e: FAIL replica one starts"; exit 1; }
one=$np_url
np_service "$work" two || { echo "e2e: FAIL replica two starts"; exit 1; }
two=$np_url

np_url=$one
bridge=$(np_bridge)
np_relay "${np_id}a" "$bridge" "${np_id}a" 198.18.1.1 "$work/relay-a.log" || { echo "e2e: FAIL relay a"; exit 1; }
np_url=$two
np_relay "${np_id}b" "$bridge" "${np_id}b" 198.18.1.2 "$work/relay-b.log" || { echo "e2e: FAIL relay b"; exit 1; }

np_check "ping crosses the bridge between replicas" ip netns exec "${np_id}a" ping -c 3 -W 2 198.18.1.2
np_check "full-size pings cross too" ip netns exec "${np_id}a" ping -c 3 -W 2 -s 1472 -M do 198.18.1.2
ip netns exec "${np_id}b" iperf3 -s -1 -B 198.18.1.2 >"$work/iperf-server.log" 2>&1 &
np_pids+=($!)
sleep 0.5
np_check "iperf3 TCP runs across the bridge between replicas" ip netns exec "${np_id}a" iperf3 -c 198.18.1.2 -t 2 --connect-timeout 3000
grep -E "receiver" "$work/check.log" | sed 's/^/    /'
sent_one=$(np_metric "$one" ifapi_crossing_frames_total 'direction="out"')
sent_two=$(np_metric "$two" ifapi_crossing_frames_total 'direction="out"')
np_check "the frames went through NATS both ways (one sent $sent_one, two sent $sent_two)" test "$sent_one" -gt 100 -a "$sent_two" -gt 100
np_check "the bridge's members are the two relayed taps, seen from either replica" sh -c "
  curl -fs $one/v1/interfaces/$bridge/members | grep -q '\"members\":\[\"tap[0-9]*\",\"tap[0-9]*\"\]' &&
  curl -fs $two/v1/interfaces/$bridge/members | grep -q '\"members\":\[\"tap[0-9]*\",\"tap[0-9]*\"\]'"
exit $np_failed
