"""Render the reviewed snapshot of an intervention report: docs/snapshots/intervention-report.png.

    .venv/bin/python scripts/report_snapshot.py      # needs pdftoppm (poppler-utils)

A usual report with every box filled, signed by both sides; look at the image before committing it.
"""
import os, subprocess, sys, tempfile
from pathlib import Path
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal as D
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["HELPDESK_CONFIG"] = str(ROOT / "config" / "testing.toml")
from helpdesk import create_app, interventions as iv, signatures
from helpdesk.documents import render_report_pdf
from helpdesk.extensions import db
from helpdesk.models import Asset, Contract, SignatureRole, Status
from tests.factories import make_organisation, make_referent, make_ticket, make_user, signature_png
var = tempfile.mkdtemp()
app = create_app({"database_url": f"sqlite:///{var}/s.sqlite3", "var_dir": var,
                  "company_name": "Logeas Informatique", "company_address": "5 rue du Port\n56000 Vannes",
                  "company_contact": "02 97 00 00 00 · contact@logeas.example", "company_legal": "SARL Logeas · SIRET 123 456 789 00012 · TVA FR12 123456789"})
with app.app_context():
    db.create_all()
    settings = iv.report_settings(app.config["HELPDESK"])
    org = make_organisation("École Victor Hugo", client_number="C-0042", address="3 avenue des Tilleuls\n38000 Grenoble")
    db.session.add(Contract(organisation=org, starts_on=date(2020, 1, 1), response_hours=8, hourly_rate=D("55"), included_minutes=30) if hasattr(Contract, "included_minutes") else Contract(organisation=org, starts_on=date(2020, 1, 1), response_hours=8, hourly_rate=D("55")))
    asset = Asset(name="2024-03-12b", kind="Imprimante laser", serial="HP-77Q", organisation=org, warranty_end=date.today() - timedelta(days=1))
    db.session.add(asset)
    tech = make_referent(display_name="Nicolas Marchand")
    ticket = make_ticket(requester=make_user(organisation=org), status=Status.TAKEN, referent=tech, subject="Feuilles tachées d'encre en salle des professeurs")
    ticket.asset = asset
    report = iv.open_from_ticket(ticket, tech, settings)
    when = datetime(2026, 11, 18, 13, 30, tzinfo=timezone.utc)
    iv.update_report(report, diagnosis="Cartouche recyclée non conforme aux normes du constructeur ; têtes d'impression encrassées.",
                     work_done="Nettoyage des têtes d'impression, cartouche d'origine posée, page de test imprimée et validée avec l'utilisatrice.",
                     remarks="Prévoir des cartouches d'origine (conditions générales, art. 4).",
                     requested_at=datetime(2026, 11, 18, 7, 42, tzinfo=timezone.utc), intervention_at=when,
                     resolved_at=datetime(2026, 11, 18, 15, 0, tzinfo=timezone.utc))
    for kind, f in [("travel", dict(label="Aller-retour atelier", minutes=35, km=D("23"))), ("on_site", dict(label="Diagnostic avec l'utilisatrice", minutes=25)),
                    ("work", dict(label="Nettoyage des têtes", minutes=40)), ("part", dict(label="Cartouche HP 301 noire", quantity=D(2), unit_price=D("19.90")))]:
        line = iv.add_line(report, tech, kind, **f)
        if hasattr(line, "performed_at"): line.performed_at = when
    signatures.sign(report, SignatureRole.TECHNICIAN, "Nicolas Marchand", signature_png(), tech, settings, render_report_pdf)
    signatures.sign(report, SignatureRole.CLIENT, "Claire Durand", signature_png(), tech, settings, render_report_pdf)
    pdf = Path(var) / "report.pdf"
    pdf.write_bytes(report.pdf)
out = ROOT / "docs" / "snapshots" / "intervention-report"
subprocess.run(["pdftoppm", "-png", "-r", "80", "-singlefile", str(pdf), str(out)], check=True)
print(f"{out}.png")
