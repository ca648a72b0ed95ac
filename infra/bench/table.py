"""Prints `make bench`'s one table from target/bench/results/*.json: each Linli figure beside its
reference, the ratio, and the DESIGN §10 goal with met / NOT met. Usage: table.py <results dir>."""
import json
import os
import platform
import sys

results = sys.argv[1]


def load(name):
    path = os.path.join(results, name + ".json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


rows = []  # (what, linli, reference, ratio, goal, verdict)


def row(what, linli, reference="", ratio="", goal="", met=None):
    verdict = "" if met is None else ("met" if met else "NOT met")
    rows.append((what, linli, reference, ratio, goal, verdict))


cpu = load("cpu")
if cpu:
    for key, what in (("oa", "CPU per encrypted OA push, µs"), ("pay", "CPU per Pay v2 notify, µs")):
        linli, py = cpu[f"{key}_linli_ns"] / 1000, cpu[f"{key}_wechatpy_us"]
        goal, met = ("≤ 3 µs and ≥ 20×", linli <= 3 and py / linli >= 20) if key == "oa" else ("", None)
        row(what, f"{linli:.2f}", f"wechatpy {py:.1f}", f"{py / linli:.0f}×", goal, met)

linli, py = load("cold-linli"), load("cold-python")
if linli and py:
    def pair(what, key, unit, goal="", limit=None):
        a, b = linli[key], py[key]
        met = None if limit is None else a <= limit
        row(f"{what}, {unit}", f"{a:.1f}", f"Python {b:.1f}", f"{b / a:.0f}×" if a else "", goal, met)
    pair("cold start: process start → ready (init)", "init_ms", "ms", "≤ 10 ms", 10)
    pair("cold start: process start → first response", "first_response_ms", "ms")
    pair("cold start: CPU time to the first response", "first_response_cpu_ms", "ms")
    pair("RSS after the first response", "rss_mb", "MB", "≤ 16 MB", 16)
    pair("RSS after warm invocations", "rss_after_warm_mb", "MB")
    pair("warm invocation p50 (Runtime API round trip)", "warm_p50_ms", "ms")
    pair("warm invocation p99", "warm_p99_ms", "ms")

sizes = load("sizes")
if sizes:
    for name, size in sizes.items():
        mb = size / 1_000_000
        row(f"arm64 release bootstrap: {name}, MB", f"{mb:.1f}", "", "", "≤ 8 MB", mb <= 8)
else:
    row("arm64 release bootstraps", "skipped (SKIP_SIZES=1)")

wru = load("wru")
if wru:
    def units(name):
        return wru.get(name, {}).get("wru", 0)
    # The operations in the order a member meets them; any other the run adds comes last.
    order = ["sign-in, first (member created)", "sign-in, a known member's day",
             "pickup order of 3 SKUs placed", "paid order: notify → points posted",
             "delivery placed, fee held in points", "delivery paid (capture + earn) and dispatched",
             "4 courier callbacks → delivered on time", "group-buy join placed",
             "group-buy join paid and counted",
             "4 courier callbacks → delivered 25 min late, compensated"]
    ranked = sorted(wru.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order))
    for name, figures in ranked:
        if name.endswith("(late run)"):
            continue
        goal, met = "", None
        if name.startswith("paid order"):
            goal, met = "≤ 8 WRU", figures["wru"] <= 8
        row(f"DynamoDB: {name}", f"{figures['wru']:g} WRU · {figures['rru']:g} RRU", "", "", goal, met)
    delivery = sum(units(n) for n in (
        "delivery placed, fee held in points",
        "delivery paid (capture + earn) and dispatched",
        "4 courier callbacks → delivered on time"))
    row("DynamoDB: whole delivery with points (placed → delivered)", f"{delivery:g} WRU", "", "", "≤ 30 WRU", delivery <= 30)
    comp = units("4 courier callbacks → delivered 25 min late, compensated") - units("4 courier callbacks → delivered on time")
    row("DynamoDB: the compensation itself (late − on time)", f"{comp:g} WRU")

burst = load("burst")
if burst:
    row(f"sign-in burst: {burst['members']} members at concurrency {burst['concurrency']}, req/s",
        f"{burst['rps']:.0f}", "", "", "")
    row("sign-in burst: latency p50 / p99, ms", f"{burst['p50_ms']:.0f} / {burst['p99_ms']:.0f}")
    answered = burst["granted"] + burst["already_on_resend"]
    row("sign-in burst: answered granted (+ already, on a resend) / repeats granted again",
        f"{burst['granted']} (+{burst['already_on_resend']}) / {burst['repeat_granted']}",
        f"expected {burst['members']} / 0", "", "", answered == burst["members"] and burst["repeat_granted"] == 0)
    row("sign-in burst: pushes resent after 5 s unanswered (as WeChat does)", f"{burst['resent']}")
    row("sign-in burst: postings stored, lost, doubled",
        f"{burst['stored']}, {burst['lost']}, {burst['doubled']}", "lost 0, doubled 0", "", "",
        burst["lost"] == 0 and burst["doubled"] == 0)

print(f"Linli benchmark on {cpu_model()}, {os.cpu_count()} cores (one run; ratio = reference / Linli)")
widths = [max(len(str(r[i])) for r in rows + [("what", "Linli", "reference", "ratio", "goal", "")]) for i in range(6)]
header = ("", "Linli", "reference", "ratio", "goal (DESIGN §10)", "")
for r in [header] + rows:
    print("  ".join(str(c).ljust(widths[i]) if i == 0 else str(c).rjust(widths[i]) if i in (1, 2, 3) else str(c).ljust(widths[i]) for i, c in enumerate(r)).rstrip())
