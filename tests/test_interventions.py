"""Intervention report services: creation, lines, handover, workshop, signature, freeze, versions."""
import hashlib
import threading
from datetime import date, timedelta
from decimal import Decimal as D

import pytest

from helpdesk import interventions as iv
from helpdesk import signatures
from helpdesk.documents import render_report_pdf
from helpdesk.extensions import db
from helpdesk.models import (
    Asset, Contract, ContractConsumption, Intervention, ReportStatus, Role, SignatureRole, Status, utcnow,
)
from tests.factories import (
    make_organisation, make_referent, make_report, make_ticket, make_user, signature_png,
)


@pytest.fixture
def settings(app):
    return iv.report_settings(app.config["HELPDESK"])


def sign_client(report, actor, settings, name="Mme Durand"):
    return signatures.sign(report, SignatureRole.CLIENT, name, signature_png(), actor, settings, render_report_pdf)


def test_report_from_ticket_is_prefilled(app, settings):
    org = make_organisation("Collège Jean Moulin", address="12 rue des Écoles\n69000 Lyon")
    asset = Asset(name="2025-09-01a", kind="PC fixe", serial="X123", organisation=org,
                  warranty_end=date.today() + timedelta(days=30))
    db.session.add(asset)
    db.session.add(Contract(organisation=org, starts_on=date.today() - timedelta(days=10)))
    referent = make_referent()
    ticket = make_ticket(requester=make_user(organisation=org), status=Status.TAKEN, referent=referent,
                         subject="Écran noir en salle 12")
    ticket.asset = asset
    report = iv.open_from_ticket(ticket, referent, settings)
    assert report.number == f"{iv.local_now(settings.timezone).year}-0001"
    assert (report.client_name, report.client_number) == ("Collège Jean Moulin", org.client_number)
    assert report.client_address == "12 rue des Écoles\n69000 Lyon"
    assert report.subject == "Écran noir en salle 12"
    assert report.requested_at == ticket.created_at
    assert "2025-09-01a" in report.hardware and "X123" in report.hardware
    assert report.under_contract and report.under_warranty
    assert report.technician == referent and report.status == ReportStatus.DRAFT
    # One click twice completes the same report, never a new one.
    assert iv.open_from_ticket(ticket, make_referent(), settings) is report


def test_warranty_and_contract_are_proposed_no_when_absent_or_expired(app, settings):
    org = make_organisation()
    db.session.add(Contract(organisation=org, starts_on=date(2020, 1, 1), ends_on=date(2020, 12, 31)))
    asset = Asset(name="2019-01-01", organisation=org, warranty_end=date(2021, 1, 1))
    db.session.add(asset)
    ticket = make_ticket(requester=make_user(organisation=org))
    ticket.asset = asset
    report = iv.open_from_ticket(ticket, make_referent(), settings)
    assert not report.under_contract and not report.under_warranty and report.contract is None


def test_ticket_without_client_is_refused(app, settings):
    with pytest.raises(iv.ReportError, match="aucun client"):
        iv.open_from_ticket(make_ticket(), make_referent(), settings)


def test_planned_maintenance_needs_a_subject(app, settings):
    org, referent = make_organisation(), make_referent()
    with pytest.raises(iv.ReportError):
        iv.open_planned(org, referent, settings, "   ")
    report = iv.open_planned(org, referent, settings, "Visite annuelle du parc")
    assert report.planned and report.ticket is None and report.subject == "Visite annuelle du parc"


def test_numbers_are_sequential_per_year(app):
    assert [iv.next_report_number(2026) for _ in range(3)] == ["2026-0001", "2026-0002", "2026-0003"]
    assert iv.next_report_number(2027) == "2027-0001"
    assert iv.next_report_number(2026) == "2026-0004"


def test_numbers_are_unique_under_concurrent_transactions(app):
    db.session.commit()
    numbers, errors = [], []

    def worker():
        try:
            for _ in range(5):
                with app.app_context():
                    numbers.append(iv.next_report_number(2030))
                    db.session.commit()
                    db.session.remove()
        except Exception as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(numbers) == [f"2030-{n:04d}" for n in range(1, 21)]


@pytest.mark.parametrize("kind, fields, message", [
    ("work", {"minutes": -5}, "Durée invalide"),
    ("work", {"minutes": 10**7}, "Durée invalide"),
    ("part", {"label": "", "quantity": D(1), "unit_price": D(5)}, "pièce"),
    ("part", {"label": "Câble", "quantity": D(-1)}, "négatifs"),
    ("travel", {"km": D("-2")}, "négatifs"),
    ("part", {"label": "Câble", "minutes": None}, "à estimer"),
])
def test_bad_lines_are_refused(app, kind, fields, message):
    report = make_report()
    with pytest.raises(iv.ReportError, match=message):
        iv.add_line(report, report.technician, kind, **fields)
    assert report.lines == []


