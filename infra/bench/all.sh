#!/usr/bin/env bash
# `make bench [SKIP_SIZES=1] [BURST="10000 64 2000"]`: every figure of DESIGN §10 measured in one
# run on this machine, each beside its reference, printed as one table (infra/bench/table.py):
#   1. CPU per encrypted OA push and per Pay v2 notify: criterion (optimised) vs wechatpy;
#   2. cold start through a local Lambda Runtime API (infra/bench/coldstart.py): the release
#      wechat-callback vs the same callback in Python (boto3 + wechatpy), RSS, warm p50/p99;
#   3. release arm64 bootstrap per function (cargo-lambda with zig; skipped with SKIP_SIZES=1);
#   4. a sign-in burst through the local stack (tests/src/bin/signin_burst.rs);
#   5. DynamoDB WRU/RRU per business operation, through a stack whose functions reach DynamoDB
#      Local through the metering proxy (infra/bench/wru_meter.py, tests/src/bin/wru_ops.rs).
# Release and cross builds happen only here, never in `make test`. Figures land in
# target/bench/results/*.json. Installs what is missing (the first run builds for a while).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
# shellcheck source=infra/local/services.sh
source "$root/infra/local/services.sh"
"$root/infra/local/install.sh" || { echo "[bench] install failed" >&2; exit 1; }
export PATH="$root/.local/venv/bin:$PATH"
target="${CARGO_TARGET_DIR:-$root/target}"
results="$target/bench/results"
rm -rf "$results" && mkdir -p "$results"
step() { echo; echo "=== [bench] $*" >&2; }

venv="$root/.local/bench-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import wechatpy, cryptography, boto3' 2>/dev/null; then
  step "installing wechatpy and boto3 into .local/bench-venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "wechatpy==1.8.18" "cryptography>=42" "boto3>=1.35" || exit 1
fi

step "1. CPU: criterion (optimised build) and wechatpy on the same inputs"
benched=$(cargo bench --locked -p linli --bench oa_callback -- --output-format bencher oa_encrypted_text_path 2>/dev/null &&
  cargo bench --locked -p linli --bench pay_notify -- --output-format bencher pay_v2_notify_path 2>/dev/null) ||
  { echo "[bench] cargo bench failed" >&2; exit 1; }
ns() { echo "$benched" | grep "$1" | sed -E 's/.*bench: *([0-9,]+) ns.*/\1/' | tr -d ,; }
oa_py=$("$venv/bin/python" infra/bench/oa_wechatpy.py "$target/bench/oa-input.json") || exit 1
pay_py=$("$venv/bin/python" infra/bench/pay_wechatpy.py "$target/bench/pay-input.json") || exit 1
printf '{"oa_linli_ns": %s, "oa_wechatpy_us": %s, "pay_linli_ns": %s, "pay_wechatpy_us": %s}\n' \
  "$(ns oa_encrypted_text_path)" "$oa_py" "$(ns pay_v2_notify_path)" "$pay_py" >"$results/cpu.json"

step "2. cold start: release wechat-callback vs Python (boto3 + wechatpy), same Runtime API"
cargo build --locked --release -p wechat-callback || exit 1
oa_env=(--env WECHAT_OA_TOKEN=linlilocaltoken --env WECHAT_OA_ENCODING_AES_KEY=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG
  --env WECHAT_OA_APP_ID=wxlocaloa00000001)
