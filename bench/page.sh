#!/usr/bin/env bash
# The lab page (/): how soon its picture shows a change made through the API (see bench/page.mjs for
# how it is measured). Starts the Release build of the service on a free loopback port with an API
# key, as in production, and opens / in headless Chromium: Debian's chromium and playwright-core,
# as tests/browser/run.sh installs them. Prints
#   page create→shown p50=…ms p90=…ms max=…ms (20 changes)
#   page destroy→gone p50=…ms p90=…ms max=…ms (20 changes)
# The store is a throw-away SQLite file, or the PostgreSQL database that --postgres CONNECTION names
# (bench/run.sh --only page passes one of its own). --no-build takes the build that is there. Other
# arguments go to page.mjs: --changes N (20), --warmup N (5).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=1
provider=Sqlite
connection=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0 ;;
    --postgres) provider=Postgres; connection=${2:?--postgres needs a connection string}; shift ;;
    *) args+=("$1") ;;
  esac
  shift
done

chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || { echo "page: skipped: no $chromium (tests/browser/run.sh installs Debian's chromium)"; exit 0; }
command -v node >/dev/null && command -v npm >/dev/null || { echo "page: skipped: no node and npm"; exit 0; }
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error) >/dev/null 2>&1 \
  || { echo "page: skipped: npm ci could not install tests/browser's packages"; exit 0; }
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
[ "$build" = 0 ] || dotnet build src/IfApi/IfApi.csproj -c Release >/dev/null

work=$(mktemp -d /tmp/ifapi-page.XXXXXX)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT
[ -n "$connection" ] || connection="Data Source=$work/ifapi.db"
port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
url="http://127.0.0.1:$port"
key="bench-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
(cd "$work" && exec env Database__Provider="$provider" ConnectionStrings__IfApi="$connection" \
  Auth__Keys__bench__Secret="$key" Auth__Keys__bench__Scopes="read write" \
  ASPNETCORE_ENVIRONMENT=Production Logging__LogLevel__Default=Warning \
  dotnet "$root/src/IfApi/bin/Release/net10.0/IfApi.dll" --urls "$url") >"$work/service.log" 2>&1 &
pid=$!

if ! node bench/page.mjs "$url" --key "$key" "${args[@]}"; then
  echo "page: FAILED; the service's log (last lines):"
  tail -n 20 "$work/service.log" | sed 's/^/    /'
  exit 1
fi
