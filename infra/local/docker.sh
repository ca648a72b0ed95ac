#!/usr/bin/env bash
# `make docker`: makes a Docker engine available for SAM CLI, idempotently. On machines like
# these (no engine, root, no registry access) it installs Debian's docker.io and starts dockerd
# with the vfs storage driver; the official Lambda images cannot be pulled, so sam.sh builds a
# minimal local image instead.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
log() { printf '[docker] %s\n' "$*" >&2; }

if docker info >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  log "no Docker engine is running and this is not root: start Docker yourself, then retry"
  exit 1
fi
if ! command -v dockerd >/dev/null 2>&1; then
  log "installing docker.io (Debian)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi
mkdir -p "$root/.local/logs"
log "starting dockerd (storage driver vfs); log: .local/logs/dockerd.log"
nohup dockerd --storage-driver=vfs >"$root/.local/logs/dockerd.log" 2>&1 &
for _ in $(seq 1 120); do
  if docker info >/dev/null 2>&1; then log "Docker engine up"; exit 0; fi
  sleep 0.5
done
log "dockerd did not come up; its log:"
tail -n 40 "$root/.local/logs/dockerd.log" >&2
exit 1
