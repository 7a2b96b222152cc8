#!/usr/bin/env bash
# Adds a migration named $1 to both providers' sets, from the one model in src/IfApi.Store.
# Usage: migrations/add.sh AddSomething
set -euo pipefail
name=${1:?usage: migrations/add.sh MigrationName}
cd "$(dirname "$0")/.."
dotnet tool restore >/dev/null
dotnet restore IfApi.sln >/dev/null
for provider in Sqlite Postgres; do
  dotnet ef migrations add "$name" \
    --project "migrations/IfApi.Migrations.$provider" \
    --output-dir Migrations \
    --namespace "IfApi.Migrations.$provider.Migrations"
done
