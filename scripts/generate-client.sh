#!/usr/bin/env bash
# Generates the C# client in src/IfApi.Client/Generated from openapi/v1.json with Kiota, the version
# pinned in .config/dotnet-tools.json. Run it after the document changes (the build rewrites the
# document); the test command fails when the committed client is not what this writes.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet tool restore >/dev/null
out=src/IfApi.Client/Generated
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Kiota also asks GitHub whether it is the newest release; offline that is only a warning in the log.
if ! dotnet kiota generate --language CSharp --openapi openapi/v1.json --output "$out" \
    --class-name IfApiClient --namespace-name IfApi.Client --exclude-backward-compatible \
    --clean-output --log-level Warning >"$log" 2>&1; then
  cat "$log"
  exit 1
fi
rm -f "$out/.kiota.log"
