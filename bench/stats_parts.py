"""Where one computed stats report goes: CPU time of each part, best of N, and a cProfile listing.

    .venv/bin/python bench/stats_parts.py --database-url sqlite:////tmp/stats-bench.sqlite3 [--runs 7] [--profile]

Run it on a database kept by bench/stats.py (`--sqlite-file`). CPU time of this process
(`time.process_time()`): on SQLite it includes the database's work, on PostgreSQL it leaves the
server's out (the wall-clock column shows it with the machine's queueing on top).
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask import render_template  # noqa: E402

from helpdesk import create_app  # noqa: E402
from helpdesk import stats_report as sr  # noqa: E402
from helpdesk.business_hours import hours_from_settings  # noqa: E402
from helpdesk.contract_stats import contract_hours, response_compliance  # noqa: E402
from helpdesk.models import utcnow  # noqa: E402
from helpdesk.ratings import satisfaction  # noqa: E402
from helpdesk.recurring import recurring_failures  # noqa: E402
from helpdesk.stats import compute_indicators  # noqa: E402
from helpdesk.stats_views import _read_filters  # noqa: E402
from machine import describe  # noqa: E402  (bench/ is on sys.path as the script's folder)


def best(fn, runs: int) -> tuple[float, float]:
    """Best CPU and wall-clock milliseconds of `runs` calls."""
    cpu, wall = [], []
    for _ in range(runs):
        c, w = time.process_time(), time.perf_counter()
        fn()
        cpu.append((time.process_time() - c) * 1000)
        wall.append((time.perf_counter() - w) * 1000)
    return min(cpu), min(wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="Also print cProfile's 30 costliest functions.")
    parser.add_argument("--business-hours", action="store_true", help="Durations in business hours (default hours).")
    parser.add_argument("--query", default="", help="The page's filters, as its query string: start=2024-12-01&end=2026-12-02")
    args = parser.parse_args()
    app = create_app({"database_url": args.database_url, "environment": "testing", "secret_key": "bench",
                      "log_level": "WARNING", "stats_business_hours": args.business_hours})
    settings = app.config["HELPDESK"]
    with app.test_request_context(f"/desk/stats/?{args.query}"):
        form, period, _org = _read_filters()
        now = utcnow()
        hours = hours_from_settings(settings)
        days, threshold = settings["stats_recurring_days"], settings["stats_recurring_threshold"]
        report = sr.build_report(period, None, recurring_days=days, recurring_threshold=threshold, now=now,
                                 business_hours=hours)
        parts = {
            "compute_indicators": lambda: compute_indicators(period, None, hours),
            "satisfaction": lambda: satisfaction(period, None),
            "recurring_failures": lambda: recurring_failures(min(now, period.end_utc), days, threshold, None),
            "response_compliance": lambda: response_compliance(period, now, None),
            "contract_hours": lambda: contract_hours(period, None),
            "build_report (all of the above + tables, charts)": lambda: sr.build_report(
                period, None, recurring_days=days, recurring_threshold=threshold, now=now, business_hours=hours),
            "template (report already built)": lambda: render_template(
                "stats/index.html", form=form, report=report, query={}, ticket_link=lambda i: None,
                rows_shown=50, flags_shown=20, flag_tickets_shown=10),
        }
        print(f"{period.start}..{period.end}, {args.runs} runs; {describe()}")
        for name, fn in parts.items():
            cpu, wall = best(fn, args.runs)
            print(f"  {name:<52} CPU {cpu:7.1f} ms   wall {wall:7.1f} ms")
        if args.profile:
            profiler = cProfile.Profile()
            profiler.runcall(parts["build_report (all of the above + tables, charts)"])
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    main()