def test_unknown_line_kind_is_refused(app):
    report = make_report()
    with pytest.raises(ValueError):
        iv.add_line(report, report.technician, "coffee", minutes=5)


def test_to_be_estimated_is_completed_on_the_same_report(app, settings):
    report = make_report()
    line = iv.add_line(report, report.technician, "work", label="Réinstaller le poste", minutes=None)
    assert report.to_estimate
    with pytest.raises(iv.ReportError, match="estimer"):
        sign_client(report, report.technician, settings)
    other = make_referent()
    iv.complete_line(line, other, 95)
    assert not report.to_estimate and line.technician == other
    sign_client(report, other, settings)
    assert report.status == ReportStatus.SIGNED


def test_handover_passes_the_report_with_a_note(app):
    report = make_report()
    first = report.technician
    iv.add_line(report, first, "work", label="Diagnostic", minutes=30)
    second = make_referent()
    handover = iv.hand_over(report, first, second, "Carte mère suspecte, mémoire testée OK")
    assert report.technician == second
    assert (handover.from_user, handover.to_user) == (first, second)
    assert report.lines[0].technician == first  # what was done stays attributed
    with pytest.raises(iv.ReportError):
        iv.hand_over(report, second, make_user(role=Role.REQUESTER))
    with pytest.raises(iv.ReportError):
        iv.hand_over(report, second, second)


def test_workshop_intake_blocks_work_until_backup(app):
    report = make_report()
    tech = report.technician
    with pytest.raises(iv.ReportError):
        iv.record_intake(report, tech, "  ")
    intake = iv.record_intake(report, tech, "Ne démarre plus, enlevé du poste de l'accueil")
    with pytest.raises(iv.ReportError, match="déjà"):
        iv.record_intake(report, tech, "encore")
    iv.add_line(report, tech, "travel", label="Enlèvement", minutes=20, km=D(8))  # fetching it is allowed
    for kind in ("work", "research", "part"):
        with pytest.raises(iv.ReportError, match="sauvegarde"):
            iv.add_line(report, tech, kind, label="x", minutes=10)
    iv.confirm_backup(intake, tech)
    iv.add_line(report, tech, "work", label="Remplacement du disque", minutes=60)
    with pytest.raises(iv.ReportError):
        iv.record_return(intake, tech, "")
    iv.record_return(intake, tech, "M. Martin, accueil")
    assert not intake.is_open and intake.returned_to == "M. Martin, accueil"
    with pytest.raises(iv.ReportError, match="rendue"):
        iv.record_return(intake, tech, "encore")


@pytest.mark.parametrize("image, name, message", [
    (b"", "Mme Durand", "vide"),
    (b"GIF89a....", "Mme Durand", "PNG"),
    (b"\x89PNG\r\n\x1a\n" + b"0" * 400_000, "Mme Durand", "lourde"),
    (signature_png(), "   ", "nom"),
])
def test_bad_signatures_are_refused(app, settings, image, name, message):
    report = make_report()
    iv.add_line(report, report.technician, "work", minutes=30)
    with pytest.raises(iv.ReportError, match=message):
        signatures.sign(report, SignatureRole.CLIENT, name, image, report.technician, settings, render_report_pdf)
    assert report.status == ReportStatus.DRAFT and report.signatures == []


def test_client_signature_freezes_with_pdf_and_hashes(app, settings):
    report = make_report()
    tech = report.technician
    iv.add_line(report, tech, "work", label="Nettoyage", minutes=50)
    iv.add_line(report, tech, "part", label="Cartouche", quantity=D(1), unit_price=D("24.90"))
    signatures.sign(report, SignatureRole.TECHNICIAN, tech.name, signature_png(), tech, settings, render_report_pdf)
    assert report.status == ReportStatus.DRAFT  # the technician's signature alone freezes nothing
    sign_client(report, tech, settings)
    assert report.status == ReportStatus.SIGNED and report.signed_at is not None
    assert (report.total_ht, report.vat, report.total_ttc) == (D("84.90"), D("16.98"), D("101.88"))
    assert report.pdf.startswith(b"%PDF") and report.pdf_sha256 == hashlib.sha256(report.pdf).hexdigest()
    assert report.content_sha256 == signatures.content_digest(report)
    line = report.lines[0]
    refused = [
        lambda: iv.update_report(report, remarks="changed"),
        lambda: iv.add_line(report, tech, "work", minutes=10),
        lambda: iv.complete_line(line, tech, 10),
        lambda: iv.remove_line(line),
        lambda: iv.hand_over(report, tech, make_referent()),
        lambda: iv.record_intake(report, tech, "atelier"),
        lambda: sign_client(report, tech, settings, "Quelqu'un d'autre"),
    ]
    for attempt in refused:
        with pytest.raises(iv.ReportFrozen):
            attempt()
    db.session.commit()
    db.session.expire_all()
    assert signatures.content_digest(db.session.get(Intervention, report.id)) == report.content_sha256


