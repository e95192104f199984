"""Status mail through a real SMTP server (aiosmtpd): who gets what, headers on every mail,
the server down then back, refusals, and hostile input."""
from __future__ import annotations

import itertools

import pytest

from helpdesk import mailids, notifications, workflow
from helpdesk.extensions import db
from helpdesk.models import (ENDED_STATUSES, Message, MessageKind, OutboundMail, OutboundStatus, Status,
                             TicketWatcher)
from tests.factories import make_referent, make_ticket, make_user
from workers.delivery import send_outbox

pytestmark = pytest.mark.integration

SECRET = "test-secret-not-for-production"
SUPPORT = "support@helpdesk.example"
ALLOWED_PAIRS = [(a, b) for a, b in itertools.product(Status, Status) if b in workflow.ALLOWED[a]]
# The status's name as each language writes it in the subject.
LABELS = {
    "fr": {Status.NEW: "nouveau", Status.TAKEN: "pris en charge", Status.IN_PROGRESS: "en cours de résolution",
           Status.CLOSED: "fermé", Status.NO_ACTION: "sans suite"},
    "en": {Status.NEW: "new", Status.TAKEN: "taken", Status.IN_PROGRESS: "in progress",
           Status.CLOSED: "closed", Status.NO_ACTION: "no action"},
}


@pytest.fixture
def settings_overrides(settings_overrides, smtp_settings):
    settings_overrides.update(smtp_settings)
    return settings_overrides


def deliver(app) -> None:
    send_outbox(app)
    db.session.expire_all()


def assert_our_headers(received, ticket_id: int | None = None):
    """Every header the issue asks for, on one captured mail."""
    msg = received.message
    names = [n.lower() for n in received.header_names]
    assert len(names) == len(set(names)), names
    assert "bcc" not in names and "cc" not in names
    assert [a.addr_spec for a in msg["To"].addresses] == received.rcpt_tos
    assert msg["From"].addresses[0].addr_spec == SUPPORT
    assert msg["Auto-Submitted"] in ("auto-generated", "auto-replied")
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert mailids.domain_of(msg["Message-ID"].strip("<>")) == "helpdesk.example"
    if ticket_id is not None:
        assert mailids.ticket_id_from_message_id(msg["Message-ID"], SECRET) == ticket_id
        assert mailids.subject_tag(ticket_id) in msg["Subject"]
        assert mailids.ticket_id_from_address(msg["Reply-To"].addresses[0].addr_spec, SECRET, SUPPORT) == ticket_id
        assert msg["In-Reply-To"] and msg["In-Reply-To"] in msg["References"].split()


@pytest.mark.parametrize("pair", ALLOWED_PAIRS, ids=lambda p: f"{p[0].value}->{p[1].value}")
def test_transition_table_by_recipient_role_and_language(app, smtp_sink, pair):
    from_status, to_status = pair
    requester = make_user(email="requester@example.org", language="fr")
    watcher = make_user(email="watcher@example.org", language="en")
    holder = make_referent(email="holder@example.org", language="en")
    actor = make_referent(email="actor@example.org", language="fr")
    bystander = make_referent(email="bystander@example.org", language="fr")
    ticket = make_ticket(from_status, requester=requester, referent=holder, origin_message_id="<orig@example.org>")
    ticket.watchers.append(TicketWatcher(user=watcher))
    db.session.commit()
    deliver(app)
    smtp_sink.clear()
    assignee_before = ticket.assignee

    workflow.transition(ticket, to_status, actor=actor, note="Remplacé le câble.")
    db.session.commit()
    deliver(app)

    expected = {requester.email, watcher.email}
    if assignee_before is not None and assignee_before != actor:
        expected.add(assignee_before.email)
    if from_status in ENDED_STATUSES and ticket.assignee is None:
        expected |= {holder.email, bystander.email}  # every referent but the actor
    got = [r for m in smtp_sink.messages for r in m.rcpt_tos]
    assert sorted(got) == sorted(expected)  # the right people, once each, nobody else
    languages = {requester.email: "fr", watcher.email: "en", holder.email: "en", bystander.email: "fr"}
    for received in smtp_sink.messages:
        assert_our_headers(received, ticket.id)
        [address] = received.rcpt_tos
        language = languages[address]
        assert received.message["Content-Language"] == language
        assert received.message["Subject"].endswith(f"— {LABELS[language][to_status]}")
        assert "Remplacé le câble." in received.text()
        assert received.message["References"].split()[0] == "<orig@example.org>"
    assert bystander.email not in got or from_status in ENDED_STATUSES


