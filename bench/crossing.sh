#!/usr/bin/env bash
# Frames between replicas: two service processes on a throw-away PostgreSQL with frames crossing
# through a throw-away nats-server, against both devices on one replica and against NATS.Net alone
# (see bench/IfApi.CrossingBench/Program.cs). Extra arguments go to the benchmark, e.g.
#   bench/crossing.sh --seconds 10 --rounds 5 --cases batched:64,plain:1514
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build IfApi.sln -c Release >/dev/null
work=$(mktemp -d /tmp/ifapi-crossing.XXXXXX)
chmod 755 "$work"   # the throw-away PostgreSQL runs as its own user and must reach its folder
trap 'scripts/nats.sh stop "$work/nats"; scripts/postgres.sh stop "$work/pg"; rm -rf "$work"' EXIT
pg=$(scripts/postgres.sh start "$work/pg" fast)
nats=$(scripts/nats.sh start "$work/nats")
dotnet bench/IfApi.CrossingBench/bin/Release/net10.0/IfApi.CrossingBench.dll --postgres "$pg" --nats "$nats" "$@"
