"""Referents' intervention pages: access, forms, bad posts, the signing flow, PDFs and statements."""
import base64
import re

import pytest

from helpdesk import interventions as iv
from helpdesk.extensions import db
from helpdesk.models import Intervention, ReportStatus, Statement, Status
from tests.factories import (
    make_organisation, make_referent, make_report, make_ticket, make_user, sign_in, signature_png,
)


@pytest.fixture
def settings_overrides(settings_overrides):
    settings_overrides["secret_key"] = "views-test-secret"
    return settings_overrides


@pytest.fixture
def referent(app):
    user = make_referent(display_name="Tech Un")
    db.session.commit()
    return user


@pytest.fixture
def staff(client, referent):
    sign_in(client, referent)
    return client


def csrf(client, path):
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    match = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page.data)
    assert match, "no CSRF token on the page"
    return match.group(1).decode()


def report_for(referent, **fields):
    report = make_report(referent=referent, **fields)
    db.session.commit()
    return report


def png_data_url():
    return "data:image/png;base64," + base64.b64encode(signature_png()).decode()


PATHS = ["/desk/reports/", "/desk/reports/{id}", "/desk/reports/{id}/report.pdf", "/desk/reports/{id}/sign/client",
         "/desk/reports/statements"]


@pytest.mark.parametrize("path", PATHS)
def test_requesters_and_anonymous_are_kept_out(app, client, referent, path):
    app.login_manager.login_view = None  # anonymous gets 401 without a sign-in page
    report = report_for(referent)
    url = path.format(id=report.id)
    assert client.get(url).status_code == 401
    requester = make_user(organisation=report.organisation)
    db.session.commit()
    sign_in(client, requester)
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("path", [
    "/desk/reports/999999", "/desk/reports/999999/report.pdf", "/desk/reports/999999/sign/client",
    "/desk/reports/{id}/sign/boss", "/desk/reports/statements/999999.pdf", "/desk/reports/{id}/intake/999999/label.pdf",
])
def test_unknown_ids_are_404(staff, referent, path):
    report = report_for(referent)
    assert staff.get(path.format(id=report.id)).status_code == 404


def test_convert_ticket_then_add_lines_and_estimate(staff, referent):
    org = make_organisation("Collège Pasteur")
    ticket = make_ticket(requester=make_user(organisation=org), status=Status.TAKEN, referent=referent,
                         subject="Vidéoprojecteur salle 4")
    db.session.commit()
    token = csrf(staff, "/desk/reports/")
    response = staff.post(f"/desk/reports/from-ticket/{ticket.id}", data={"csrf_token": token})
    assert response.status_code == 302
    report = db.session.execute(db.select(Intervention).where(Intervention.ticket_id == ticket.id)).scalar_one()
    assert response.headers["Location"].endswith(f"/desk/reports/{report.id}")
    page = staff.get(f"/desk/reports/{report.id}")
    assert "Vidéoprojecteur salle 4" in page.get_data(as_text=True)
    token = csrf(staff, f"/desk/reports/{report.id}")
    staff.post(f"/desk/reports/{report.id}/lines",
               data={"csrf_token": token, "kind": "work", "label": "Lampe", "minutes": "40", "billable": "y"})
    staff.post(f"/desk/reports/{report.id}/lines",
               data={"csrf_token": token, "kind": "work", "label": "Réglages", "to_estimate": "y", "billable": "y"})
    staff.post(f"/desk/reports/{report.id}/lines",
               data={"csrf_token": token, "kind": "part", "label": "Lampe EPSON", "quantity": "1",
                     "unit_price": "89.90", "billable": "y"})
    db.session.expire_all()
    report = db.session.get(Intervention, report.id)
    assert [(l.kind.value, l.minutes) for l in report.lines] == [("work", 40), ("work", None), ("part", 0)]
    assert report.to_estimate
    estimate = report.lines[1]
    staff.post(f"/desk/reports/{report.id}/lines/{estimate.id}/complete", data={"csrf_token": token, "minutes": "25"})
    db.session.expire_all()
    assert db.session.get(Intervention, report.id).lines[1].minutes == 25


