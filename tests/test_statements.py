"""Monthly statements: the month's signed reports, a time sheet, totals equal to the sum of the reports."""
import csv
import io
from datetime import datetime, timezone
from decimal import Decimal as D

import pytest

from helpdesk import interventions as iv
from helpdesk import signatures, statements
from helpdesk.documents import render_report_pdf
from helpdesk.models import SignatureRole, Statement
from helpdesk.extensions import db
from tests.factories import make_organisation, make_report, signature_png
from tests.test_pdf import needs_poppler, pdf_pages, pdf_text


@pytest.fixture
def settings(app):
    return iv.report_settings(app.config["HELPDESK"])


def signed_report(org, settings, when, lines, subject="Dépannage"):
    report = make_report(organisation=org)
    iv.update_report(report, intervention_at=when, subject=subject)
    for kind, fields in lines:
        iv.add_line(report, report.technician, kind, **fields)
    signatures.sign(report, SignatureRole.CLIENT, "Client", signature_png(), report.technician, settings,
                    render_report_pdf)
    return report


def utc(*args):
    return datetime(*args, tzinfo=timezone.utc)


def test_statement_totals_equal_the_sum_of_its_reports(app, settings):
    org = make_organisation(client_number="C-1")
    other = make_organisation(client_number="C-2")
    reports = [
        signed_report(org, settings, utc(2026, 10, 3, 9), [("work", {"minutes": 61})]),
        signed_report(org, settings, utc(2026, 10, 15, 14), [("travel", {"minutes": 20, "km": D("13.5")}),
                                                             ("part", {"label": "Câble", "quantity": D(3),
                                                                       "unit_price": D("3.33")})],
                      subject="=HYPERLINK(\"http://x\")"),
        signed_report(org, settings, utc(2026, 10, 31, 23, 30), [("day", {"quantity": D(1)})]),  # 1 Nov 00:30 in Paris (CET)
        signed_report(org, settings, utc(2026, 9, 30, 21, 59), [("half_day", {"quantity": D(1)})]),  # 30 Sep 23:59
        signed_report(other, settings, utc(2026, 10, 10, 10), [("work", {"minutes": 30})]),
    ]
    draft = make_report(organisation=org)
    iv.update_report(draft, intervention_at=utc(2026, 10, 20, 10))
    iv.add_line(draft, draft.technician, "work", minutes=600)  # not signed: not billed

    built = statements.build_statement(org, 2026, 10, settings)
    included = reports[:2]
    assert built.report_count == 2 and built.period == "2026-10"
    assert built.total_ht == sum(r.total_ht for r in included) == D("91.74")
    assert built.vat == sum(r.vat for r in included)
    assert built.total_ttc == sum(r.total_ttc for r in included)
    assert built.pdf.startswith(b"%PDF")

    rows = list(csv.reader(io.StringIO(built.csv.decode("utf-8")), delimiter=";"))
    assert rows[0] == list(statements.CSV_COLUMNS)
    assert [r[0] for r in rows[1:-1]] == [r.number for r in included]
    assert rows[1][6] == "61" and rows[2][8] == "20" and rows[2][12] == "13.5"
    assert rows[2][4].startswith("'=")  # a formula in free text is neutralised for spreadsheets
    assert rows[-1][0] == "TOTAL" and D(rows[-1][13]) == built.total_ht and D(rows[-1][15]) == built.total_ttc

    november = statements.build_statement(org, 2026, 11, settings)
    assert november.report_count == 1 and november.total_ht == D("300.00")


@needs_poppler
def test_statement_pdf_shows_every_report_and_the_totals(app, settings, tmp_path):
    org = make_organisation("Collège Jean Moulin", client_number="C-7")
    first = signed_report(org, settings, utc(2026, 10, 3, 9), [("work", {"minutes": 61})], subject="Imprimante")
    second = signed_report(org, settings, utc(2026, 10, 15, 14), [("travel", {"minutes": 20, "km": D("13.5")}),
                                                                  ("day", {"quantity": D(1)})], subject="Serveur")
    built = statements.build_statement(org, 2026, 10, settings)
    text = " ".join(pdf_text(built.pdf, tmp_path).split())  # one space between words, whatever the layout
    assert "C-7" in text and "Collège Jean Moulin" in text and "2026-10" in text
    assert f"{first.number} · 03/10 Imprimante — {first.technician.name} 1 h 01" in text
    assert f"{second.number} · 15/10 Serveur — {second.technician.name} 20 min + 1 j · 13,5 km" in text
    amounts = [money_text(r.total_ht) for r in (first, second)]
    assert all(a in text for a in amounts)
    assert money_text(built.total_ht) in text and money_text(built.total_ttc) in text
    assert pdf_pages(built.pdf, tmp_path) == 1


def money_text(value) -> str:
    """The amount as pdftotext reads it from the French PDF ("1 234,50 €", spaces normalised)."""
    return " ".join(f"{value:,.2f}".replace(",", " ").replace(".", ",").split()) + " €"


