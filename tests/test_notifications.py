"""Every mail, rendered in French and English, compared with reviewed snapshots.

The snapshots in tests/snapshots/mail/ were read by a person; after a deliberate wording change,
rewrite them with UPDATE_SNAPSHOTS=1 and review the diff before committing.
"""
from __future__ import annotations

import os
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from helpdesk import notifications, workflow
from helpdesk.extensions import db
from helpdesk.mailcompose import MailAttachment
from helpdesk.models import Message, MessageKind, OutboundMail, Status, TicketWatcher
from tests.factories import make_referent, make_ticket, make_user

SNAPSHOTS = Path(__file__).parent / "snapshots" / "mail"


def _scenario(name: str, language: str) -> list[OutboundMail]:
    """Build the situation of one mail and return the rows queued by its event, for one reader."""
    requester = make_user(email="camille@example.org", display_name="Camille Durand", language=language)
    holder = make_referent(email="tech@example.org", display_name="Sam Technicien", language=language)
    ticket = make_ticket(requester=requester, subject="Vidéoprojecteur de la salle 12 en panne")
    db.session.flush()
    if name == "acknowledgement":
        return _rows(ticket, "acknowledgement")
    if name == "status_changed_public":
        return workflow.transition(ticket, Status.TAKEN, actor=holder, note="Je passe cet après-midi.") and \
            _rows(ticket, "status_changed")
    if name == "status_changed_staff":
        workflow.transition(ticket, Status.TAKEN, actor=holder)
        other = make_referent(display_name="Alex Chef")
        workflow.transition(ticket, Status.CLOSED, actor=other, note="Lampe changée, garantie.", note_public=False)
        return [r for r in _rows(ticket, "status_changed") if r.recipient == holder.email]
    if name == "status_changed_reopened":
        workflow.transition(ticket, Status.NO_ACTION, actor=holder, note="Doublon.")
        workflow.reopen(ticket, actor=requester, note="Toujours en panne.")
        return [r for r in _rows(ticket, "status_changed") if r.recipient == holder.email][-1:]
    if name == "public_reply":
        reply = Message(ticket=ticket, kind=MessageKind.OUTBOUND, author=holder,
                        body_text="Bonjour,\nla lampe est commandée.\nSam")
        db.session.add(reply)
        return notifications.public_reply(ticket, reply)
    if name == "requester_replied":
        ticket.assignee = holder
        inbound = Message(ticket=ticket, kind=MessageKind.INBOUND, author=requester,
                          from_address=requester.email, body_text="Merci, je serai en salle 12 à 14 h.")
        db.session.add(inbound)
        return notifications.requester_replied(ticket, inbound)
    if name == "assigned":
        return notifications.assigned(ticket, holder, make_referent(display_name="Alex Chef"),
                                      note="Tu connais ce modèle.")
    if name == "sign_in_link":
        return notifications.sign_in_link(requester, "http://127.0.0.1:5000/auth/link/TOKEN")
    if name == "password_reset":
        return notifications.password_reset(requester, "http://127.0.0.1:5000/auth/reset/TOKEN")
    if name == "report_ready":
        return notifications.report_ready(ticket, [requester], {"kind": "report", "reference": "2026-0042"},
                                          [MailAttachment("rapport.pdf", b"%PDF-1.7", "application/pdf")])
    if name == "statement_ready":
        return notifications.report_ready(None, [requester], {"kind": "statement", "reference": "R-2026-11",
                                                              "period": "novembre 2026"})
    raise AssertionError(name)


def _rows(ticket, event):
    return db.session.execute(db.select(OutboundMail).filter_by(ticket_id=ticket.id, event=event)
                              .order_by(OutboundMail.id)).scalars().all()


def render(row: OutboundMail) -> str:
    """The parts of a mail a person reviews: subject, text body, HTML body."""
    mail = BytesParser(policy=policy.default).parsebytes(row.raw)
    html = mail.get_body(("html",))
    return (f"Subject: {mail['Subject']}\nTo: {mail['To']}\nAuto-Submitted: {mail['Auto-Submitted']}\n"
            f"Content-Language: {mail['Content-Language']}\n\n--- text ---\n{mail.get_body(('plain',)).get_content()}"
            f"--- html ---\n{html.get_content() if html else ''}").replace("\r\n", "\n")


SCENARIOS = ["acknowledgement", "status_changed_public", "status_changed_staff", "status_changed_reopened",
             "public_reply", "requester_replied", "assigned", "sign_in_link", "password_reset",
             "report_ready", "statement_ready"]


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_mail_matches_reviewed_snapshot(app, scenario, language):
    [row] = _scenario(scenario, language)
    rendered = render(row)
    path = SNAPSHOTS / f"{scenario}.{language}.txt"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered)
    assert rendered == path.read_text()


def test_the_requester_acknowledgement_also_reaches_people_in_copy(app):
    watcher = make_user(email="cc@example.org")
    ticket = make_ticket()
    ticket.watchers.append(TicketWatcher(user=watcher))
    db.session.flush()
    rows = notifications.acknowledgement(ticket)
    assert [r.recipient for r in rows] == [ticket.requester.email, "cc@example.org"]


def test_inactive_people_and_the_actor_hear_nothing(app):
    requester = make_user()
    holder = make_referent()
    ticket = make_ticket(Status.TAKEN, requester=requester, referent=holder)
    requester.active = False
    before = len(_rows(ticket, "status_changed"))
    workflow.transition(ticket, Status.IN_PROGRESS, actor=holder)
    assert len(_rows(ticket, "status_changed")) == before  # requester inactive, holder is the actor
    assert notifications.assigned(ticket, holder, holder) == []


def test_notes_are_never_mailed_as_public_replies(app):
    ticket = make_ticket()
    note = Message(ticket=ticket, kind=MessageKind.NOTE, public=False, author=make_referent(), body_text="interne")
    db.session.add(note)
    assert notifications.public_reply(ticket, note) == []