@pytest.mark.parametrize("data, message", [
    ({"kind": "work", "label": "x"}, "Indiquez une durée"),
    ({"kind": "work", "minutes": "-3"}, "Durée"),
    ({"kind": "work", "minutes": "abc"}, "Durée"),
    ({"kind": "coffee", "minutes": "3"}, "Nature"),
    ({"kind": "part", "label": "", "quantity": "1", "unit_price": "5"}, "pièce"),
    ({"kind": "part", "label": "Câble", "quantity": "1", "unit_price": "1e9"}, "Prix"),
    ({"kind": "travel", "minutes": "10", "km": "-4"}, "Km"),
])
def test_bad_line_posts_give_clear_errors_and_change_nothing(staff, referent, data, message):
    report = report_for(referent)
    token = csrf(staff, f"/desk/reports/{report.id}")
    response = staff.post(f"/desk/reports/{report.id}/lines", data={"csrf_token": token, **data},
                          follow_redirects=True)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Intervention, report.id).lines == []


def test_post_without_csrf_is_refused(staff, referent):
    report = report_for(referent)
    response = staff.post(f"/desk/reports/{report.id}/lines", data={"kind": "work", "minutes": "10"})
    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.get(Intervention, report.id).lines == []


def test_line_of_another_report_is_404(staff, referent):
    mine, other = report_for(referent), report_for(referent)
    line = iv.add_line(other, referent, "work", minutes=10)
    db.session.commit()
    token = csrf(staff, f"/desk/reports/{mine.id}")
    assert staff.post(f"/desk/reports/{mine.id}/lines/{line.id}/delete", data={"csrf_token": token}).status_code == 404
    assert staff.post(f"/desk/reports/{mine.id}/lines/{line.id}/complete",
                      data={"csrf_token": token, "minutes": "5"}).status_code == 404


def test_client_signature_locks_the_report(staff, referent):
    report = report_for(referent)
    iv.add_line(report, referent, "work", label="Diagnostic", minutes=45)
    db.session.commit()
    url = f"/desk/reports/{report.id}/sign/client"
    page = staff.get(url)
    body = page.get_data(as_text=True)
    assert 'id="signature-pad"' in body and "signature.js" in body and "<script>" not in body
    token = csrf(staff, url)
    response = staff.post(url, data={"csrf_token": token, "signatory_name": "Mme Client",
                                     "signature": png_data_url()})
    assert response.status_code == 302
    db.session.expire_all()
    report = db.session.get(Intervention, report.id)
    assert report.status == ReportStatus.SIGNED and report.pdf.startswith(b"%PDF")
    pdf = staff.get(f"/desk/reports/{report.id}/report.pdf")
    assert pdf.data == report.pdf and pdf.headers["Content-Type"] == "application/pdf"
    # Every edit is refused now, with a message, and nothing changes.
    token = csrf(staff, f"/desk/reports/{report.id}")
    response = staff.post(f"/desk/reports/{report.id}/lines", data={"csrf_token": token, "kind": "work",
                                                                    "minutes": "10"}, follow_redirects=True)
    assert "nouvelle version" in response.get_data(as_text=True)
    response = staff.post(f"/desk/reports/{report.id}", data={"csrf_token": token, "subject": "Autre",
                                                              "client_name": "X", "language": "fr"},
                          follow_redirects=True)
    assert "nouvelle version" in response.get_data(as_text=True)
    db.session.expire_all()
    report = db.session.get(Intervention, report.id)
    assert len(report.lines) == 1 and report.subject != "Autre"


@pytest.mark.parametrize("signature, message", [
    ("", "Signez dans le cadre"),
    ("data:image/gif;base64,R0lGODlh", "PNG attendue"),
    ("data:image/png;base64,@@@not base64@@@", "PNG attendue"),
    ("data:image/png;base64," + base64.b64encode(b"not a png at all").decode(), "PNG"),
    ("data:image/png;base64," + "A" * 600_000, "trop lourde"),
])
def test_bad_signature_posts_are_refused(staff, referent, signature, message):
    report = report_for(referent)
    iv.add_line(report, referent, "work", minutes=30)
    db.session.commit()
    url = f"/desk/reports/{report.id}/sign/client"
    token = csrf(staff, url)
    response = staff.post(url, data={"csrf_token": token, "signatory_name": "Mme Client", "signature": signature},
                          follow_redirects=True)
    assert message in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Intervention, report.id).status == ReportStatus.DRAFT


