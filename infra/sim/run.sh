#!/usr/bin/env bash
# `make sim [SEED=n] [EVENTS=n] [MEMBERS=n]`: one seeded fault simulation (infra/sim) over a
# DynamoDB Local of its own. Prints causes, faults and checks; exits 1 on any violation, and the
# same SEED and EVENTS reproduce the run. Installs what is missing.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
# shellcheck source=infra/local/services.sh
source "$root/infra/local/services.sh"
"$root/infra/local/install.sh" || { echo "[sim] install failed" >&2; exit 1; }

dynamodb_port=$(free_port)
trap stop_services EXIT
start_dynamodb "$dynamodb_port"
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$dynamodb_port"
export AWS_REGION=cn-north-1 AWS_DEFAULT_REGION=cn-north-1
export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_EC2_METADATA_DISABLED=true
cargo build -p linli-sim --bin linli-sim --locked || exit 1
wait_for_port "$dynamodb_port" dynamodb || exit 1
"${CARGO_TARGET_DIR:-$root/target}/debug/linli-sim" --seed "${SEED:-1}" --events "${EVENTS:-5000}" --members "${MEMBERS:-12}"
