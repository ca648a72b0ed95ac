#!/usr/bin/env bash
# Installs what the local components need into .local/ (git-ignored), idempotently:
#   - DynamoDB Local: AWS's jar, shipped inside the npm package amplify-dynamodb-simulator
#     (only its tarball is fetched with `npm pack`; its JS dependencies are not needed);
#   - a Python venv with moto[server] (the SQS stand-in), aws-sam-cli (template lint, SAM local)
#     and cargo-lambda (the default Lambda emulator: `cargo lambda watch`);
#   - Java 17 from Debian's packages when no `java` is on PATH.
# Usage: infra/local/install.sh [dynamodb] [python]   (no argument: everything)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
local_dir="$root/.local"
mkdir -p "$local_dir"

DYNAMODB_SIMULATOR_VERSION=2.9.30 # ships DynamoDB Local 1.25.1
PY_PACKAGES=("moto[server]==5.2.5" "aws-sam-cli==1.170.0" "cargo-lambda==1.9.2")

log() { printf '[install] %s\n' "$*" >&2; }

install_java() {
  command -v java >/dev/null 2>&1 && return 0
  log "java not found: installing openjdk-17-jre-headless"
  apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless >/dev/null
}

install_dynamodb() {
  install_java
  local dest="$local_dir/dynamodb"
  [ -f "$dest/DynamoDBLocal.jar" ] && return 0
  command -v npm >/dev/null 2>&1 || { log "npm is required to fetch DynamoDB Local"; exit 1; }
  log "fetching DynamoDB Local (amplify-dynamodb-simulator@$DYNAMODB_SIMULATOR_VERSION)"
  local tmp; tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "amplify-dynamodb-simulator@$DYNAMODB_SIMULATOR_VERSION" >/dev/null)
  tar -xzf "$tmp"/amplify-dynamodb-simulator-*.tgz -C "$tmp"
  rm -rf "$dest.partial" && mv "$tmp/package/emulator" "$dest.partial"
  mv "$dest.partial" "$dest"
  rm -rf "$tmp"
}

install_python() {
  local venv="$local_dir/venv" stamp="$local_dir/venv/.linli-packages"
  local want="${PY_PACKAGES[*]}"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  log "creating Python venv with: $want"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${PY_PACKAGES[@]}"
  printf '%s' "$want" >"$stamp"
}

what=("$@")
[ ${#what[@]} -eq 0 ] && what=(dynamodb python)
for w in "${what[@]}"; do
  case "$w" in
    dynamodb) install_dynamodb ;;
    python) install_python ;;
    *) log "unknown component: $w"; exit 2 ;;
  esac
done