def test_a_signed_report_changes_only_through_a_new_version(app, settings):
    report = make_report()
    tech = report.technician
    iv.add_line(report, tech, "work", minutes=60)
    with pytest.raises(iv.ReportError, match="signé"):
        signatures.create_revision(report, tech, "typo")
    sign_client(report, tech, settings)
    with pytest.raises(iv.ReportError, match="pourquoi"):
        signatures.create_revision(report, tech, " ")
    revision = signatures.create_revision(report, tech, "Pièce oubliée")
    with pytest.raises(iv.ReportError, match="existe déjà"):
        signatures.create_revision(report, tech, "encore")
    assert (revision.number, revision.version, revision.replaces) == (report.number, 2, report)
    assert revision.status == ReportStatus.DRAFT and len(revision.lines) == 1
    iv.add_line(revision, tech, "part", label="Barrette 8 Go", quantity=D(1), unit_price=D("30"))
    assert report.status == ReportStatus.SIGNED  # still the valid document until the new one is signed
    sign_client(revision, tech, settings)
    assert report.status == ReportStatus.SUPERSEDED and revision.status == ReportStatus.SIGNED
    assert revision.total_ht == D("90.00") and report.total_ht == D("60.00")  # the old one kept as signed


def test_contract_hours_run_out_across_reports_of_the_month(app, settings):
    org = make_organisation()
    contract = Contract(organisation=org, starts_on=date(2020, 1, 1), included_minutes=90, hourly_rate=D("80"))
    db.session.add(contract)
    first = make_report(organisation=org)
    assert first.contract == contract and first.under_contract
    iv.add_line(first, first.technician, "work", minutes=60)
    sign_client(first, first.technician, settings)
    assert first.total_ht == D("0.00")
    second = make_report(organisation=org)
    iv.add_line(second, second.technician, "work", minutes=60)
    assert iv.included_minutes_left(second, iv.report_day(second, settings.timezone)) == 30
    sign_client(second, second.technician, settings)
    assert second.total_ht == D("40.00")  # 30 min left on the contract, 30 min at 80 €/h
    consumed = db.session.execute(db.select(ContractConsumption.minutes).order_by(ContractConsumption.id)).scalars()
    assert list(consumed) == [60, 30]


def test_revision_does_not_count_its_own_previous_consumption(app, settings):
    org = make_organisation()
    db.session.add(Contract(organisation=org, starts_on=date(2020, 1, 1), included_minutes=60))
    report = make_report(organisation=org)
    iv.add_line(report, report.technician, "work", minutes=60)
    sign_client(report, report.technician, settings)
    revision = signatures.create_revision(report, report.technician, "Durée corrigée")
    revision.lines[0].minutes = 45
    sign_client(revision, report.technician, settings)
    assert revision.total_ht == D("0.00")
    rows = db.session.execute(db.select(ContractConsumption)).scalars().all()
    assert [(r.intervention_id, r.minutes) for r in rows] == [(revision.id, 45)]


def test_response_time_from_ticket_timestamps(app):
    org = make_organisation()
    db.session.add(Contract(organisation=org, starts_on=date(2020, 1, 1), response_hours=4))
    report = make_report(organisation=org)
    ticket = report.ticket
    ticket.created_at = utcnow() - timedelta(hours=10)
    ticket.taken_at = ticket.created_at + timedelta(hours=3)
    assert iv.response_compliance(report) == (4, True)
    ticket.taken_at = ticket.created_at + timedelta(hours=5)
    assert iv.response_compliance(report) == (4, False)


def test_update_report_refuses_unknown_fields_and_naive_dates(app):
    from datetime import datetime

    report = make_report()
    with pytest.raises(iv.ReportError):
        iv.update_report(report, status="signed")
    with pytest.raises(iv.ReportError):
        iv.update_report(report, intervention_at=datetime(2026, 1, 1, 9, 0))
    with pytest.raises(iv.ReportError):
        iv.update_report(report, language="de")