def test_internal_notes_never_reach_requesters(app, smtp_sink):
    requester = make_user(email="req@example.org")
    holder = make_referent(email="holder@example.org")
    ticket = make_ticket(Status.TAKEN, requester=requester, referent=holder)
    other = make_referent(email="other@example.org")
    workflow.transition(ticket, Status.IN_PROGRESS, actor=other, note="mot de passe admin: hunter2", note_public=False)
    db.session.commit()
    deliver(app)
    [to_requester] = [m for m in smtp_sink.to("req@example.org") if "en cours" in m.message["Subject"]]
    assert "hunter2" not in to_requester.raw.decode("ascii", "replace")
    assert "hunter2" not in to_requester.text() + to_requester.html()
    [to_holder] = smtp_sink.to("holder@example.org")
    assert "hunter2" in to_holder.text()


def test_replies_and_assignment_reach_the_right_side(app, smtp_sink):
    requester = make_user(email="req@example.org", language="en")
    holder = make_referent(email="holder@example.org")
    ticket = make_ticket(requester=requester)
    db.session.commit()
    deliver(app)
    smtp_sink.clear()
    # Unassigned: a requester's message goes to every referent.
    other = make_referent(email="other@example.org")
    inbound = Message(ticket=ticket, kind=MessageKind.INBOUND, author=requester, from_address=requester.email,
                      body_text="Toujours en panne.", message_id="<r1@example.org>")
    db.session.add(inbound)
    notifications.requester_replied(ticket, inbound)
    # Handover to holder by other.
    ticket.assignee = holder
    notifications.assigned(ticket, holder, other, note="Tu connais ce poste.")
    # A public reply from holder goes to the requester only.
    reply = Message(ticket=ticket, kind=MessageKind.OUTBOUND, author=holder, body_text="J'arrive à 14 h.")
    db.session.add(reply)
    notifications.public_reply(ticket, reply)
    db.session.commit()
    deliver(app)
    by_address = {}
    for m in smtp_sink.messages:
        assert_our_headers(m, ticket.id)
        by_address.setdefault(m.rcpt_tos[0], []).append(m)
    assert sorted(by_address) == ["holder@example.org", "other@example.org", "req@example.org"]
    assert [m.message["Subject"] for m in by_address["req@example.org"]] == [
        f"[#{ticket.id}] Reply: {ticket.subject}"]
    reply_mail = by_address["req@example.org"][0]
    assert "J'arrive à 14 h." in reply_mail.text()
    assert reply_mail.message["In-Reply-To"] == "<r1@example.org>"
    assert sorted(m.message["Subject"].split("]")[1].split(":")[0].strip() for m in by_address["holder@example.org"]) == [
        "Demande confiée", "Nouveau message"]
    assert [m.message["Subject"].split("]")[1].split(":")[0].strip() for m in by_address["other@example.org"]] == [
        "Nouveau message"]


def test_server_down_then_back_sends_each_mail_exactly_once(app, smtp_sink):
    smtp_sink.stop()
    tickets = [make_ticket(requester=make_user(email=f"user{i}@example.org")) for i in range(5)]
    db.session.commit()
    for _ in range(3):  # several passes while the server is down: nothing lost, nothing sent
        deliver(app)
        db.session.execute(db.update(OutboundMail).values(next_attempt_at=OutboundMail.created_at))
        db.session.commit()
    states = db.session.execute(db.select(OutboundMail.status, OutboundMail.attempts)).all()
    assert {s for s, _ in states} == {OutboundStatus.PENDING}
    smtp_sink.start()
    deliver(app)
    deliver(app)
    ids = [m.message_id for m in smtp_sink.messages]
    assert len(ids) == len(set(ids)) == 5
    expected = set(db.session.execute(db.select(OutboundMail.message_id)).scalars())
    assert set(ids) == expected
    assert all(r.status == OutboundStatus.SENT for r in db.session.execute(db.select(OutboundMail)).scalars())
    assert len(tickets) == 5