def test_rebuilding_a_month_replaces_the_statement(app, settings):
    org = make_organisation()
    signed_report(org, settings, utc(2026, 5, 5, 9), [("work", {"minutes": 60})])
    first = statements.build_statement(org, 2026, 5, settings)
    signed_report(org, settings, utc(2026, 5, 6, 9), [("work", {"minutes": 60})])
    again = statements.build_statement(org, 2026, 5, settings)
    assert again.id == first.id and again.report_count == 2
    assert db.session.execute(db.select(db.func.count()).select_from(Statement)).scalar_one() == 1


def test_superseded_versions_are_not_counted_twice(app, settings):
    org = make_organisation()
    report = signed_report(org, settings, utc(2026, 3, 3, 9), [("work", {"minutes": 60})])
    revision = signatures.create_revision(report, report.technician, "Pièce oubliée")
    iv.add_line(revision, report.technician, "part", label="Souris", quantity=D(1), unit_price=D("12"))
    signatures.sign(revision, SignatureRole.CLIENT, "Client", signature_png(), report.technician, settings,
                    render_report_pdf)
    built = statements.build_statement(org, 2026, 3, settings)
    assert built.report_count == 1 and built.total_ht == D("72.00")


def test_empty_month_is_a_valid_statement(app, settings):
    built = statements.build_statement(make_organisation(), 2026, 2, settings)
    assert built.report_count == 0 and built.total_ttc == D("0")


@pytest.mark.parametrize("text", ["2026-13", "2026", "26-01", "abcd-ef", "2026-00", "", "2026-1-1"])
def test_bad_periods_are_refused(text):
    with pytest.raises(statements.StatementError):
        statements.parse_period(text)


def test_previous_period():
    from datetime import date

    assert statements.previous_period(date(2026, 1, 1)) == (2025, 12)
    assert statements.previous_period(date(2026, 7, 1)) == (2026, 6)


def test_cli_builds_statement_and_writes_files(app, cli_runner, settings, tmp_path):
    org = make_organisation(client_number="C-77")
    signed_report(org, settings, utc(2026, 4, 8, 9), [("work", {"minutes": 45})])
    db.session.commit()
    pdf_path, csv_path = tmp_path / "s.pdf", tmp_path / "s.csv"
    result = cli_runner.invoke(args=["statement", "build", "C-77", "2026-04", "--pdf", str(pdf_path),
                                     "--csv", str(csv_path)])
    assert result.exit_code == 0, result.output
    assert "1 reports" in result.output and "45.00 HT" in result.output
    assert pdf_path.read_bytes().startswith(b"%PDF") and csv_path.read_text().startswith("report;")


@pytest.mark.parametrize("args, message", [
    (["statement", "build", "NOPE", "2026-04"], "no client"),
    (["statement", "build", "C-78", "2026-4x"], "période invalide"),
])
def test_cli_bad_arguments_exit_2(app, cli_runner, args, message):
    make_organisation(client_number="C-78")
    db.session.commit()
    result = cli_runner.invoke(args=args)
    assert result.exit_code == 2 and message in result.output


def test_cli_report_list_show_pdf_and_contract(app, cli_runner, settings, tmp_path):
    org = make_organisation(client_number="C-90")
    report = signed_report(org, settings, utc(2026, 4, 8, 9), [("work", {"minutes": 45})])
    draft = make_report(organisation=org)
    db.session.commit()
    listed = cli_runner.invoke(args=["report", "list", "--json"])
    assert listed.exit_code == 0 and report.number in listed.output and draft.number in listed.output
    shown = cli_runner.invoke(args=["report", "show", report.number])
    assert shown.exit_code == 0 and "signed" in shown.output
    out = tmp_path / "r.pdf"
    assert cli_runner.invoke(args=["report", "pdf", report.number, str(out)]).exit_code == 0
    assert out.read_bytes() == report.pdf
    unsigned = cli_runner.invoke(args=["report", "pdf", draft.number, str(out)])
    assert unsigned.exit_code == 2 and "not signed" in unsigned.output
    added = cli_runner.invoke(args=["contract", "add", "C-90", "--starts", "2026-01-01", "--hourly-rate", "70",
                                    "--included-hours", "10", "--response-hours", "4"])
    assert added.exit_code == 0, added.output
    bad = cli_runner.invoke(args=["contract", "add", "C-90", "--starts", "2026-01-01", "--hourly-rate", "-3"])
    assert bad.exit_code == 2


def test_worker_job_builds_last_months_statements(app, settings):
    from workers.scheduler import build_jobs, run_job

    org = make_organisation()
    today = iv.local_now(settings.timezone).date()
    year, month = statements.previous_period(today)
    signed_report(org, settings, utc(year, month, 15, 10), [("work", {"minutes": 30})])
    make_organisation()  # a client without reports gets no statement
    db.session.commit()
    job = next(j for j in build_jobs(app.config["HELPDESK"]) if j.name == "monthly_statements")
    assert job.trigger == "cron" and job.trigger_args["day"] == 1
    assert run_job(app, job) == f"1 statements for {year:04d}-{month:02d}"
    rows = db.session.execute(db.select(Statement)).scalars().all()
    assert [(s.organisation_id, s.period, s.report_count) for s in rows] == [(org.id, f"{year:04d}-{month:02d}", 1)]
