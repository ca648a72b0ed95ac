#!/usr/bin/env bash
# SAM CLI as the Lambda emulator (DESIGN §8), Docker required (`make docker`).
#   sam.sh image                  build the minimal local image (the official images cannot be pulled here)
#   sam.sh test                   `make test-sam`: the devstack's end-to-end suite with functions under SAM CLI
#   sam.sh invoke <LogicalId> <event.json> [template]
#                                 `make invoke`: one `sam local invoke` of a function of the running stack
# The devstack itself writes the local template (CodeUri → the built binaries, x86_64) and the
# functions' environment into .local/sam/<stack>/ and starts `sam local start-lambda` (EMULATOR=sam).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
# shellcheck source=infra/local/services.sh
source "$root/infra/local/services.sh"
export PATH="$root/.local/venv/bin:$PATH" SAM_CLI_TELEMETRY=0
IMAGE=linli-lambda-local:x86_64
log() { printf '[sam] %s\n' "$*" >&2; }

# A rootfs with what a Rust bootstrap needs (its shared libraries, CA certificates) and what
# SAM's image build runs (/bin/sh, mv, chmod, cp, rm), imported as an image.
build_image() {
  if docker image inspect "$IMAGE" >/dev/null 2>&1; then return 0; fi
  log "building $IMAGE from this machine's libraries"
  local rootfs; rootfs=$(mktemp -d)
  mkdir -p "$rootfs"/{bin,tmp,var/task,var/runtime,var/rapid,opt,etc/ssl/certs}
  chmod 1777 "$rootfs/tmp"
  local tools=(/bin/sh /bin/mv /bin/chmod /bin/cp /bin/rm /bin/mkdir)
  local binaries=("${tools[@]}")
  local any_bin; any_bin=$(ls target/debug/devstack 2>/dev/null || true)
  [ -n "$any_bin" ] && binaries+=("$any_bin")
  for t in "${tools[@]}"; do cp -L "$t" "$rootfs/bin/"; done
  for b in "${binaries[@]}"; do
    ldd "$b" 2>/dev/null | grep -oE '/[^ ]+' | while read -r lib; do
      mkdir -p "$rootfs$(dirname "$lib")"
      cp -L "$lib" "$rootfs$lib"
    done
  done
  cp -L /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/" 2>/dev/null || true
  echo "root:x:0:0:root:/root:/bin/sh" >"$rootfs/etc/passwd"
  tar -C "$rootfs" -c . | docker import --change 'ENV PATH=/bin:/usr/bin' --change 'WORKDIR /var/task' - "$IMAGE" >/dev/null
  rm -rf "$rootfs"
  log "image $IMAGE ready"
}

case "${1:-}" in
  image)
    build_image
    ;;
  test)
    build_image || exit 1
    cargo build --workspace --bins --locked || exit 1
    cargo test -p linli-devstack --no-run --locked || exit 1
    "$root/infra/local/install.sh" || exit 1
    trap 'stop_services; remove_sam_containers' EXIT
    dynamodb_port=$(free_port); moto_port=$(free_port); devstack_port=$(free_port); emulator_port=$(free_port)
    gateway=$(docker_bridge_gateway)
    # Functions run in containers on Docker's bridge: moto and the devstack listen beyond loopback.
    start_dynamodb "$dynamodb_port"; start_moto "$moto_port" 0.0.0.0
    wait_for_port "$dynamodb_port" dynamodb && wait_for_port "$moto_port" moto || exit 1
    export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$dynamodb_port" AWS_ENDPOINT_URL_SQS="http://127.0.0.1:$moto_port"
    export AWS_REGION=cn-north-1 AWS_DEFAULT_REGION=cn-north-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
    export AWS_EC2_METADATA_DISABLED=true DEVSTACK_URL="http://127.0.0.1:$devstack_port"
    t0=$(date +%s)
    start_devstack devstack-sam --template infra/devstack/tests/template.yaml --port "$devstack_port" \
      --emulator sam --emulator-port "$emulator_port" --env-file infra/devstack/tests/test.env --stack-name linli-sam-test \
      --bind 0.0.0.0 --container-host "$gateway"
    wait_for_health "$DEVSTACK_URL/_local/health" devstack-sam 600 || exit 1
    log "stack healthy under SAM CLI in $(( $(date +%s) - t0 )) s"
    t0=$(date +%s)
    if cargo nextest --version >/dev/null 2>&1; then
      cargo nextest run -p linli-devstack -E 'kind(test)' --no-fail-fast --failure-output final
    else
      cargo test -p linli-devstack --test '*'
    fi
    rc=$?
    log "end-to-end suite under SAM CLI: $(( $(date +%s) - t0 )) s, exit $rc (devstack log: .local/logs/devstack-sam.log)"
    exit $rc
    ;;
  invoke)
    fn=${2:-}; event=${3:-}; stack=${4:-linli-local}
    if [ -z "$fn" ] || [ -z "$event" ]; then log "usage: make invoke FN=<LogicalId> EVENT=events/<function>/<file>.json"; exit 2; fi
    [ -f "$event" ] || { log "no event file $event"; exit 2; }
    dir="$root/.local/sam/$stack"
    if [ ! -f "$dir/template.yaml" ]; then
      log "no $dir/template.yaml: start the stack first (make up, or make up EMULATOR=sam) so the devstack writes it"
      exit 2
    fi
    build_image || exit 1
    # The container reaches the host's DynamoDB Local, SQS stand-in and stand-ins through the
    # Docker bridge, not 127.0.0.1.
    gateway=$(docker_bridge_gateway)
    env_file=$(mktemp)
    sed "s/127\.0\.0\.1/$gateway/g" "$dir/env.json" >"$env_file"
    sam local invoke "$fn" -t "$dir/template.yaml" -e "$event" --env-vars "$env_file" \
      --invoke-image "$IMAGE" --skip-pull-image
    rc=$?
    rm -f "$env_file"
    exit $rc
    ;;
  *)
    log "usage: sam.sh image | test | invoke <LogicalId> <event.json>"; exit 2 ;;
esac
