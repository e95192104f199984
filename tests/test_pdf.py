"""The report PDF: every field of the seed's form, one page, and a fetcher that reaches nothing else."""
import shutil
import subprocess
from datetime import date, timedelta
from decimal import Decimal as D

import pytest

from helpdesk import interventions as iv
from helpdesk import pdf, signatures
from helpdesk.documents import render_label_pdf, render_report_pdf
from helpdesk.extensions import db
from helpdesk.models import Asset, Contract, SignatureRole, Status
from tests.factories import make_organisation, make_referent, make_report, make_ticket, make_user, signature_png

needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")


def pdf_text(data: bytes, tmp_path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


def pdf_pages(data: bytes, tmp_path) -> int:
    path = tmp_path / "pages.pdf"
    path.write_bytes(data)
    info = subprocess.run(["pdfinfo", str(path)], check=True, capture_output=True, text=True).stdout
    return int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))


def usual_report(settings, language="fr"):
    """A usual report: client, asset, contract, a few lines, both signatures."""
    org = make_organisation("École Victor Hugo", client_number="C-0042",
                            address="3 avenue des Tilleuls\n38000 Grenoble")
    db.session.add(Contract(organisation=org, starts_on=date(2020, 1, 1), response_hours=8, hourly_rate=D("55")))
    asset = Asset(name="2024-03-12b", kind="Imprimante laser", serial="HP-77Q", organisation=org,
                  warranty_end=date.today() - timedelta(days=1))
    db.session.add(asset)
    tech = make_referent(display_name="Nicolas Marchand")
    ticket = make_ticket(requester=make_user(organisation=org), status=Status.TAKEN, referent=tech,
                         subject="Feuilles tachées d'encre")
    ticket.asset = asset
    report = iv.open_from_ticket(ticket, tech, settings)
    iv.update_report(report, diagnosis="Cartouche recyclée non conforme aux normes.",
                     work_done="Nettoyage des têtes d'impression, cartouche d'origine posée.",
                     remarks="Prévoir des cartouches d'origine.", language=language)
    iv.add_line(report, tech, "travel", label="Aller-retour atelier", minutes=35, km=D("23"))
    iv.add_line(report, tech, "on_site", label="Diagnostic avec l'utilisatrice", minutes=25)
    iv.add_line(report, tech, "work", label="Nettoyage des têtes", minutes=40)
    iv.add_line(report, tech, "part", label="Cartouche HP 301 noire", quantity=D(2), unit_price=D("19.90"))
    signatures.sign(report, SignatureRole.TECHNICIAN, "Nicolas Marchand", signature_png(), tech, settings,
                    render_report_pdf)
    signatures.sign(report, SignatureRole.CLIENT, "Claire Durand", signature_png(), tech, settings,
                    render_report_pdf)
    return report


@pytest.fixture
def settings(app):
    return iv.report_settings(app.config["HELPDESK"])


@pytest.fixture
def company_settings(settings_overrides):
    settings_overrides.update(company_name="Logeas Informatique", company_address="5 rue du Port\n56000 Vannes",
                              company_contact="02 97 00 00 00 · contact@logeas.test",
                              company_legal="SIRET 123 456 789 00012")
    return settings_overrides


