"""Monthly statements: every signed report of a client's month, a time sheet by activity, totals.

Seed 004: invoices are made at the end of each month with an activity sheet. A statement lists the
signed reports (current versions only) whose intervention day falls in the month, in the configured
time zone; its totals are the sums of the reports' frozen totals. Built on demand (desk, CLI) and by
the worker on the 1st; stored with its PDF and CSV (rebuilding a month replaces them).
"""
from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy.orm import selectinload

from . import billing, pdf
from .billing import LineKind
from .documents import helpers
from .extensions import db
from .interventions import ReportSettings
from .models import Intervention, Organisation, ReportStatus, Statement, utcnow

log = logging.getLogger(__name__)
TIME_SHEET_KINDS = (LineKind.WORK, LineKind.ON_SITE, LineKind.TRAVEL, LineKind.RESEARCH)
DAY_SHEET_KINDS = (LineKind.DAY, LineKind.HALF_DAY)
CSV_COLUMNS = (
    "report", "version", "date", "ticket", "subject", "technician", "work_min", "on_site_min", "travel_min",
    "research_min", "days", "half_days", "km", "total_ht", "vat", "total_ttc",
)


class StatementError(ValueError):
    """A statement that cannot be built (bad period, unknown client)."""


def parse_period(text: str) -> tuple[int, int]:
    """'2026-11' -> (2026, 11); StatementError otherwise."""
    try:
        year_s, month_s = text.strip().split("-")
        year, month = int(year_s), int(month_s)
        date(year, month, 1)
        if len(year_s) != 4:
            raise ValueError
    except ValueError:
        raise StatementError(f"période invalide : {text!r} (attendu AAAA-MM)") from None
    return year, month


def previous_period(today: date) -> tuple[int, int]:
    first = today.replace(day=1) - timedelta(days=1)
    return first.year, first.month


def month_bounds(year: int, month: int, tz: str) -> tuple[datetime, datetime]:
    """[start, end) of the month in the time zone, as UTC-aware datetimes."""
    zone = ZoneInfo(tz)
    start = datetime.combine(date(year, month, 1), time(0), zone)
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    return start, datetime.combine(nxt, time(0), zone)


def reports_of_month(organisation: Organisation, year: int, month: int, tz: str) -> list[Intervention]:
    """Signed current versions whose intervention falls in the month, oldest first."""
    start, end = month_bounds(year, month, tz)
    query = (db.select(Intervention)
             .where(Intervention.organisation_id == organisation.id, Intervention.status == ReportStatus.SIGNED,
                    Intervention.intervention_at >= start, Intervention.intervention_at < end)
             .order_by(Intervention.intervention_at, Intervention.id)
             .options(selectinload(Intervention.lines), selectinload(Intervention.technician)))
    return list(db.session.execute(query).scalars())


@dataclass
class SheetRow:
    report: Intervention
    minutes: dict  # LineKind -> minutes
    days: dict  # LineKind -> quantity
    km: Decimal

    @property
    def total_minutes(self) -> int:
        return sum(self.minutes.values())

    @property
    def days_total(self) -> Decimal:
        """Days of assistance, a half day counting half."""
        return self.days[LineKind.DAY] + self.days[LineKind.HALF_DAY] * billing.HALF_DAY_FRACTION


def time_sheet(reports: list[Intervention]) -> tuple[list[SheetRow], dict, dict, Decimal]:
    """Per report and in total: minutes by activity, days, km."""
    rows = []
    total_minutes = {k: 0 for k in TIME_SHEET_KINDS}
    total_days = {k: Decimal(0) for k in DAY_SHEET_KINDS}
    total_km = Decimal(0)
    for report in reports:
        minutes = {k: sum(l.minutes or 0 for l in report.lines if l.kind == k) for k in TIME_SHEET_KINDS}
        days = {k: sum((Decimal(l.quantity) for l in report.lines if l.kind == k), Decimal(0)) for k in DAY_SHEET_KINDS}
        km = sum((Decimal(l.km or 0) for l in report.lines if l.kind == LineKind.TRAVEL), Decimal(0))
        rows.append(SheetRow(report, minutes, days, km))
        for k in TIME_SHEET_KINDS:
            total_minutes[k] += minutes[k]
        for k in DAY_SHEET_KINDS:
            total_days[k] += days[k]
        total_km += km
    return rows, total_minutes, total_days, total_km


