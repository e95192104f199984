"""The embedded default: mails captured as .eml files and the admin page that lists them."""
from __future__ import annotations

import os

import pytest

from helpdesk.extensions import db
from helpdesk.mailout import CaptureTransport, list_captured, mail_out_dir
from helpdesk.models import OutboundMail, OutboundStatus, Role
from tests.factories import make_referent, make_ticket, make_user, sign_in
from workers.delivery import make_transport, send_outbox


def test_without_smtp_host_the_worker_writes_eml_files(app):
    settings = app.config["HELPDESK"]
    assert settings["smtp_host"] == ""
    assert isinstance(make_transport(settings), CaptureTransport)
    ticket = make_ticket(requester=make_user(email="alice@example.org"), subject="Écran noir")
    db.session.commit()
    assert send_outbox(app) == "1 sent, 0 to retry, 0 failed"
    folder = mail_out_dir(settings["var_dir"])
    [name] = [n for n in os.listdir(folder)]
    raw = (folder / name).read_bytes()
    assert raw.startswith(b"X-Envelope-From: <support@helpdesk.example>\r\nX-Envelope-To: <alice@example.org>\r\n")
    row = db.session.execute(db.select(OutboundMail)).scalar_one()
    assert raw.endswith(row.raw) and row.status == OutboundStatus.SENT
    [listed] = list_captured(folder)
    assert listed.to.endswith("<alice@example.org>")
    assert listed.subject == f"[#{ticket.id}] Demande reçue : Écran noir"
    assert send_outbox(app) is None  # nothing left


def test_capture_ignores_foreign_and_partial_files(tmp_path):
    transport = CaptureTransport(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / ".20260101T000000000000Z-0123456789abcdef.eml.part").write_bytes(b"half")
    transport.send("a@example.org", "b@example.org", b"Subject: hi\r\nTo: b@example.org\r\n\r\nbody\r\n")
    assert [m.subject for m in list_captured(tmp_path)] == ["hi"]
    assert list_captured(tmp_path / "missing") == []


@pytest.fixture
def captured(app):
    make_ticket(requester=make_user(email="alice@example.org"), subject="<script>alert(1)</script>")
    db.session.commit()
    send_outbox(app)
    return list_captured(mail_out_dir(app.config["HELPDESK"]["var_dir"]))


def test_admin_sees_the_list_and_each_mail(app, client, captured):
    admin = make_user(Role.ADMIN, email="admin@example.org")
    db.session.commit()
    sign_in(client, admin)
    page = client.get("/admin/mail-out/")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "alice@example.org" in body and "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;" in body
    name = captured[0].name
    shown = client.get(f"/admin/mail-out/{name}")
    assert shown.status_code == 200 and "Nous avons bien reçu votre demande" in shown.get_data(as_text=True)
    assert "<script>alert(1)</script>" not in shown.get_data(as_text=True)
    raw = client.get(f"/admin/mail-out/{name}/raw")
    assert raw.status_code == 200 and raw.headers["X-Content-Type-Options"] == "nosniff"
    assert raw.headers["Content-Disposition"].startswith("attachment")


@pytest.mark.parametrize("name", ["../helpdesk.sqlite3", "..%2Fhelpdesk.sqlite3", "dev-secret-key",
                                  "20991231T000000000000Z-0000000000000000.eml"])
def test_other_names_are_404(app, client, captured, name):
    admin = make_user(Role.ADMIN)
    db.session.commit()
    sign_in(client, admin)
    assert client.get(f"/admin/mail-out/{name}").status_code == 404
    assert client.get(f"/admin/mail-out/{name}/raw").status_code == 404


@pytest.mark.parametrize("role", [Role.REQUESTER, Role.REFERENT])
def test_only_admins_see_captured_mail(app, client, captured, role):
    # Captured mail holds other people's sign-in links: referents may not read it either.
    user = make_referent() if role == Role.REFERENT else make_user()
    db.session.commit()
    sign_in(client, user)
    name = captured[0].name
    for url in ("/admin/mail-out/", f"/admin/mail-out/{name}", f"/admin/mail-out/{name}/raw"):
        assert client.get(url).status_code == 403


def test_anonymous_is_not_shown_captured_mail(app, client, captured):
    app.login_manager.login_view = None  # the sign-in page belongs to the portal
    assert client.get("/admin/mail-out/").status_code == 401
