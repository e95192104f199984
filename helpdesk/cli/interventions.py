"""`helpdesk statement build|mail`, `helpdesk report list|show|pdf`, `helpdesk contract add|list`."""
from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

import click
from flask import Flask, current_app

from .. import statements
from ..billing import TravelPolicy
from ..extensions import db
from ..interventions import report_settings
from ..models import Contract, ContractKind, IncludedPeriod, Intervention, Organisation, ReportStatus
from .output import bad_argument, echo_json


def register(app: Flask) -> None:
    app.cli.add_command(statement)
    app.cli.add_command(report)
    app.cli.add_command(contract)


def _organisation(client_number: str) -> Organisation:
    org = db.session.execute(
        db.select(Organisation).where(Organisation.client_number == client_number)
    ).scalar_one_or_none()
    if org is None:
        bad_argument(f"no client with number {client_number}")
    return org


def _write(path: str | None, data: bytes) -> None:
    if path:
        try:
            Path(path).write_bytes(data)
        except OSError as exc:
            bad_argument(f"cannot write {path}: {exc.strerror}")


@click.group()
def statement():
    """Monthly statements per client."""


@statement.command("build")
@click.argument("client_number")
@click.argument("period", metavar="YYYY-MM")
@click.option("--pdf", "pdf_path", help="Also write the PDF to this file.")
@click.option("--csv", "csv_path", help="Also write the CSV to this file.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def statement_build(client_number, period, pdf_path, csv_path, as_json):
    """Build (or rebuild) CLIENT_NUMBER's statement of the month YYYY-MM."""
    try:
        year, month = statements.parse_period(period)
    except statements.StatementError as exc:
        bad_argument(str(exc))
    org = _organisation(client_number)
    built = statements.build_statement(org, year, month, report_settings(current_app.config["HELPDESK"]))
    db.session.commit()
    _write(pdf_path, built.pdf)
    _write(csv_path, built.csv)
    data = {"client_number": client_number, "period": built.period, "reports": built.report_count,
            "total_ht": str(built.total_ht), "vat": str(built.vat), "total_ttc": str(built.total_ttc)}
    if as_json:
        echo_json(data)
    else:
        click.echo(f"statement {client_number} {built.period}: {built.report_count} reports, "
                   f"{built.total_ht} HT, {built.vat} VAT, {built.total_ttc} TTC")


@click.group()
def report():
    """Intervention reports."""


def _report(number: str) -> Intervention:
    found = db.session.execute(
        db.select(Intervention).where(Intervention.number == number).order_by(Intervention.version.desc())
    ).scalars().first()
    if found is None:
        bad_argument(f"no report {number}")
    return found


def report_summary(r: Intervention) -> dict:
    return {
        "number": r.number, "version": r.version, "status": r.status.value, "client": r.client_name,
        "client_number": r.client_number, "ticket": r.ticket_id, "subject": r.subject,
        "technician": r.technician.email if r.technician else None, "intervention_at": r.intervention_at,
        "signed_at": r.signed_at, "total_ht": str(r.total_ht) if r.total_ht is not None else None,
        "pdf_sha256": r.pdf_sha256,
    }


@report.command("list")
@click.option("--status", type=click.Choice([s.value for s in ReportStatus]))
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def report_list(status, limit, as_json):
    """List reports, newest first."""
    query = db.select(Intervention).order_by(Intervention.id.desc()).limit(limit)
    if status:
        query = query.where(Intervention.status == ReportStatus(status))
    rows = [report_summary(r) for r in db.session.execute(query).scalars()]
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        click.echo(f"{r['number']} v{r['version']} {r['status']:<10} {r['client']:<30} {r['subject']}")


@report.command("show")
@click.argument("number")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def report_show(number, as_json):
    """Show the latest version of report NUMBER."""
    r = _report(number)
    data = report_summary(r)
    data["lines"] = [{"kind": l.kind.value, "label": l.label, "minutes": l.minutes, "km": str(l.km),
                      "quantity": str(l.quantity), "unit_price": str(l.unit_price), "billable": l.billable}
                     for l in r.lines]
    if as_json:
        echo_json(data)
        return
    click.echo(f"{data['number']} v{data['version']} {data['status']} — {data['client']}: {data['subject']}")
    for line in data["lines"]:
        click.echo(f"  {line['kind']:<9} {line['label']:<40} {line['minutes'] if line['minutes'] is not None else '>999'}")


@report.command("pdf")
@click.argument("number")
@click.argument("path")
def report_pdf(number, path):
    """Write the signed PDF of report NUMBER to PATH."""
    r = _report(number)
    if r.pdf is None:
        bad_argument(f"report {number} is not signed yet: no PDF")
    _write(path, r.pdf)
    click.echo(f"{path}: {len(r.pdf)} bytes, sha256 {r.pdf_sha256}")


@click.group()
def contract():
    """Clients' contracts (rates, travel, included hours, response time)."""


def _money(value: str | None, name: str) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = Decimal(value)
    except InvalidOperation:
        bad_argument(f"--{name}: not an amount: {value!r}")
    if amount < 0 or not amount.is_finite():
        bad_argument(f"--{name}: must be >= 0")
    return amount


@contract.command("add")
@click.argument("client_number")
@click.option("--kind", type=click.Choice([k.value for k in ContractKind]), default="maintenance")
@click.option("--reference", default="")
@click.option("--starts", type=click.DateTime(["%Y-%m-%d"]), required=True)
@click.option("--ends", type=click.DateTime(["%Y-%m-%d"]))
@click.option("--hourly-rate")
@click.option("--day-rate")
@click.option("--travel", type=click.Choice([p.value for p in TravelPolicy]), default="per_km")
@click.option("--km-rate")
@click.option("--travel-flat")
@click.option("--included-hours", type=click.FloatRange(0, 10_000), default=0)
@click.option("--per", type=click.Choice([p.value for p in IncludedPeriod]), default="month")
@click.option("--response-hours", type=click.IntRange(1, 10_000))
def contract_add(client_number, kind, reference, starts, ends, hourly_rate, day_rate, travel, km_rate, travel_flat,
                 included_hours, per, response_hours):
    """Add a contract to CLIENT_NUMBER."""
    org = _organisation(client_number)
    if ends and ends < starts:
        bad_argument("--ends is before --starts")
    c = Contract(organisation=org, kind=ContractKind(kind), reference=reference, starts_on=starts.date(),
                 ends_on=ends.date() if ends else None, hourly_rate=_money(hourly_rate, "hourly-rate"),
                 day_rate=_money(day_rate, "day-rate"), travel_policy=TravelPolicy(travel),
                 km_rate=_money(km_rate, "km-rate"), travel_flat=_money(travel_flat, "travel-flat"),
                 included_minutes=round(included_hours * 60), included_period=IncludedPeriod(per),
                 response_hours=response_hours)
    db.session.add(c)
    db.session.commit()
    click.echo(f"contract {c.id} for {client_number} from {c.starts_on}")


@contract.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def contract_list(as_json):
    """List contracts."""
    rows = [{"id": c.id, "client_number": c.organisation.client_number, "kind": c.kind.value,
             "starts_on": c.starts_on, "ends_on": c.ends_on, "included_minutes": c.included_minutes,
             "per": c.included_period.value, "response_hours": c.response_hours}
            for c in db.session.execute(db.select(Contract).order_by(Contract.id)).scalars()]
    if as_json:
        echo_json(rows)
        return
    today = date.today()
    for r in rows:
        running = r["starts_on"] <= today and (r["ends_on"] is None or r["ends_on"] >= today)
        click.echo(f"{r['id']:<5} {r['client_number'] or '-':<10} {r['kind']:<12} {r['starts_on']} -> "
                   f"{r['ends_on'] or '...'} {'running' if running else ''}")