def test_permanent_refusal_fails_at_once_and_shows_on_the_ticket(app, smtp_sink):
    smtp_sink.refuse("gone@example.org", 550, "5.1.1 No such user")
    smtp_sink.refuse("busy@example.org", 451, "4.3.0 Try later")
    gone = make_ticket(requester=make_user(email="gone@example.org"))
    busy = make_ticket(requester=make_user(email="busy@example.org"))
    fine = make_ticket(requester=make_user(email="fine@example.org"))
    db.session.commit()
    deliver(app)
    status = {r.recipient: r for r in db.session.execute(db.select(OutboundMail)).scalars()}
    assert status["gone@example.org"].status == OutboundStatus.FAILED
    assert "550" in status["gone@example.org"].last_error and status["gone@example.org"].attempts == 1
    assert status["busy@example.org"].status == OutboundStatus.PENDING
    assert "451" in status["busy@example.org"].last_error
    assert status["fine@example.org"].status == OutboundStatus.SENT
    assert [m.rcpt_tos for m in smtp_sink.messages] == [["fine@example.org"]]
    notes = [m for m in gone.messages if m.kind == MessageKind.NOTE]
    assert len(notes) == 1 and not notes[0].public
    assert not [m for m in busy.messages + fine.messages if m.kind == MessageKind.NOTE]


OUR_HEADERS = {"from", "to", "subject", "date", "message-id", "reply-to", "in-reply-to", "references",
               "auto-submitted", "x-auto-response-suppress", "content-language", "mime-version",
               "content-type", "content-transfer-encoding", "x-peer", "x-mailfrom", "x-rcptto"}
INJECTIONS = [
    "Imprimante\r\nBcc: evil@example.org",
    "Imprimante\nCc: evil@example.org\nX-Injected: 1",
    "=?utf-8?q?Imprimante=0D=0ABcc:_evil@example.org?=",
    "=?utf-8?b?SW1wcmltYW50ZQ0KQmNjOiBldmlsQGV4YW1wbGUub3Jn?=",
    'Dupont" <evil@example.org>, "Bcc: evil@example.org',
]


@pytest.mark.parametrize("hostile", INJECTIONS)
def test_header_injection_reaches_no_extra_header_or_recipient(app, smtp_sink, hostile):
    requester = make_user(email="victim@example.org", display_name=hostile)
    referent = make_referent(email="ref@example.org", display_name=hostile)
    ticket = make_ticket(requester=requester, subject=hostile)
    workflow.transition(ticket, Status.TAKEN, actor=referent, note=hostile)
    inbound = Message(ticket=ticket, kind=MessageKind.INBOUND, author=requester, body_text=hostile)
    db.session.add(inbound)
    other = make_referent(email="other@example.org")
    ticket.assignee = other
    notifications.requester_replied(ticket, inbound)
    db.session.commit()
    deliver(app)
    assert len(smtp_sink.messages) == 3
    for received in smtp_sink.messages:
        assert_our_headers(received, ticket.id)
        names = {n.lower() for n in received.header_names}
        assert not names & {"bcc", "cc", "x-injected"}
        assert received.rcpt_tos in (["victim@example.org"], ["other@example.org"])
        head = received.raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
        for line in head.split("\r\n"):
            assert line.startswith((" ", "\t")) or line.split(":", 1)[0].lower() in OUR_HEADERS, line
    assert "evil@example.org" not in {r for m in smtp_sink.messages for r in m.rcpt_tos}
