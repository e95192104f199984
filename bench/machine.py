"""How fast this machine is right now, so figures taken on different days can be compared.

This shared 2-core guest's speed drifts by a factor of two between hours and restarts with the same
code (docs/benchmarks.md). Each benchmark prints `describe()` beside its figures: the load average and
the time a fixed pure-Python loop takes now; a page that costs 300 ms when the loop takes 1,000 ms
costs about 150 ms when the loop takes 500.
"""
from __future__ import annotations

import os
import time


def loop_ms(rounds: int = 5) -> float:
    """Best of `rounds` timings, in milliseconds, of ten million additions in a Python loop."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        total = 0
        for number in range(10_000_000):
            total += number
        best = min(best, time.perf_counter() - started)
    return best * 1000


def describe() -> str:
    """One line: UTC time, load average and the loop's time, for the heading of a set of figures."""
    return (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average "
            f"{' / '.join(f'{x:.2f}' for x in os.getloadavg())}, machine speed: 10M-addition Python loop "
            f"{loop_ms():,.0f} ms (best of 5)")
