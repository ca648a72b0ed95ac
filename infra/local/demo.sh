#!/usr/bin/env bash
# Demo data for `make up`, loaded once the devstack is healthy: $1 is its base URL.
# Three stores in Shanghai with ~20 SKUs (infra/local/demo.json) and two demo members' login codes.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
base=${1:-http://127.0.0.1:3000}
"$root/target/debug/devstack" load-demo "$root/infra/local/demo.json" "$base"
