"""Access rules over EVERY route of the app, so routes added later are covered without editing this file.

For each rule of the URL map and each method: anonymous visitors are sent to sign-in; requester A
addressing requester B's ticket, message or attachment gets 404; a requester on staff routes gets
403/404; a POST without a CSRF token is refused and changes nothing in the database.
A route meant for visitors (a signed link, a health check) must be listed in PUBLIC_ENDPOINTS; a
route requesters may use must be listed in REQUESTER_ENDPOINTS — and then it is checked for
other people's ids.
"""
from __future__ import annotations

import hashlib
import tempfile

import pytest
from sqlalchemy import text

from helpdesk import create_app
from helpdesk.extensions import db
from helpdesk.models import Attachment, Category, Location, Message, MessageKind, Role
from tests.factories import csrf_token, make_organisation, make_ticket, make_user, sign_in

PUBLIC_ENDPOINTS = {
    "static", "health.healthz", "portal.home", "i18n.switch_language",
    "auth.login", "auth.request_link", "auth.link", "auth.reset_request", "auth.reset",
    "ratings.rate",  # signed single-use rating link from the closing mail (issue 7)
}
# Pages a requester may open; those taking an object id must answer 404 for someone else's.
REQUESTER_ENDPOINTS = {
    "auth.logout", "portal.my_tickets", "portal.new_ticket", "portal.ticket", "portal.reply",
    "portal.message_html", "portal.attachment",
}


def _routes():
    app = create_app({"var_dir": tempfile.mkdtemp(prefix="hd-routes-")})
    found = []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append(pytest.param(rule.endpoint, rule.rule, method, id=f"{method} {rule.rule}"))
    return found


ROUTES = _routes()


@pytest.fixture
def world(app):
    """Requesters A and B (B has a ticket with a public message, a note and a file), staff."""
    org_b = make_organisation()
    a = make_user(email="a@example.test")
    b = make_user(email="b@example.test", organisation=org_b)
    referent = make_user(Role.REFERENT, email="ref@example.test")
    admin = make_user(Role.ADMIN, email="admin@example.test")
    ticket = make_ticket(requester=b, subject="Secret de B")
    message = ticket.messages[0]
    message.body_html = "<p>html de B</p>"
    note = Message(ticket=ticket, kind=MessageKind.NOTE, public=False, author=referent, body_text="note")
    db.session.add(note)
    db.session.flush()
    attachment = Attachment(ticket_id=ticket.id, message_id=message.id, filename="b.pdf", size=3,
                            sha256="0" * 64, storage_key="00/00")
    category, location = Category(name="Cat"), Location(name="Lieu", organisation=org_b)
    db.session.add_all([attachment, category, location])
    db.session.commit()
    ids = {"ticket_id": ticket.id, "message_id": message.id, "attachment_id": attachment.id,
           "user_id": b.id, "org_id": org_b.id, "organisation_id": org_b.id, "category_id": category.id,
           "location_id": location.id, "id": ticket.id, "token": "A" * 43, "filename": "app.css"}
    return {"a": a, "b": b, "referent": referent, "admin": admin, "ids": ids, "note": note}


def build_url(app, endpoint, rule, ids):
    with app.test_request_context():
        werkzeug_rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint and r.rule == rule)
        values = {arg: ids.get(arg, ids["ticket_id"]) for arg in werkzeug_rule.arguments}
        url = werkzeug_rule.build(values, append_unknown=False)[1]
    return url


def snapshot() -> str:
    """A digest of every row of every table: equal digests mean nothing changed."""
    digest = hashlib.sha256()
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            rows = conn.execute(text(f'SELECT * FROM "{table.name}"')).fetchall()
            digest.update(repr(sorted(map(repr, rows))).encode())
    return digest.hexdigest()


def call(client, method, url, with_csrf=True):
    data = {"csrf_token": csrf_token(client)} if with_csrf else {}
    return client.open(url, method=method, data=data if method != "GET" else None)


@pytest.mark.parametrize("endpoint, rule, method", ROUTES)
def test_route_access(app, world, endpoint, rule, method):
    url = build_url(app, endpoint, rule, world["ids"])
    db.session.expire_all()

    # Anonymous: sent to the sign-in page (unless the route is public).
    if endpoint not in PUBLIC_ENDPOINTS:
        response = call(app.test_client(), method, url)
        assert response.status_code == 302, (url, response.status_code)
        assert response.location.startswith("/auth/login")

    # Requester A: nothing of B's, no staff page.
    client_a = app.test_client()
    sign_in(client_a, world["a"])
    before = snapshot()
    response = call(client_a, method, url)
    if endpoint in PUBLIC_ENDPOINTS:
        assert response.status_code < 500
    elif endpoint in REQUESTER_ENDPOINTS:
        takes_object = any(arg in rule for arg in ("ticket_id", "message_id", "attachment_id"))
        if takes_object:
            assert response.status_code == 404, (url, response.status_code)
            assert snapshot() == before
        assert b"Secret de B" not in response.data
    else:
        assert response.status_code in (403, 404), (url, response.status_code)
        assert snapshot() == before

    # Every POST without a CSRF token is refused, even from an admin, and changes nothing.
    if method == "POST":
        client_admin = app.test_client()
        sign_in(client_admin, world["admin"])
        before = snapshot()
        response = call(client_admin, method, url, with_csrf=False)
        assert response.status_code == 400, (url, response.status_code)
        assert snapshot() == before


def test_every_route_is_classified_or_staff_only(app):
    """A sanity check of the lists above: they name endpoints that exist."""
    endpoints = set(app.view_functions)
    assert PUBLIC_ENDPOINTS - {"portal.attachment"} <= endpoints
    assert REQUESTER_ENDPOINTS - {"portal.attachment"} <= endpoints


def test_staff_see_other_peoples_tickets_but_requesters_never_see_notes(app, world):
    staff = app.test_client()
    sign_in(staff, world["referent"])
    assert staff.get(f"/desk/tickets/{world['ids']['ticket_id']}").status_code == 200
    owner = app.test_client()
    sign_in(owner, world["b"])
    page = owner.get(f"/my/tickets/{world['ids']['ticket_id']}")
    assert page.status_code == 200 and "Secret de B" in page.text
    assert owner.get(f"/messages/{world['note'].id}/html").status_code == 404


def test_organisation_manager_sees_the_organisations_tickets_only(app, world):
    manager = make_user(email="boss@example.test", organisation=world["b"].organisation)
    manager.is_org_manager = True
    colleague = make_user(email="colleague@example.test", organisation=world["b"].organisation)
    db.session.commit()
    as_manager, as_colleague = app.test_client(), app.test_client()
    sign_in(as_manager, manager)
    sign_in(as_colleague, colleague)
    ticket_url = f"/my/tickets/{world['ids']['ticket_id']}"
    assert as_manager.get(ticket_url).status_code == 200
    assert "Secret de B" in as_manager.get("/my/tickets").text
    assert as_colleague.get(ticket_url).status_code == 404
    assert "Secret de B" not in as_colleague.get("/my/tickets").text
