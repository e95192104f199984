"""Benchmark: one-page intervention report PDF in a warm process, and a monthly statement of 500 reports.

    .venv/bin/python bench/reports.py [--renders 30] [--reports 500]

Uses a throw-away SQLite database under a temp dir. Prints the figures recorded in
docs/benchmarks.md (targets: report median < 200 ms, statement < 5 s).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HELPDESK_CONFIG", str(ROOT / "config" / "testing.toml"))

from helpdesk import create_app  # noqa: E402
from helpdesk import interventions as iv  # noqa: E402
from helpdesk import pdf, signatures, statements  # noqa: E402
from helpdesk.documents import render_report_pdf  # noqa: E402
from helpdesk.extensions import db  # noqa: E402
from helpdesk.models import Intervention, InterventionLine, ReportStatus, SignatureRole  # noqa: E402
from tests.factories import make_organisation, make_referent, make_report, signature_png  # noqa: E402


def usual_report(settings, referent, org):
    report = make_report(referent=referent, organisation=org)
    iv.update_report(report, diagnosis="Cartouche recyclée non conforme.\nTêtes encrassées.",
                     work_done="Nettoyage des têtes, cartouche d'origine posée, page de test imprimée.",
                     remarks="Prévoir des cartouches d'origine.")
    iv.add_line(report, referent, "travel", label="Aller-retour", minutes=35, km=Decimal("23"))
    iv.add_line(report, referent, "on_site", label="Diagnostic avec l'utilisatrice", minutes=25)
    iv.add_line(report, referent, "work", label="Nettoyage des têtes", minutes=40)
    iv.add_line(report, referent, "part", label="Cartouche HP 301 noire", quantity=Decimal(2),
                unit_price=Decimal("19.90"))
    signatures.sign(report, SignatureRole.TECHNICIAN, referent.name, signature_png(), referent, settings,
                    render_report_pdf)
    return report


def bulk_signed_reports(org, referent, count: int, month_start: datetime) -> None:
    """`count` signed reports in the month, written directly (the bench measures the statement, not signing)."""
    for n in range(count):
        report = Intervention(number=f"B-{n:05d}", version=1, status=ReportStatus.SIGNED, organisation=org,
                              technician=referent, client_name=org.name, subject=f"Intervention {n}",
                              intervention_at=month_start + timedelta(hours=n % 600),
                              signed_at=month_start + timedelta(hours=n % 600),
                              total_ht=Decimal("84.90"), vat=Decimal("16.98"), total_ttc=Decimal("101.88"))
        report.lines = [
            InterventionLine(kind="work", label="Travail", minutes=50, technician=referent),
            InterventionLine(kind="travel", label="Trajet", minutes=20, km=Decimal("12"), technician=referent),
            InterventionLine(kind="part", label="Pièce", quantity=Decimal(1), unit_price=Decimal("24.90")),
        ]
        db.session.add(report)
    db.session.flush()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--renders", type=int, default=30)
    parser.add_argument("--reports", type=int, default=500)
    args = parser.parse_args()
    var = tempfile.mkdtemp(prefix="hd-bench-reports-")
    app = create_app({"database_url": f"sqlite:///{var}/bench.sqlite3", "var_dir": var})
    with app.app_context():
        db.create_all()
        settings = iv.report_settings(app.config["HELPDESK"])
        referent = make_referent(display_name="Nicolas Marchand")
        org = make_organisation("École Victor Hugo", address="3 avenue des Tilleuls\n38000 Grenoble")
        started = time.perf_counter()
        pdf.warm_up()
        warm_up_s = time.perf_counter() - started
        report = usual_report(settings, referent, org)
        render_report_pdf(report, settings)  # first render: fonts, stylesheet caches
        timings, cpu = [], []
        for _ in range(args.renders):
            started, cpu_started = time.perf_counter(), time.process_time()
            data = render_report_pdf(report, settings)
            timings.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - cpu_started) * 1000)
        timings.sort()
        p95 = timings[max(0, round(0.95 * len(timings)) - 1)]
        print(f"warm-up (import + stylesheet): {warm_up_s * 1000:.0f} ms")
        print(f"report PDF, {args.renders} warm renders: median {statistics.median(timings):.0f} ms, "
              f"p95 {p95:.0f} ms, min {timings[0]:.0f} ms, {len(data)} bytes; "
              f"CPU time median {statistics.median(cpu):.0f} ms")
        print(f"load average during the run: {os.getloadavg()[0]:.1f} (2 cores: above 2, wall times are inflated)")

        month = datetime(2026, 10, 1, tzinfo=timezone.utc)
        bulk_signed_reports(org, referent, args.reports, month)
        db.session.commit()
        started, cpu_started = time.perf_counter(), time.process_time()
        built = statements.build_statement(org, 2026, 10, settings)
        elapsed, cpu_elapsed = time.perf_counter() - started, time.process_time() - cpu_started
        print(f"statement of {built.report_count} reports: {elapsed:.2f} s (CPU {cpu_elapsed:.2f} s), PDF {len(built.pdf)} bytes, "
              f"CSV {len(built.csv)} bytes, total {built.total_ttc} TTC")


if __name__ == "__main__":
    main()
