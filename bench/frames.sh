#!/usr/bin/env bash
# The frame path: two WebSocket clients on one bridge in the service's own process (see
# bench/IfApi.FrameBench/Program.cs). Extra arguments go to the benchmark, e.g.
#   bench/frames.sh --seconds 10 --rounds 5 --cases plain:64,batched:1514 --alloc-types
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build IfApi.sln -c Release >/dev/null
exec dotnet bench/IfApi.FrameBench/bin/Release/net10.0/IfApi.FrameBench.dll "$@"