fn_env=(--env-file infra/local/local.env --env TABLE_LEDGER=Ledger --env TABLE_CATALOG=Catalog --env TABLE_DEDUP=Dedup
  --env QUEUE_POINTS_POSTINGS=http://127.0.0.1:9/points --env AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:9
  --env AWS_ENDPOINT_URL_SQS=http://127.0.0.1:9)
cold() { "$venv/bin/python" infra/bench/coldstart.py --event events/wechat-callback/verify.json --expect linli-echo-check \
  --runs 5 --warm 1000 "$@" | tail -n 1; }
cold --name wechat-callback "${fn_env[@]}" -- "$target/release/wechat-callback" >"$results/cold-linli.json" || exit 1
cold --name py-callback "${oa_env[@]}" --env AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:9 \
  -- "$venv/bin/python" infra/bench/py_callback/bootstrap.py >"$results/cold-python.json" || exit 1

if [ "${SKIP_SIZES:-0}" = 1 ]; then
  step "3. arm64 sizes: skipped (SKIP_SIZES=1)"
else
  step "3. release arm64 bootstraps (cargo-lambda + zig, thin LTO; long the first time)"
  if command -v rustup >/dev/null && ! rustup target list --installed | grep -q aarch64-unknown-linux-gnu; then
    rustup target add aarch64-unknown-linux-gnu || exit 1
  fi
  packages=()
  for f in functions/*/Cargo.toml; do packages+=(-p "$(basename "$(dirname "$f")")"); done
  cargo lambda build --release --arm64 --locked "${packages[@]}" || exit 1
  python3 - "$target/lambda" functions >"$results/sizes.json" <<'PY'
import json, os, sys
lambda_dir, functions = sys.argv[1], sys.argv[2]
sizes = {}
for name in sorted(os.listdir(functions)):
    boot = os.path.join(lambda_dir, name, "bootstrap")
    if os.path.isfile(boot):
        sizes[name] = os.path.getsize(boot)
print(json.dumps(sizes))
PY
fi

step "4–5. local stack: sign-in burst, then WRU per operation through the meter"
dynamodb_port=$(free_port) moto_port=$(free_port) meter_port=$(free_port)
app_port=$(free_port) app_emulator=$(free_port) wru_port=$(free_port) wru_emulator=$(free_port)
trap stop_services EXIT
DYNAMODB_HEAP=1g start_dynamodb "$dynamodb_port"
start_moto "$moto_port"
export AWS_REGION=cn-north-1 AWS_DEFAULT_REGION=cn-north-1
export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_EC2_METADATA_DISABLED=true
export AWS_ENDPOINT_URL_SQS="http://127.0.0.1:$moto_port"
cargo build --locked --workspace --bins || exit 1
wait_for_port "$dynamodb_port" dynamodb && wait_for_port "$moto_port" moto || exit 1

export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$dynamodb_port"
export LINLI_URL="http://127.0.0.1:$app_port" DEVSTACK_URL="http://127.0.0.1:$app_port"
start_devstack devstack-bench --template template.yaml --port "$app_port" --stack-name linli-bench \
  --emulator cargo-lambda --emulator-port "$app_emulator" --env-file infra/local/local.env
wait_for_health "$LINLI_URL/_local/health" devstack-bench 300 || exit 1
# shellcheck disable=SC2086 # BURST is a list of numbers
"$target/debug/signin_burst" ${BURST:-10000 64 2000} | tail -n 1 >"$results/burst.json" || exit 1

python3 infra/bench/wru_meter.py "$meter_port" "http://127.0.0.1:$dynamodb_port" >"$services_logs/wru-meter.log" 2>&1 &
services_pids+=($!)
wait_for_port "$meter_port" wru-meter || exit 1
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$meter_port" METER_URL="http://127.0.0.1:$meter_port"
export LINLI_URL="http://127.0.0.1:$wru_port" DEVSTACK_URL="http://127.0.0.1:$wru_port"
start_devstack devstack-wru --template template.yaml --port "$wru_port" --stack-name linli-wru \
  --emulator cargo-lambda --emulator-port "$wru_emulator" --env-file infra/local/local.env
wait_for_health "$LINLI_URL/_local/health" devstack-wru 300 || exit 1
# The driver's own reads (waiting for each effect) go straight to DynamoDB Local, unmetered.
AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$dynamodb_port" "$target/debug/wru_ops" | tail -n 1 >"$results/wru.json" || exit 1

step "the table"
python3 infra/bench/table.py "$results"
