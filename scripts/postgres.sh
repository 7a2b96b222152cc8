#!/usr/bin/env bash
# A throw-away PostgreSQL for tests and benchmarks, on a private port and socket directory.
#   scripts/postgres.sh start DIR [fast]  -> prints a connection string; "fast" turns fsync off (tests only)
#   scripts/postgres.sh stop DIR
#   scripts/postgres.sh pause DIR         -> stops the server as an operator would (fast), keeping its data and port
#   scripts/postgres.sh resume DIR        -> starts it again where it was
# Uses Debian's postgresql package, installing it when no server binaries are present.
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?directory}

pg_bin() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$bin" ]; then
    echo "postgres: installing Debian's postgresql package" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  echo "$bin"
}

# PostgreSQL refuses to run as root: run it as the postgres user when we are root.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

source "$(dirname "$0")/free-port.sh"

case "$cmd" in
  start)
    bin=$(pg_bin)
    mkdir -p "$dir/sock"
    [ "$(id -u)" = 0 ] && { id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres; chown -R postgres "$dir"; }
    as_owner "$bin/initdb" -D "$dir/data" -A trust -U postgres --no-sync >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    # A port found free can be taken before the server binds it: try a few.
    for attempt in 1 2 3 4 5; do
      port=$(free_port)
      opts="-p $port -k $dir/sock -c listen_addresses=127.0.0.1 -c max_connections=400 -c shared_buffers=256MB"
      [ "${3:-}" = fast ] && opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
      as_owner "$bin/pg_ctl" -D "$dir/data" -o "$opts" -l "$dir/server.log" -w -t 60 start >/dev/null && break
      [ "$attempt" = 5 ] && { cat "$dir/server.log" >&2; exit 1; }
      echo "postgres: could not start on port $port; trying another" >&2
    done
    echo "$port" >"$dir/port"
    echo "$opts" >"$dir/opts"
    echo "Host=127.0.0.1;Port=$port;Username=postgres;Database=postgres;Maximum Pool Size=200"
    ;;
  stop)
    bin=$(pg_bin)
    [ -d "$dir/data" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    ;;
  pause)
    bin=$(pg_bin)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
  resume)
    bin=$(pg_bin)
    as_owner "$bin/pg_ctl" -D "$dir/data" -o "$(cat "$dir/opts")" -l "$dir/server.log" -w -t 60 start >/dev/null
    ;;
  *) echo "usage: $0 start|stop|pause|resume DIR" >&2; exit 2 ;;
esac
