#!/usr/bin/env bash
# Two real emulators on one IfApi segment: starts the Release build of the service on a free
# loopback port with a throw-away SQLite store and an API key, creates a bridge, and boots two v86
# guests (lab.mjs, each guest in its own Node process, guest.mjs) whose NICs are relayed to
# ws://…/v1/tap?bridge=bridge0. They must ping each other (64-byte and full-size 1500-byte
# packets), and a guest whose WebSocket the test closes must be back on the segment after v86
# reconnects by itself. The guests' addresses are 198.18.0.1/24 and 198.18.0.2/24.
# Installs what it needs: v86 and ws from package-lock.json (npm ci), and the guests' images, built
# from Debian's packages by images.sh into tests/emulator/images (kept between runs, ignored by
# git; EMULATOR_IMAGES puts them elsewhere). Prints one line per check ("emulator: PASS …" /
# "emulator: FAIL …"). A missing prerequisite prints "emulator: skipped: REASON", except under
# CI=true, where it is a failure. A failed run keeps its folder (the guests' serial logs, the
# service's log) and says where.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
dll="$root/src/IfApi/bin/Release/net10.0/IfApi.dll"
images=${EMULATOR_IMAGES:-$here/images}

work=$(mktemp -d -t ifapi-emulator.XXXXXX)
pid=""
keep=0
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
  if [ "$keep" = 1 ]; then echo "    kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# A missing prerequisite: a skip with its reason here, a failure on CI.
unable() {
  keep=1
  if [ "${CI:-}" = true ]; then echo "emulator: FAIL $1"; exit 1; fi
  echo "emulator: skipped: $1"; keep=0; exit 0
}

command -v node >/dev/null && command -v npm >/dev/null || unable "no node and npm"
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || unable "node $(node --version) is older than 20"
if ! (cd "$here" && timeout -k 10 300 npm ci --no-audit --no-fund --loglevel=error) >"$work/npm.log" 2>&1; then
  sed 's/^/    /' "$work/npm.log"; unable "npm ci could not install v86 and ws"
fi

# The images: built once from Debian's packages (root and apt-get), then reused.
# Bounded: apt-get on a mirror that stops answering would otherwise wait for a long time.
# timeout signals its whole process group (apt-get included), and kills what outlives the signal by 10 s.
if ! timeout -k 10 300 "$here/images.sh" "$images" >"$work/images.log" 2>&1; then
  sed 's/^/    /' "$work/images.log"
  unable "could not build the guests' images: $(tail -n 1 "$work/images.log" | sed 's/^images: //')"
fi
sed 's/^/    /' "$work/images.log"

[ -f "$dll" ] || { echo "emulator: FAIL no Release build of the service: dotnet build IfApi.sln -c Release"; exit 1; }
port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
url="http://127.0.0.1:$port"
# With an API key, as in production: the guests' relay URLs carry it as access_token.
key="emulator-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
(cd "$work" && exec env Database__Provider=Sqlite ConnectionStrings__IfApi="Data Source=$work/ifapi.db" \
  Auth__Keys__lab__Secret="$key" Auth__Keys__lab__Scopes="read write tap" \
  Logging__LogLevel__Default=Warning Logging__LogLevel__IfApi.Tap=Information \
  dotnet "$dll" --urls "$url") >"$work/service.log" 2>&1 &
pid=$!

# lab.mjs waits for /readyz itself, and writes the guests' serial logs into $work.
if ! (cd "$here" && node lab.mjs "$url" --images "$images" --out "$work" --key "$key" "$@"); then
  keep=1
  if [ -s "$work/service.log" ]; then
    echo "    the service's log (last lines):"
    tail -n 20 "$work/service.log" | sed 's/^/      /'
  fi
  exit 1
fi
