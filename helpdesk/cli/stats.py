"""`helpdesk stats`: the indicators of the stats page, as text, JSON or the CSV of one table."""
from __future__ import annotations

from datetime import date

import click
from flask import Flask, current_app

from ..business_hours import hours_from_settings
from ..extensions import db
from ..models import Organisation, utcnow
from ..stats import Period, PeriodError, default_period
from ..stats_report import build_report, table_csv
from .output import bad_argument, echo_json


def register(app: Flask) -> None:
    app.cli.add_command(stats)


def _date(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        bad_argument(f"--{name}: expected a date YYYY-MM-DD, got {value!r}")


@click.command()
@click.option("--from", "start", metavar="YYYY-MM-DD", help="First day (local); default: 11 months before this month.")
@click.option("--to", "end", metavar="YYYY-MM-DD", help="Last day (local), included; default: today.")
@click.option("--organisation", type=int, help="Only this organisation's tickets (its id).")
@click.option("--json", "as_json", is_flag=True, help="Every table as JSON.")
@click.option("--csv", "csv_table", metavar="TABLE", help="Print one table as CSV (overview, activity, delays, ...).")
def stats(start, end, organisation, as_json, csv_table):
    """Indicators of a period: time to take, MTTR, backlog, breakdowns, recurring failures, satisfaction."""
    settings = current_app.config["HELPDESK"]
    tz = settings["timezone"]
    default = default_period(tz)
    try:
        period = Period(_date(start, "from") or default.start, _date(end, "to") or default.end, tz)
    except PeriodError as exc:
        bad_argument(str(exc))
    if organisation is not None and db.session.get(Organisation, organisation) is None:
        bad_argument(f"--organisation: no organisation with id {organisation}")
    report = build_report(period, organisation, recurring_days=settings["stats_recurring_days"],
                          recurring_threshold=settings["stats_recurring_threshold"], now=utcnow(),
                          business_hours=hours_from_settings(settings))
    if csv_table:
        table = report.table(csv_table)
        if table is None:
            bad_argument(f"--csv: no table {csv_table!r} (tables: {', '.join(t.key for t in report.tables)})")
        click.echo(table_csv(table), nl=False)
        return
    if as_json:
        echo_json({
            "period": {"from": period.start, "to": period.end, "timezone": tz, "organisation": organisation},
            "tables": {t.key: {"title": t.title, "columns": t.columns, "rows": t.rows} for t in report.tables},
        })
        return
    click.echo(f"{period.start} .. {period.end} ({tz})" + (f", organisation {organisation}" if organisation else ""))
    for label, value in report.table("overview").rows:
        click.echo(f"  {label}: {'-' if value is None else value}")
    for flag in report.recurring:
        tickets = " ".join(f"#{t[0]}" for t in flag.tickets)
        click.echo(f"  ! {flag.kind} {flag.name}: {flag.count} tickets in {report.recurring_days} days: {tickets}")
