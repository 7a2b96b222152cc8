#!/usr/bin/env bash
# Runs every test on both stores, from a fresh clone, and ends with "N passed, N failed".
#   - restores the .NET tools (dotnet-ef) and builds, which regenerates openapi/v1.json;
#   - fails when the committed openapi/v1.json, the client Kiota generates from it
#     (src/IfApi.Client, which the build compiles) or the migrations are stale;
#   - PostgreSQL: IFAPI_TEST_POSTGRES if given, else Testcontainers when a Docker engine answers,
#     else a throw-away server from Debian's postgresql package (installed if missing) on a private
#     port and socket directory, stopped at the end;
#   - NATS (frames between replicas): IFAPI_TEST_NATS if given, else Debian's nats-server (installed
#     if missing) on a private loopback port, stopped at the end; under CI=true, failing to start
#     it fails the run;
#   - openapi/v1.json linted with Spectral and Redocly from npm (tests/contract), one check per
#     "contract: PASS|FAIL" line;
#   - the end-to-end scripts under tests/e2e (real network namespaces, as root; skipped with a
#     printed reason elsewhere), one check per "e2e: PASS|FAIL" line;
#   - Swagger UI in headless Chromium (tests/browser: installs Debian's chromium and playwright-core
#     when missing; skipped with a printed reason elsewhere, a failure under CI=true), one check
#     per "browser: PASS|FAIL" line;
#   - two v86 emulators pinging each other over a bridge they join with /v1/tap?bridge=
#     (tests/emulator: installs v86 and ws from npm, and builds the guests' images from Debian's
#     packages when missing, as root, adding dpkg's i386 architecture; kept in
#     tests/emulator/images; skipped with a printed reason elsewhere, a failure under CI=true),
#     one check per "emulator: PASS|FAIL" line.
set -uo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

work=$(mktemp -d /tmp/ifapi-test.XXXXXX)
chmod 755 "$work"   # the throw-away PostgreSQL runs as its own user and must reach its folder
pg_dir="" nats_dir=""
cleanup() {
  [ -n "$pg_dir" ] && scripts/postgres.sh stop "$pg_dir"
  [ -n "$nats_dir" ] && scripts/nats.sh stop "$nats_dir"
  rm -rf "$work"
}
trap cleanup EXIT

failed_steps=0
step() { echo; echo "==> $*"; }
fail_step() { echo "FAILED: $*"; failed_steps=$((failed_steps + 1)); }

step "restore tools and build"
dotnet tool restore >/dev/null || { echo "dotnet tool restore failed"; echo "0 passed, 1 failed"; exit 1; }
if ! dotnet build IfApi.sln -c Release -warnaserror 2>&1 | tee "$work/build.log" | grep -E "error|Warn|Build succeeded" | sort -u; then :; fi
if ! grep -q "Build succeeded" "$work/build.log"; then
  echo "build failed"; echo "0 passed, 1 failed"; exit 1
fi

step "openapi/v1.json is what the build writes"
if git rev-parse --git-dir >/dev/null 2>&1 && ! git diff --exit-code --stat -- openapi/v1.json; then
  fail_step "openapi/v1.json is stale: commit the regenerated document"
fi

step "src/IfApi.Client is what Kiota generates from openapi/v1.json"
if ! scripts/generate-client.sh; then
  fail_step "Kiota could not generate the client"
elif git rev-parse --git-dir >/dev/null 2>&1 && [ -n "$(git status --porcelain -- src/IfApi.Client/Generated)" ]; then
  git status --short -- src/IfApi.Client/Generated | head -n 20
  fail_step "src/IfApi.Client is stale: run scripts/generate-client.sh and commit it"
fi

step "the migrations match the model, for both providers"
for provider in Sqlite Postgres; do
  if ! dotnet ef migrations has-pending-model-changes --no-build --configuration Release \
      --project "migrations/IfApi.Migrations.$provider" >"$work/ef-$provider.log" 2>&1; then
    cat "$work/ef-$provider.log"
    fail_step "the $provider migrations are behind the model: run migrations/add.sh"
  fi
done

