"""Plain functions that build test objects through the real services."""
from __future__ import annotations

import itertools

from helpdesk import workflow
from helpdesk.extensions import db
from helpdesk.models import Organisation, Role, Source, Status, Ticket, User
from helpdesk.tickets import open_ticket
from helpdesk.users import create_user

_seq = itertools.count(1)

# The shortest allowed path from NEW to each status, so tickets reach it the legitimate way.
PATH_FROM_NEW = {
    Status.NEW: [],
    Status.TAKEN: [Status.TAKEN],
    Status.IN_PROGRESS: [Status.TAKEN, Status.IN_PROGRESS],
    Status.CLOSED: [Status.TAKEN, Status.IN_PROGRESS, Status.CLOSED],
    Status.NO_ACTION: [Status.NO_ACTION],
}


def make_organisation(name: str | None = None, **fields) -> Organisation:
    n = next(_seq)
    org = Organisation(name=name or f"Organisation {n}", client_number=fields.pop("client_number", f"T-{n:04d}"),
                       **fields)
    db.session.add(org)
    db.session.flush()
    return org


def make_user(role: Role = Role.REQUESTER, email: str | None = None, password: str | None = None,
              **fields) -> User:
    n = next(_seq)
    return create_user(email or f"{role.value}{n}@example.test", role, password=password,
                       display_name=fields.pop("display_name", f"{role.value.title()} {n}"), **fields)


def make_referent(**fields) -> User:
    return make_user(Role.REFERENT, **fields)


def make_ticket(status: Status = Status.NEW, requester: User | None = None, referent: User | None = None,
                subject: str | None = None, body: str = "Bonjour, ça ne marche pas.", **fields) -> Ticket:
    """A ticket opened by a requester and moved to `status` through the workflow."""
    requester = requester or make_user()
    ticket = open_ticket(requester, subject or f"Panne n°{next(_seq)}", body,
                         source=fields.pop("source", Source.WEB), **fields)
    path = PATH_FROM_NEW[status]
    if path:
        referent = referent or make_referent()
        for step in path:
            workflow.transition(ticket, step, actor=referent)
    return ticket


def sign_in(client, user: User) -> None:
    """Sign user in on a Flask test client the way Flask-Login's login_user() does, without a form."""
    from flask_login.utils import _create_identifier

    with client.application.test_request_context(environ_base=client.environ_base):
        identifier = _create_identifier()
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()  # "<id>:<session version>", see helpdesk.auth
        session["_fresh"] = True
        session["_id"] = identifier


# --- interventions (issue 6) ---------------------------------------------------------------------

def signature_png(width: int = 120, height: int = 40) -> bytes:
    """A real PNG with a diagonal stroke on a transparent background, like the signing canvas sends."""
    import struct
    import zlib

    rows = []
    for y in range(height):
        row = bytearray(b"\x00")  # filter: none
        for x in range(width):
            ink = abs(x * height // width - y) <= 1
            row += b"\x10\xff" if ink else b"\xff\x00"  # grey + alpha
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 4, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows)))
            + chunk(b"IEND", b""))


def make_report(ticket: Ticket | None = None, referent: User | None = None, settings: dict | None = None, **fields):
    """A draft intervention report opened from a (new) ticket of a client organisation."""
    from flask import current_app

    from helpdesk import interventions

    referent = referent or make_referent()
    if ticket is None:
        org = fields.pop("organisation", None) or make_organisation(address="1 place de la Mairie\n01000 Bourg")
        ticket = make_ticket(requester=make_user(organisation=org), status=Status.TAKEN, referent=referent)
    report = interventions.open_from_ticket(
        ticket, referent, interventions.report_settings(settings or current_app.config["HELPDESK"]))
    if fields:
        interventions.update_report(report, **fields)
    return report

def csrf_token(client) -> str:
    """A valid CSRF token for this test client's session, as the hidden form field would carry it."""
    import secrets

    from itsdangerous import URLSafeTimedSerializer

    with client.session_transaction() as session:
        raw = session.setdefault("csrf_token", secrets.token_hex(20))
    return URLSafeTimedSerializer(client.application.secret_key, salt="wtf-csrf-token").dumps(raw)


def post_form(client, url: str, data: dict | None = None, **kwargs):
    """POST a form with a valid CSRF token (what a browser submitting our page sends)."""
    return client.post(url, data={**(data or {}), "csrf_token": csrf_token(client)}, **kwargs)