@needs_poppler
def test_report_pdf_holds_every_field_on_one_page(company_settings, app, settings, tmp_path):
    report = usual_report(settings)
    text = pdf_text(report.pdf, tmp_path)
    squashed = " ".join(text.split())
    expected = [
        "Rapport d'intervention", report.number, "C-0042", "École Victor Hugo", "3 avenue des Tilleuls",
        "38000 Grenoble", "Feuilles tachées d'encre", "2024-03-12b", "Imprimante laser", "HP-77Q",
        "Contrat : OUI", "Garantie : NON", "Déplacement", "Main d'œuvre", "Pièces",
        "Cartouche recyclée non conforme", "Nettoyage des têtes d'impression", "Cartouche HP 301 noire",
        "19,90", "DATE INTERVENTION", "HEURE D'INTERVENTION", "DURÉE D'INTERVENTION", "1 h 40",
        "DÉPLACEMENT (KM)", "23", "Prévoir des cartouches d'origine", "SIGNATURE DU TECHNICIEN",
        "Nicolas Marchand", "CACHET ET SIGNATURE CLIENT", "Claire Durand", "NOM DU SIGNATAIRE",
        "conditions générales", "Logeas Informatique", "5 rue du Port", "SIRET 123 456 789 00012",
        "Total HT", "Total TTC", f"Ticket #{report.ticket_id}", "8 h",
    ]
    missing = [field for field in expected if field not in squashed]
    assert missing == []
    # 65 min labour -> 75 min at 55 €/h = 68.75; 23 km x 0.50 = 11.50; parts 39.80 -> 120.05 HT
    assert "120,05" in squashed and f"{report.total_ht}" == "120.05"
    assert pdf_pages(report.pdf, tmp_path) == 1


@needs_poppler
def test_report_pdf_in_english(app, settings, tmp_path):
    report = usual_report(settings, language="en")
    text = " ".join(pdf_text(report.pdf, tmp_path).split())
    assert report.number in text and "Claire Durand" in text
    for label in ("Intervention report", "Client stamp and signature", "Work"):
        assert label.lower() in text.lower()  # headings are upper-cased by the stylesheet
    assert "Rapport d'intervention" not in text


@needs_poppler
def test_workshop_label_is_small_and_names_machine_client_ticket(app, settings, tmp_path):
    org = make_organisation("Mairie de Saint-Jean", client_number="C-7")
    asset = Asset(name="2023-11-02", organisation=org)
    db.session.add(asset)
    report = make_report(organisation=org)
    report.asset = asset
    intake = iv.record_intake(report, report.technician, "Ne s'allume plus")
    label = render_label_pdf(intake, settings)
    text = " ".join(pdf_text(label, tmp_path).split())
    for field in ("2023-11-02", "Mairie de Saint-Jean", f"#{report.ticket_id}", report.number):
        assert field in text
    path = tmp_path / "label.pdf"
    path.write_bytes(label)
    info = subprocess.run(["pdfinfo", str(path)], check=True, capture_output=True, text=True).stdout
    size = next(line for line in info.splitlines() if line.startswith("Page size"))
    width, height = (float(v) for v in size.split(":")[1].split("pts")[0].split(" x "))
    assert width < 200 and height < 150  # 62 x 40 mm, not A4 (595 x 842 pt)


@pytest.mark.parametrize("url", [
    "file:///etc/passwd",
    "https://example.com/logo.png",
    "http://127.0.0.1:5432/",
    pdf.STATIC_BASE_URL + "../../../etc/passwd",
    pdf.STATIC_BASE_URL + "../__init__.py",
    pdf.STATIC_BASE_URL + "missing.css",
])
def test_fetcher_refuses_anything_but_static_files(url):
    with pytest.raises(pdf.RefusedURL):
        pdf.resolve_static(url)


def test_static_file_is_served():
    assert pdf.resolve_static(pdf.STATIC_BASE_URL + "reports.css").name == "reports.css"


@needs_poppler
def test_hostile_html_cannot_pull_local_files_into_the_pdf(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    html = (f'<p>before</p><link rel="attachment" href="file://{secret}">'
            f'<img src="file://{secret}"><link rel="stylesheet" href="https://example.com/x.css">'
            f'<p>after</p>')
    data = pdf.render_html_to_pdf(html)
    # WeasyPrint compresses streams, so look for the embedded-file object itself (the default fetcher
    # produces one for this HTML), as well as the plain text.
    assert b"/EmbeddedFile" not in data and b"TOP-SECRET-CONTENT" not in data
    assert "after" in pdf_text(data, tmp_path)
