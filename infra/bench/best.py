"""Timing shared by the wechatpy side of `make bench`: microseconds per call, the best of five
runs of `n` calls after one warm-up call (the best run is the one least disturbed by the rest of
the machine, as criterion's estimate is for the Linli side)."""
import time


def per_call_us(handle, n=5000, runs=5):
    handle()
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        for _ in range(n):
            handle()
        best = min(best, (time.perf_counter() - t0) / n)
    return best * 1e6
