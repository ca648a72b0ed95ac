# Starts and stops the local components (sourced by test.sh, and by `make up` later).
#   start_dynamodb <port>   DynamoDB Local, in memory (heap DYNAMODB_HEAP, 512m by default)
#   start_moto <port> [host] moto's server: the SQS stand-in (host 0.0.0.0 when containers need it)
#   wait_for_port <port> <name>
#   stop_services           stops what this shell started
# Logs go to .local/logs/<name>.log.

services_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
services_logs="$services_root/.local/logs"
services_pids=()

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start_dynamodb() {
  local port=$1 dir="$services_root/.local/dynamodb"
  mkdir -p "$services_logs"
  (cd "$dir" && exec java -Xms64m -Xmx"${DYNAMODB_HEAP:-512m}" -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar \
    -inMemory -port "$port" -disableTelemetry) >"$services_logs/dynamodb.log" 2>&1 &
  services_pids+=($!)
}

start_moto() {
  local port=$1 host=${2:-127.0.0.1}
  mkdir -p "$services_logs"
  "$services_root/.local/venv/bin/moto_server" -H "$host" -p "$port" >"$services_logs/moto.log" 2>&1 &
  services_pids+=($!)
}

# Waits until something listens on 127.0.0.1:<port>, at most 60 s.
wait_for_port() {
  local port=$1 name=$2 i
  for i in $(seq 1 600); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "[services] $name did not start on port $port; its log:" >&2
  tail -n 40 "$services_logs/$name.log" >&2 || true
  return 1
}

stop_services() {
  local pid
  for pid in "${services_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${services_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  services_pids=()
}

# Starts the devstack in the background: start_devstack <log name> <devstack args…>
start_devstack() {
  local name=$1; shift
  mkdir -p "$services_logs"
  "$services_root/target/debug/devstack" "$@" >"$services_logs/$name.log" 2>&1 &
  services_pids+=($!)
}

# Waits until <url> answers 200, at most <seconds> (default 300); prints the log on failure.
wait_for_health() {
  local url=$1 name=$2 limit=${3:-300}
  if python3 - "$url" "$limit" <<'PY'
import sys, time, urllib.request
url, limit = sys.argv[1], float(sys.argv[2])
deadline = time.time() + limit
while time.time() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            if r.status == 200:
                sys.exit(0)
    except Exception:
        pass
    time.sleep(0.2)
sys.exit(1)
PY
  then return 0; fi
  echo "[services] $name not healthy at $url; its log:" >&2
  tail -n 60 "$services_logs/$name.log" >&2 || true
  return 1
}

# The address containers reach the host at: the Docker bridge's gateway.
docker_bridge_gateway() {
  local gw
  gw=$(docker network inspect bridge -f '{{(index .IPAM.Config 0).Gateway}}' 2>/dev/null || true)
  [ -z "$gw" ] && gw=$(ip -4 -o addr show docker0 2>/dev/null | awk '{print $4}' | cut -d/ -f1)
  echo "${gw:-172.17.0.1}"
}

# Removes SAM CLI's function containers left behind by an emulator that did not stop cleanly.
remove_sam_containers() {
  command -v docker >/dev/null 2>&1 || return 0
  local left
  left=$(docker ps -aq --filter ancestor=linli-lambda-local:rapid-x86_64 2>/dev/null)
  [ -n "$left" ] && docker rm -f $left >/dev/null 2>&1 && echo "[services] removed leftover SAM containers" >&2
  return 0
}
