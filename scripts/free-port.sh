# Sourced by the scripts that start a throw-away server: free_port prints a loopback port no one
# listens on now, below the kernel's ephemeral range (32768 and up by default), where it is
# unlikely to be taken by an outgoing connection before the server binds it.
free_port() {
  local port
  for _ in $(seq 1 50); do
    port=$(( 20000 + RANDOM % 12000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
  done
  echo "no free port found" >&2; exit 1
}
