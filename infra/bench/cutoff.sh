#!/usr/bin/env bash
# `make bench-cutoff [LINES="1000 10000 100000"]`: a group-buy round's cutoff at each size
# through a local stack of its own (DynamoDB Local, the SQS stand-in, the devstack serving
# template.yaml under cargo-lambda, debug builds as in `make test`): seconds until the pages are
# drained and until the round is closed, and the function's peak memory (tests/src/bin/cutoff_bench.rs).
# Installs what is missing; the 100k size takes about 10–15 minutes on 2 cores.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
# shellcheck source=infra/local/services.sh
source "$root/infra/local/services.sh"
"$root/infra/local/install.sh" || { echo "[bench] install failed" >&2; exit 1; }

dynamodb_port=$(free_port)
moto_port=$(free_port)
app_port=$(free_port)
emulator_port=$(free_port)
trap stop_services EXIT
# 100,000 lines and their outputs stay in DynamoDB Local's memory.
DYNAMODB_HEAP=2g start_dynamodb "$dynamodb_port"
start_moto "$moto_port"
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$dynamodb_port"
export AWS_ENDPOINT_URL_SQS="http://127.0.0.1:$moto_port"
export AWS_REGION=cn-north-1 AWS_DEFAULT_REGION=cn-north-1
export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_EC2_METADATA_DISABLED=true
export PATH="$root/.local/venv/bin:$PATH"
export LINLI_URL="http://127.0.0.1:$app_port" DEVSTACK_URL="http://127.0.0.1:$app_port"

cargo build --workspace --bins --locked || exit 1
wait_for_port "$dynamodb_port" dynamodb && wait_for_port "$moto_port" moto || exit 1
start_devstack devstack-bench --template template.yaml --port "$app_port" --stack-name linli-bench \
  --emulator cargo-lambda --emulator-port "$emulator_port" --env-file infra/local/local.env
wait_for_health "$LINLI_URL/_local/health" devstack-bench 300 || exit 1
# shellcheck disable=SC2086 # LINES is a list of sizes
"$root/target/debug/cutoff_bench" ${LINES:-1000 10000 100000}
