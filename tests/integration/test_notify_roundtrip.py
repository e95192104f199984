"""Round trip: a notification goes out through SMTP, the requester's client replies, the reply comes
back through the real Dovecot and lands on the same ticket, whichever threading clue it kept."""
from __future__ import annotations

import pytest

from helpdesk.extensions import db
from helpdesk.models import MessageKind, OutboundMail, Ticket
from tests.factories import make_referent, make_user
from tests.mailfixtures import make_eml
from workers import mail_poller
from workers.delivery import send_outbox
from workers.mailbox import MailboxConfig
from helpdesk.tickets import open_ticket

pytestmark = pytest.mark.integration


@pytest.fixture
def settings_overrides(settings_overrides, smtp_settings):
    settings_overrides.update(smtp_settings)
    return settings_overrides


def poll(dovecot, app):
    return mail_poller.poll_mailbox(MailboxConfig.from_dict(dovecot.mailbox_settings()), app.config["HELPDESK"])


def count(model) -> int:
    return db.session.execute(db.select(db.func.count()).select_from(model)).scalar_one()


@pytest.fixture
def notified(app, smtp_sink):
    """A ticket opened by mail, its acknowledgement received by the requester's server."""
    requester = make_user(email="alice@ecole.example", display_name="Alice")
    ticket = open_ticket(requester, "Imprimante bloquée", "Bourrage papier.", origin_message_id="<orig-1@ecole.example>")
    ticket.assignee = make_referent(email="tech@helpdesk.example")
    db.session.commit()
    send_outbox(app)
    [ack] = smtp_sink.wait_for(1)
    return ticket, ack


# What different mail clients keep when replying (In-Reply-To only, References only, subject tag only).
CLUES = {
    "in_reply_to": lambda ack: ("Re: Imprimante bloquée", {"In-Reply-To": ack.message_id}),
    "references": lambda ack: ("Re: Imprimante bloquée", {"References": f"<orig-1@ecole.example> {ack.message_id}"}),
    "subject_tag": lambda ack: (f"RE: {ack.message['Subject']}", {}),
}


@pytest.mark.parametrize("clue", sorted(CLUES))
def test_a_reply_lands_on_the_same_ticket(app, dovecot, smtp_sink, notified, clue):
    ticket, ack = notified
    subject, headers = CLUES[clue](ack)
    dovecot.append("INBOX", [make_eml(sender="Alice <alice@ecole.example>", subject=subject,
                                      body="Toujours bloquée ce matin.", message_id=f"<reply-{clue}@ecole.example>",
                                      extra=headers)])
    assert poll(dovecot, app).outcomes == ["reply_added"]
    db.session.expire_all()
    assert count(Ticket) == 1
    replies = [m for m in db.session.get(Ticket, ticket.id).messages
               if m.kind == MessageKind.INBOUND and m.message_id == f"<reply-{clue}@ecole.example>"]
    assert len(replies) == 1 and "Toujours bloquée" in replies[0].body_text
    # The assignee hears about it, through the outbox, threaded on the same ticket.
    send_outbox(app)
    told = smtp_sink.to("tech@helpdesk.example")
    assert len(told) == 1 and f"[#{ticket.id}]" in told[0].message["Subject"]


def test_an_out_of_office_answer_creates_no_ticket_and_no_mail(app, dovecot, smtp_sink, notified):
    ticket, ack = notified
    before = count(OutboundMail)
    dovecot.append("INBOX", [make_eml(
        sender="alice@ecole.example", subject=f"Réponse automatique : {ack.message['Subject']}",
        body="Je suis absente jusqu'au 30 novembre.", message_id="<ooo-1@ecole.example>",
        extra={"In-Reply-To": ack.message_id, "Auto-Submitted": "auto-replied"})])
    assert poll(dovecot, app).outcomes == ["auto_reply"]
    db.session.expire_all()
    assert count(Ticket) == 1 and count(OutboundMail) == before
    send_outbox(app)
    assert len(smtp_sink.messages) == 1  # still only the acknowledgement
