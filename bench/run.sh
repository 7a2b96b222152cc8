#!/usr/bin/env bash
# Runs the benchmarks: builds in Release, starts a throw-away PostgreSQL (durable settings, as in
# production), and prints one line per figure. Extra arguments go to the benchmark, e.g.
#   bench/run.sh --seconds 20 --clients 1,8,32 --fill 30000
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build IfApi.sln -c Release >/dev/null
work=$(mktemp -d /tmp/ifapi-bench.XXXXXX)
chmod 755 "$work"
trap 'scripts/postgres.sh stop "$work/pg"; rm -rf "$work"' EXIT
mkdir -p "$work/pg"
pg=${IFAPI_BENCH_POSTGRES:-$(scripts/postgres.sh start "$work/pg")}
command -v pgbench >/dev/null || { echo "pgbench is missing (Debian: postgresql-client)"; exit 1; }
dotnet bench/IfApi.Bench/bin/Release/net10.0/IfApi.Bench.dll --pg "$pg" "$@"
