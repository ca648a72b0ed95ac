#!/usr/bin/env bash
# `make test`: installs what is missing, starts DynamoDB Local, the SQS stand-in and the devstack
# (its own test template, under cargo-lambda) on free ports, runs every suite, stops them and
# prints how long each suite took. Exits non-zero if any failed. Docker-free (see make test-sam).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
# shellcheck source=infra/local/services.sh
source "$root/infra/local/services.sh"

started=$(date +%s)
"$root/infra/local/install.sh" || { echo "[test] install failed" >&2; exit 1; }

dynamodb_port=$(free_port)
moto_port=$(free_port)
devstack_port=$(free_port)
emulator_port=$(free_port)
app_port=$(free_port)
app_emulator_port=$(free_port)
trap stop_services EXIT
start_dynamodb "$dynamodb_port"
start_moto "$moto_port"

# The SDKs talk only to the local components, with throwaway credentials.
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$dynamodb_port"
export AWS_ENDPOINT_URL_SQS="http://127.0.0.1:$moto_port"
export AWS_REGION=cn-north-1 AWS_DEFAULT_REGION=cn-north-1
export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_EC2_METADATA_DISABLED=true
export SAM_CLI_TELEMETRY=0 CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
export PATH="$root/.local/venv/bin:$PATH" # cargo-lambda, sam, moto_server
export DEVSTACK_URL="http://127.0.0.1:$devstack_port"
export LINLI_URL="http://127.0.0.1:$app_port"

names=() seconds=() results=()
suite() {
  local name=$1; shift
  echo
  echo "=== $name: $*"
  local t0 t1 rc
  t0=$(date +%s.%N)
  "$@"
  rc=$?
  t1=$(date +%s.%N)
  names+=("$name")
  seconds+=("$(python3 -c "print(f'{$t1 - $t0:.1f}')")")
  if [ $rc -eq 0 ]; then results+=(ok); else results+=("FAILED ($rc)"); fi
}

if cargo nextest --version >/dev/null 2>&1; then
  run_tests() { cargo nextest run --workspace --no-fail-fast --failure-output final -E "$1"; }
else
  run_tests() { # without nextest: the same split with cargo test
    case "$1" in
      'kind(lib)') cargo test --workspace --lib ;;
      *linli-devstack*) cargo test -p linli-devstack --test '*' ;;
      *'!binary(pay_api_v3)'*) # every file but pay_api_v3, which needs the v3 stack
        local t rc=0
        for t in tests/tests/*.rs; do
          t=$(basename "$t" .rs)
          [ "$t" = pay_api_v3 ] || cargo test -p linli-e2e --test "$t" -- --test-threads=1 || rc=1
        done
        return $rc ;;
      *'binary(pay_api_v3)'*) cargo test -p linli-e2e --test pay_api_v3 -- --test-threads=1 ;;
      *) cargo test -p linli -p linli-admin -p linli-sim --test '*' ;;
    esac
  }
fi

suite "format" cargo fmt --all -- --check
suite "template lint" "$root/.local/venv/bin/sam" validate --lint --region cn-north-1 -t "$root/template.yaml"
suite "clippy" cargo clippy --workspace --all-targets --locked -- -D warnings
suite "build tests and functions" bash -c "cargo test --workspace --locked --no-run && cargo build --workspace --bins --locked"
suite "unit + simulation (pure core, devstack)" run_tests 'kind(lib)'
suite "wait for DynamoDB Local + SQS stand-in" bash -c "source '$root/infra/local/services.sh'; wait_for_port $dynamodb_port dynamodb && wait_for_port $moto_port moto"
suite "adapters + fault simulation (DynamoDB Local, SQS stand-in)" run_tests '(package(linli) | package(linli-admin) | package(linli-sim)) & kind(test)'
start_devstack devstack-test --template infra/devstack/tests/template.yaml --port "$devstack_port" \
  --emulator cargo-lambda --emulator-port "$emulator_port" --env-file infra/devstack/tests/test.env
suite "devstack start (cargo-lambda)" wait_for_health "$DEVSTACK_URL/_local/health" devstack-test 300
suite "devstack end to end (cargo-lambda)" run_tests 'package(linli-devstack) & kind(test)'
start_devstack devstack-app --template template.yaml --port "$app_port" --stack-name linli-e2e \
  --emulator cargo-lambda --emulator-port "$app_emulator_port" --env-file infra/local/local.env
app_pid=${services_pids[-1]}
suite "Linli start (template.yaml, cargo-lambda)" wait_for_health "$LINLI_URL/_local/health" devstack-app 300
suite "functions end to end (template.yaml)" run_tests 'package(linli-e2e) & !binary(pay_api_v3)'
# Pay API v3 (payments and refunds): the same template, WECHAT_PAY_API=v3 over the env file, its
# own stack name (tables and queues), for the one file that expects it.
kill "$app_pid" 2>/dev/null; wait "$app_pid" 2>/dev/null
v3_port=$(free_port)
v3_emulator_port=$(free_port)
export LINLI_URL="http://127.0.0.1:$v3_port"
WECHAT_PAY_API=v3 start_devstack devstack-app-v3 --template template.yaml --port "$v3_port" \
  --stack-name linli-e2e-v3 --emulator cargo-lambda --emulator-port "$v3_emulator_port" \
  --env-file infra/local/local.env
suite "Linli start (WECHAT_PAY_API=v3)" wait_for_health "$LINLI_URL/_local/health" devstack-app-v3 300
suite "Pay API v3 end to end" run_tests 'package(linli-e2e) & binary(pay_api_v3)'

echo
echo "=== suite timings"
failed=0
for i in "${!names[@]}"; do
  printf '  %-42s %7ss  %s\n' "${names[$i]}" "${seconds[$i]}" "${results[$i]}"
  [ "${results[$i]}" = ok ] || failed=1
done
printf '  %-42s %7ss\n' "total (with install)" "$(( $(date +%s) - started ))"
if [ $failed -ne 0 ]; then echo "make test: FAILED"; exit 1; fi
echo "make test: all suites passed"
