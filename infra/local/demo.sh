#!/usr/bin/env bash
# Demo data for `make up`, loaded once the devstack is healthy: $1 is its base URL.
# The catalog (3 stores, ~20 SKUs) and demo members arrive with the first vertical slice (#5).
set -euo pipefail
base=${1:-http://127.0.0.1:3000}
echo "[demo] no demo data yet (it arrives with issue #5); stack at $base"