def statement_csv(rows: list[SheetRow], totals: billing.Totals, tz: str) -> bytes:
    """The time sheet as CSV (UTF-8, `;` separated, `.` decimals), one row per report and a total row."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    zone = ZoneInfo(tz)
    for row in rows:
        r = row.report
        writer.writerow([
            r.number, r.version, r.intervention_at.astimezone(zone).date().isoformat(), r.ticket_id or "",
            _csv_text(r.subject), _csv_text(r.technician.name if r.technician else ""),
            *(row.minutes[k] for k in TIME_SHEET_KINDS), *(_number(row.days[k]) for k in DAY_SHEET_KINDS),
            _number(row.km),
            r.total_ht, r.vat, r.total_ttc,
        ])
    writer.writerow(["TOTAL", "", "", "", "", "", *([""] * 7), totals.total_ht, totals.vat, totals.total_ttc])
    return out.getvalue().encode("utf-8")


def _number(value: Decimal) -> str:
    """13.500 -> "13.5", 2.000 -> "2"."""
    return f"{Decimal(value).normalize():f}"


def _csv_text(value: str) -> str:
    """Neutralise spreadsheet formulas in free text (=, +, -, @ at the start of a cell)."""
    value = " ".join((value or "").split())
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


def build_statement(organisation: Organisation, year: int, month: int, settings: ReportSettings) -> Statement:
    """Build (or rebuild) the client's statement of the month, with its PDF and CSV."""
    reports = reports_of_month(organisation, year, month, settings.timezone)
    rows, total_minutes, total_days, total_km = time_sheet(reports)
    totals = billing.sum_totals(billing.Totals(r.total_ht, r.vat, r.total_ttc) for r in reports)
    period = f"{year:04d}-{month:02d}"
    context = {
        "organisation": organisation, "period": period, "period_start": date(year, month, 1), "rows": rows,
        "total_minutes": total_minutes, "total_days": total_days, "total_km": total_km, "totals": totals,
        "company": settings.company, "vat_rate": settings.vat_rate, "time_kinds": TIME_SHEET_KINDS,
        "day_kinds": DAY_SHEET_KINDS, "built_at": utcnow(), **helpers(),
    }
    language = "fr"
    pdf_bytes = pdf.render_pdf("reports/statement.html", context, language)
    csv_bytes = statement_csv(rows, totals, settings.timezone)
    statement = db.session.execute(
        db.select(Statement).where(Statement.organisation_id == organisation.id, Statement.period == period)
    ).scalar_one_or_none()
    if statement is None:
        statement = Statement(organisation=organisation, period=period)
        db.session.add(statement)
    statement.report_count = len(reports)
    statement.total_ht, statement.vat, statement.total_ttc = totals.total_ht, totals.vat, totals.total_ttc
    statement.pdf, statement.csv, statement.built_at = pdf_bytes, csv_bytes, utcnow()
    db.session.flush()
    log.info("statement %s %s: %s reports, %s HT", organisation.client_number, period, len(reports), totals.total_ht)
    return statement


def organisations_with_reports(year: int, month: int, tz: str) -> list[Organisation]:
    """Clients that have at least one signed report in the month."""
    start, end = month_bounds(year, month, tz)
    ids = db.select(Intervention.organisation_id).where(
        Intervention.status == ReportStatus.SIGNED, Intervention.intervention_at >= start,
        Intervention.intervention_at < end)
    return list(db.session.execute(db.select(Organisation).where(Organisation.id.in_(ids))
                                   .order_by(Organisation.id)).scalars())


def build_all(year: int, month: int, settings: ReportSettings) -> list[Statement]:
    """The month's statement of every client with signed reports (the worker's job on the 1st)."""
    return [build_statement(org, year, month, settings)
            for org in organisations_with_reports(year, month, settings.timezone)]
