"""Files sent and fetched on the web: stored through helpdesk.files, served only as downloads, 404 for others."""
import io

import pytest

from helpdesk.extensions import db
from helpdesk.models import Attachment, Message, MessageKind, Ticket
from tests.factories import make_referent, make_ticket, make_user, post_form, sign_in


@pytest.fixture
def owner(app):
    user = make_user(email="owner@example.test")
    db.session.commit()
    return user


def upload(client, url, data, files):
    payload = dict(data)
    payload["attachments"] = [(io.BytesIO(content), name) for name, content in files]
    return post_form(client, url, payload, content_type="multipart/form-data")


def test_reply_with_files_then_download_them_as_attachments(app, owner):
    ticket = make_ticket(requester=owner)
    db.session.commit()
    client = app.test_client()
    sign_in(client, owner)
    html = b"<html><script>alert(1)</script></html>"
    response = upload(client, f"/my/tickets/{ticket.id}/reply", {"body": "Voici la photo"},
                      [("../../etc/photo<script>.html", html), ("notes.txt", b"du texte")])
    assert response.status_code == 302
    stored = db.session.execute(db.select(Attachment).order_by(Attachment.id)).scalars().all()
    assert [a.filename for a in stored][1] == "notes.txt"
    assert "/" not in stored[0].filename and "\\" not in stored[0].filename
    download = client.get(f"/attachments/{stored[0].id}")
    assert download.status_code == 200 and download.data == html
    assert download.headers["Content-Type"] == "application/octet-stream"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in download.headers["Content-Security-Policy"]
    page = client.get(f"/my/tickets/{ticket.id}").text
    assert f"/attachments/{stored[1].id}" in page and "notes.txt" in page


def test_other_people_and_internal_files_are_404(app, owner):
    ticket = make_ticket(requester=owner)
    referent = make_referent()
    note = Message(ticket=ticket, kind=MessageKind.NOTE, public=False, author=referent, body_text="interne")
    db.session.add(note)
    db.session.commit()
    staff = app.test_client()
    sign_in(staff, referent)
    upload(staff, f"/desk/tickets/{ticket.id}/messages", {"body": "capture", "internal": "y"},
           [("capture.png", b"\x89PNG fake")])
    internal = db.session.execute(db.select(Attachment)).scalar_one()
    assert staff.get(f"/attachments/{internal.id}").status_code == 200
    me, stranger = app.test_client(), app.test_client()
    sign_in(me, owner)
    sign_in(stranger, make_user())
    db.session.commit()
    assert me.get(f"/attachments/{internal.id}").status_code == 404
    assert stranger.get(f"/attachments/{internal.id}").status_code == 404
    assert me.get("/attachments/999999").status_code == 404


def test_too_large_files_save_nothing(app, owner):
    app.config["HELPDESK"]["max_attachment_bytes"] = 10
    ticket = make_ticket(requester=owner)
    db.session.commit()
    client = app.test_client()
    sign_in(client, owner)
    response = upload(client, f"/my/tickets/{ticket.id}/reply", {"body": "gros fichier"}, [("big.bin", b"x" * 11)])
    assert response.status_code == 400 and "trop volumineux" in response.text
    db.session.expire_all()
    assert len(db.session.get(Ticket, ticket.id).messages) == 1
    assert db.session.execute(db.select(Attachment)).first() is None
    response = upload(client, "/my/tickets/new", {"subject": "Nouveau", "body": "avec pièce"}, [("big.bin", b"x" * 11)])
    assert response.status_code == 400
    assert db.session.execute(db.select(Ticket).where(Ticket.subject == "Nouveau")).first() is None


def test_too_many_files_save_nothing(app, owner):
    ticket = make_ticket(requester=owner)
    db.session.commit()
    client = app.test_client()
    sign_in(client, owner)
    response = upload(client, f"/my/tickets/{ticket.id}/reply", {"body": "plein"},
                      [(f"f{n}.txt", b"x") for n in range(11)])
    assert response.status_code == 400
    assert db.session.execute(db.select(Attachment)).first() is None


def test_new_ticket_with_a_file_and_a_request_over_the_size_cap(app, owner):
    client = app.test_client()
    sign_in(client, owner)
    response = upload(client, "/my/tickets/new", {"subject": "Écran", "body": "photo jointe"},
                      [("ecran.jpg", b"\xff\xd8jpeg")])
    assert response.status_code == 302
    ticket = db.session.execute(db.select(Ticket)).scalar_one()
    assert [a.filename for a in ticket.messages[0].attachments] == ["ecran.jpg"]
    app.config["MAX_CONTENT_LENGTH"] = 1000
    response = upload(client, "/my/tickets/new", {"subject": "Énorme", "body": "x"}, [("x.bin", b"x" * 2000)])
    assert response.status_code == 413
