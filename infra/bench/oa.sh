#!/usr/bin/env bash
# `make bench-oa`: the encrypted Official Account path (verify + decrypt + parse + decide +
# encrypted reply, no I/O) in Linli (criterion, optimised build) and in wechatpy (installed into
# .local/bench-venv), the same message, in one run, side by side (DESIGN §10: ≤ 3 µs, ≥ 20×).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
venv="$root/.local/bench-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import wechatpy, cryptography' 2>/dev/null; then
  echo "[bench] installing wechatpy into .local/bench-venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "wechatpy==1.8.18" "cryptography>=42"
fi
echo "[bench] Linli (criterion; the first run builds optimised code, a few minutes)"
line=$(cargo bench -p linli --bench oa_callback -- --output-format bencher 2>/dev/null | grep 'oa_encrypted_text_path')
linli_ns=$(echo "$line" | sed -E 's/.*bench: *([0-9,]+) ns.*/\1/' | tr -d ,)
echo "[bench] wechatpy"
py_us=$("$venv/bin/python" infra/bench/oa_wechatpy.py "$root/target/bench/oa-input.json")
python3 - "$linli_ns" "$py_us" <<'PY'
import sys
linli_us, py_us = int(sys.argv[1]) / 1000, float(sys.argv[2])
print()
print(f"{'encrypted OA push, CPU only':32} {'Linli':>10} {'wechatpy':>10} {'ratio':>8}")
print(f"{'µs per push':32} {linli_us:>10.2f} {py_us:>10.2f} {py_us / linli_us:>7.1f}×")
print(f"goal: Linli ≤ 3 µs and ≥ 20× wechatpy → {'met' if linli_us <= 3 and py_us / linli_us >= 20 else 'NOT met'}")
PY
