#!/usr/bin/env bash
# `make up`: installs what is missing, then starts the whole system locally — DynamoDB Local on
# 127.0.0.1:8000, the SQS stand-in (moto) on 127.0.0.1:9324, the Lambda emulator and the devstack
# on 127.0.0.1:3000 — loads the demo data, prints the URLs and stays in the foreground with one
# merged log until Ctrl-C, then stops everything it started.
#   EMULATOR=cargo-lambda (default): `cargo lambda watch`, Invoke API on 127.0.0.1:9000
#   EMULATOR=sam: SAM CLI in Docker (`make docker` first), Invoke API on 127.0.0.1:3001
# Configuration: infra/local/local.env (fake test values); variables set in your environment win.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
# shellcheck source=infra/local/services.sh
source "$root/infra/local/services.sh"

emulator=${EMULATOR:-cargo-lambda}
case "$emulator" in
  cargo-lambda) emulator_port=9000 ;;
  sam) emulator_port=3001 ;;
  *) echo "[up] EMULATOR must be cargo-lambda or sam, not $emulator" >&2; exit 2 ;;
esac
started=$(date +%s)

"$root/infra/local/install.sh" || { echo "[up] install failed" >&2; exit 1; }

for spec in "8000:DynamoDB Local" "9324:SQS stand-in (moto)" "3000:devstack" "$emulator_port:Lambda emulator ($emulator)"; do
  port=${spec%%:*}
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "[up] port $port (${spec#*:}) is taken: stop what listens there (e.g. an earlier make up) and retry" >&2
    exit 1
  fi
done

echo "[up] building the functions and the devstack (first time: a few minutes)"
cargo build --workspace --bins --locked || { echo "[up] build failed" >&2; exit 1; }

export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:8000
export AWS_ENDPOINT_URL_SQS=http://127.0.0.1:9324
export AWS_REGION=${AWS_REGION:-cn-north-1} AWS_DEFAULT_REGION=${AWS_REGION:-cn-north-1}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-local} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-local}
export AWS_EC2_METADATA_DISABLED=true SAM_CLI_TELEMETRY=0
export PATH="$root/.local/venv/bin:$PATH"

cleanup() {
  stop_services
  [ "$emulator" = sam ] && remove_sam_containers
  echo "[up] stopped"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

moto_host=127.0.0.1
devstack_args=(--template template.yaml --port 3000 --emulator "$emulator" --emulator-port "$emulator_port"
  --env-file infra/local/local.env)
if [ "$emulator" = sam ]; then
  "$root/infra/local/docker.sh" || exit 1
  "$root/infra/local/sam.sh" image || exit 1
  # Functions run in containers on Docker's bridge: moto and the devstack listen beyond loopback.
  moto_host=0.0.0.0
  devstack_args+=(--bind 0.0.0.0 --container-host "$(docker_bridge_gateway)")
fi
start_dynamodb 8000
start_moto 9324 "$moto_host"
wait_for_port 8000 dynamodb || exit 1
wait_for_port 9324 moto || exit 1

# The devstack runs in the foreground of the log: its lines and the functions' ([lambda]) lines.
"$root/target/debug/devstack" "${devstack_args[@]}" &
devstack_pid=$!
services_pids+=("$devstack_pid")

healthy=0
for _ in $(seq 1 300); do
  kill -0 "$devstack_pid" 2>/dev/null || break # it stopped: its error is above
  if wait_for_health http://127.0.0.1:3000/_local/health devstack 1 2>/dev/null; then healthy=1; break; fi
done
if [ $healthy -eq 1 ]; then
  "$root/infra/local/demo.sh" http://127.0.0.1:3000 || echo "[up] demo data failed: see above" >&2
  cat <<MSG

[up] Linli is up in $(( $(date +%s) - started )) s ($emulator):
[up]   API (HttpApi routes)  http://127.0.0.1:3000
[up]   health                http://127.0.0.1:3000/_local/health
[up]   what is served        http://127.0.0.1:3000/_local/stack
[up]   clock                 GET/POST http://127.0.0.1:3000/_local/clock  {"advance": "25m"}
[up]   DynamoDB Local        http://127.0.0.1:8000     SQS (moto) http://127.0.0.1:9324
[up]   Lambda Invoke API     http://127.0.0.1:$emulator_port
[up] Logs: here (devstack and [lambda] lines); DynamoDB/moto in .local/logs/. Ctrl-C stops everything.

MSG
else
  echo "[up] the devstack did not become healthy" >&2
  exit 1
fi
wait "$devstack_pid"
