#!/usr/bin/env bash
# Swagger UI and the lab page in a real browser: starts the Release build of the service on a free
# loopback port with a throw-away SQLite store and an API key, and runs swagger.mjs against it,
# entering the key in Swagger UI's Authorize dialog (extra arguments go to it), then page.mjs, which
# watches the page at / follow changes made through the API. page.mjs's screenshots (lab.png,
# lab-dark.png) go to tests/browser/out/ (BROWSER_OUT elsewhere), kept after every run.
# Installs what it needs: Debian's chromium when /usr/bin/chromium is missing (as root), and
# playwright-core and ws from package-lock.json (npm ci). Prints one line per check ("browser: PASS …" /
# "browser: FAIL …"). Without a browser or Node.js it prints "browser: skipped: REASON", except
# under CI=true, where that is a failure. A failed run keeps its folder (service log, Swagger UI's
# screenshot); the lab page's failure screenshot goes with the others.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
chromium=${CHROMIUM:-/usr/bin/chromium}
dll="$root/src/IfApi/bin/Release/net10.0/IfApi.dll"

work=$(mktemp -d /tmp/ifapi-browser.XXXXXX)
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
  if [ "${CI:-}" = true ]; then echo "browser: FAIL $1"; exit 1; fi
  echo "browser: skipped: $1"; keep=0; exit 0
}

if [ ! -x "$chromium" ]; then
  [ "$(id -u)" = 0 ] || unable "no $chromium, and not root to install Debian's chromium"
  command -v apt-get >/dev/null || unable "no $chromium, and no apt-get to install it"
  echo "installing chromium"
  export DEBIAN_FRONTEND=noninteractive
  # The package lists may be stale or missing on a fresh machine: update only when that is why.
  if ! apt-get install -y -qq chromium >"$work/apt.log" 2>&1; then
    { apt-get update -qq && apt-get install -y -qq chromium; } >>"$work/apt.log" 2>&1 || {
      tail -n 20 "$work/apt.log" | sed 's/^/    /'; unable "could not install chromium"; }
  fi
  [ -x "$chromium" ] || unable "chromium is installed but $chromium is not there"
fi

command -v node >/dev/null && command -v npm >/dev/null || unable "no node and npm"
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || unable "node $(node --version) is older than playwright-core's 20"
if ! (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) >"$work/npm.log" 2>&1; then
  sed 's/^/    /' "$work/npm.log"; unable "npm ci could not install playwright-core"
fi

[ -f "$dll" ] || { echo "browser: FAIL no Release build of the service: dotnet build IfApi.sln -c Release"; exit 1; }
port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
url="http://127.0.0.1:$port"
# With an API key, as in production: the page must get through Swagger UI's Authorize dialog. The lab
# page's check also makes a vnet (admin) and opens tap devices (tap).
key="browser-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
(cd "$work" && exec env Database__Provider=Sqlite ConnectionStrings__IfApi="Data Source=$work/ifapi.db" \
  Auth__Keys__browser__Secret="$key" Auth__Keys__browser__Scopes="read write admin tap" \
  Logging__LogLevel__Default=Warning dotnet "$dll" --urls "$url") >"$work/service.log" 2>&1 &
pid=$!

shots=${BROWSER_OUT:-$here/out}
mkdir -p "$shots" && rm -f "$shots"/lab.png "$shots"/lab-dark.png "$shots"/lab-failure.png "$shots"/lab-console.log

# Each waits for /readyz itself. swagger.mjs screenshots into $work when a check fails; page.mjs
# into $shots, always.
failed=0
(cd "$here" && node swagger.mjs "$url" --out "$work" --key "$key" "$@") || failed=1
(cd "$here" && node page.mjs "$url" --out "$shots" --key "$key") || failed=1
if [ "$failed" = 1 ]; then
  keep=1
  if [ -s "$work/service.log" ]; then
    echo "    the service's log (last lines):"
    tail -n 20 "$work/service.log" | sed 's/^/      /'
  fi
  exit 1
fi