def test_workshop_intake_backup_return_and_label(staff, referent):
    report = report_for(referent)
    token = csrf(staff, f"/desk/reports/{report.id}")
    staff.post(f"/desk/reports/{report.id}/intake", data={"csrf_token": token, "reason": "Écran cassé"})
    db.session.expire_all()
    intake = db.session.get(Intervention, report.id).intakes[0]
    refused = staff.post(f"/desk/reports/{report.id}/lines", data={"csrf_token": token, "kind": "work",
                                                                   "minutes": "30"}, follow_redirects=True)
    assert "sauvegarde" in refused.get_data(as_text=True)
    staff.post(f"/desk/reports/{report.id}/intake/{intake.id}/backup", data={"csrf_token": token})
    label = staff.get(f"/desk/reports/{report.id}/intake/{intake.id}/label.pdf")
    assert label.status_code == 200 and label.data.startswith(b"%PDF")
    staff.post(f"/desk/reports/{report.id}/intake/{intake.id}/return", data={"csrf_token": token,
                                                                             "returned_to": "Mme Accueil"})
    db.session.expire_all()
    intake = db.session.get(Intervention, report.id).intakes[0]
    assert intake.backup_confirmed_at is not None and intake.returned_to == "Mme Accueil"
    other = report_for(referent)
    assert staff.get(f"/desk/reports/{other.id}/intake/{intake.id}/label.pdf").status_code == 404


def test_handover_and_planned_report(staff, referent):
    org = make_organisation("Mairie")
    second = make_referent(display_name="Tech Deux")
    db.session.commit()
    token = csrf(staff, "/desk/reports/")
    response = staff.post("/desk/reports/planned", data={"csrf_token": token, "organisation": str(org.id),
                                                         "subject": "Visite annuelle"})
    assert response.status_code == 302
    report = db.session.execute(db.select(Intervention).where(Intervention.planned)).scalar_one()
    staff.post(f"/desk/reports/{report.id}/handover", data={"csrf_token": token, "to_user": str(second.id),
                                                            "note": "Reste l'imprimante"})
    db.session.expire_all()
    assert db.session.get(Intervention, report.id).technician_id == second.id
    bad = staff.post("/desk/reports/planned", data={"csrf_token": token, "organisation": "999999", "subject": "x"},
                     follow_redirects=True)
    assert "Client" in bad.get_data(as_text=True)


def test_statement_page_builds_and_serves_files(staff, referent):
    org = make_organisation("Cabinet Martin", client_number="C-500")
    db.session.commit()
    token = csrf(staff, "/desk/reports/statements")
    response = staff.post("/desk/reports/statements", data={"csrf_token": token, "organisation": str(org.id),
                                                            "period": "2026-10"})
    assert response.status_code == 302
    found = db.session.execute(db.select(Statement)).scalar_one()
    assert staff.get(f"/desk/reports/statements/{found.id}.pdf").data.startswith(b"%PDF")
    csv = staff.get(f"/desk/reports/statements/{found.id}.csv")
    assert csv.headers["Content-Type"].startswith("text/csv") and csv.data.startswith(b"report;")
    bad = staff.post("/desk/reports/statements", data={"csrf_token": token, "organisation": str(org.id),
                                                       "period": "2026-13"}, follow_redirects=True)
    assert "période invalide" in bad.get_data(as_text=True)


def test_asset_history_lists_its_tickets_and_reports(staff, referent):
    from helpdesk.models import Asset

    org = make_organisation()
    asset = Asset(name="2024-05-06b", kind="Portable", organisation=org)
    db.session.add(asset)
    ticket = make_ticket(requester=make_user(organisation=org), subject="Clavier HS")
    ticket.asset = asset
    report = make_report(ticket=ticket, referent=referent)
    db.session.commit()
    page = staff.get(f"/desk/reports/assets/{asset.id}").get_data(as_text=True)
    assert "2024-05-06b" in page and "Clavier HS" in page and report.number in page
    assert staff.get("/desk/reports/assets/999999").status_code == 404


def test_desk_ticket_page_offers_the_report_and_pages_carry_the_csp(staff, referent):
    ticket = make_ticket(requester=make_user(organisation=make_organisation()), status=Status.TAKEN,
                         referent=referent)
    db.session.commit()
    page = staff.get(f"/desk/tickets/{ticket.id}")
    assert page.status_code == 200
    assert f"/desk/reports/from-ticket/{ticket.id}" in page.get_data(as_text=True)
    report = report_for(referent)
    signing = staff.get(f"/desk/reports/{report.id}/sign/client")
    assert "script-src 'self'" in signing.headers["Content-Security-Policy"]
