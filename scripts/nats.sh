#!/usr/bin/env bash
# A throw-away NATS server for tests and benchmarks, on a private loopback port.
#   scripts/nats.sh start DIR   -> prints its URL (nats://127.0.0.1:PORT); the port is kept in DIR/port
#   scripts/nats.sh stop DIR
#   scripts/nats.sh path        -> prints the nats-server binary, installing it first when missing
# Uses Debian's nats-server package, installing it when the binary is not on the machine.
set -euo pipefail
cmd=${1:?start|stop|path}

server_bin() {
  local bin
  bin=$(command -v nats-server || ls /usr/sbin/nats-server /usr/bin/nats-server 2>/dev/null | head -n 1 || true)
  if [ -z "$bin" ]; then
    echo "nats: installing Debian's nats-server package" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq nats-server >&2
    bin=$(command -v nats-server || ls /usr/sbin/nats-server)
  fi
  echo "$bin"
}

source "$(dirname "$0")/free-port.sh"

case "$cmd" in
  path)
    server_bin
    ;;
  start)
    dir=${2:?directory}
    mkdir -p "$dir"
    bin=$(server_bin)
    for _ in 1 2 3; do
      port=$(free_port)
      "$bin" -a 127.0.0.1 -p "$port" -P "$dir/pid" -l "$dir/log" >/dev/null 2>&1 &
      for _ in $(seq 1 50); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
          echo "$port" >"$dir/port"
          echo "nats://127.0.0.1:$port"
          exit 0
        fi
        sleep 0.1
      done
      echo "nats: could not start on port $port; trying another" >&2
      [ -f "$dir/pid" ] && kill "$(cat "$dir/pid")" 2>/dev/null || true
    done
    exit 1
    ;;
  stop)
    dir=${2:?directory}
    if [ -f "$dir/pid" ]; then
      kill "$(cat "$dir/pid")" 2>/dev/null || true
      rm -f "$dir/pid"
    fi
    ;;
  *)
    echo "usage: $0 start DIR | stop DIR | path" >&2; exit 2
    ;;
esac