step "PostgreSQL for the tests"
if [ -n "${IFAPI_TEST_POSTGRES:-}" ]; then
  echo "using IFAPI_TEST_POSTGRES"
elif docker info >/dev/null 2>&1; then
  echo "a Docker engine answers: the tests start PostgreSQL with Testcontainers"
else
  pg_dir="$work/pg"
  mkdir -p "$pg_dir"
  if IFAPI_TEST_POSTGRES=$(scripts/postgres.sh start "$pg_dir" fast); then
    export IFAPI_TEST_POSTGRES
    echo "started a throw-away PostgreSQL on port $(cat "$pg_dir/port")"
  else
    fail_step "could not start PostgreSQL"
  fi
fi

step "NATS for the tests"
if [ -n "${IFAPI_TEST_NATS:-}" ]; then
  echo "using IFAPI_TEST_NATS"
else
  nats_dir="$work/nats"
  if IFAPI_TEST_NATS=$(scripts/nats.sh start "$nats_dir"); then
    export IFAPI_TEST_NATS
    echo "started a throw-away nats-server at $IFAPI_TEST_NATS"
  else
    nats_dir=""
    fail_step "could not start nats-server"
  fi
fi

step "tests"
projects=(tests/IfApi.Domain.Tests tests/IfApi.Tests)
passed=0 failed=0
for p in "${projects[@]}"; do
  log="$work/$(basename "$p").log"
  # No head in this pipe: closing it early would cut the log the summary is read from.
  # A failure shows its message's first lines too (an assertion's text starts on the next line).
  dotnet test "$p" -c Release --no-build 2>&1 | tee "$log" | grep -E -A3 "^\s+Failed |^Passed!|^Failed!" | grep -v "^--$"
  summary=$(grep -E "^(Passed|Failed)! +- Failed: +[0-9]+, Passed: +[0-9]+" "$log" | tail -n 1)
  if [ -z "$summary" ]; then
    fail_step "$p did not finish"
    continue
  fi
  f=$(sed -E 's/.*Failed: +([0-9]+),.*/\1/' <<<"$summary")
  s=$(sed -E 's/.*Passed: +([0-9]+),.*/\1/' <<<"$summary")
  passed=$((passed + s)); failed=$((failed + f))
done

step "end to end: real network stacks on a bridge (tests/e2e)"
for script in tests/e2e/*.sh; do
  "$script" 2>&1 | tee "$work/e2e.log"
  passed=$((passed + $(grep -c "^e2e: PASS" "$work/e2e.log")))
  failed=$((failed + $(grep -c "^e2e: FAIL" "$work/e2e.log")))
done

step "the OpenAPI document lints clean with Spectral and Redocly (tests/contract)"
tests/contract/lint.sh 2>&1 | tee "$work/contract.log"
passed=$((passed + $(grep -c "^contract: PASS" "$work/contract.log")))
failed=$((failed + $(grep -c "^contract: FAIL" "$work/contract.log")))

step "Swagger UI in headless Chromium (tests/browser)"
tests/browser/run.sh 2>&1 | tee "$work/browser.log"
browser_rc=${PIPESTATUS[0]}
passed=$((passed + $(grep -c "^browser: PASS" "$work/browser.log")))
failed=$((failed + $(grep -c "^browser: FAIL" "$work/browser.log")))
if [ "$browser_rc" -ne 0 ] && ! grep -q "^browser: FAIL" "$work/browser.log"; then
  fail_step "tests/browser/run.sh exited $browser_rc"
fi

step "two v86 emulators ping each other over a bridge (tests/emulator)"
tests/emulator/run.sh 2>&1 | tee "$work/emulator.log"
emulator_rc=${PIPESTATUS[0]}
passed=$((passed + $(grep -c "^emulator: PASS" "$work/emulator.log")))
failed=$((failed + $(grep -c "^emulator: FAIL" "$work/emulator.log")))
if [ "$emulator_rc" -ne 0 ] && ! grep -q "^emulator: FAIL" "$work/emulator.log"; then
  fail_step "tests/emulator/run.sh exited $emulator_rc"
fi

failed=$((failed + failed_steps))
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
