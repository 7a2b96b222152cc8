#!/usr/bin/env bash
# The OpenAPI document as generators and linters see it: openapi/v1.json linted with Spectral
# (spectral:oas) and Redocly (recommended), their rulesets and exceptions committed next to the
# document, each exception with its reason. Both must report 0 errors and 0 warnings. Installs the
# linters from package-lock.json (npm ci) when missing. One "contract: PASS|FAIL" line per linter;
# without Node.js it is a skip, except under CI=true, where it is a failure.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
doc="$here/../../openapi"

if ! command -v npm >/dev/null; then
  if [ "${CI:-}" = true ]; then echo "contract: FAIL no npm to install the linters"; exit 1; fi
  echo "contract: skipped: no npm to install the linters"; exit 0
fi
if [ ! -x "$here/node_modules/.bin/spectral" ] || [ ! -x "$here/node_modules/.bin/redocly" ]; then
  (cd "$here" && npm ci --no-audit --no-fund >/dev/null 2>&1) || { echo "contract: FAIL npm ci in tests/contract"; exit 1; }
fi

cd "$doc"
if out=$("$here/node_modules/.bin/spectral" lint v1.json --ruleset .spectral.yaml --fail-severity=warn 2>&1); then
  echo "contract: PASS spectral:oas, 0 errors and 0 warnings"
else
  echo "$out" | sed 's/^/    /'; echo "contract: FAIL spectral:oas"
fi
# Redocly exits 0 on warnings: its summary must name none.
out=$(NO_COLOR=1 "$here/node_modules/.bin/redocly" lint v1.json --config redocly.yaml --format=summary 2>&1)
rc=$?
if [ "$rc" -eq 0 ] && ! grep -Eq '^(error|warning) ' <<<"$out"; then
  echo "contract: PASS redocly recommended, 0 errors and 0 warnings"
else
  echo "$out" | grep -v '[║╔╚]' | sed 's/^/    /'; echo "contract: FAIL redocly recommended"
fi
