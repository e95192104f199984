"""The outbox: rows per recipient, headers, thread, loop guards, claiming, delivery outcomes, retry."""
from __future__ import annotations

from datetime import timedelta
from email import policy
from email.parser import BytesParser

import pytest

from helpdesk import mailids, outbox, workflow
from helpdesk.extensions import db
from helpdesk.models import Message, MessageKind, OutboundMail, OutboundStatus, Status, utcnow
from helpdesk.outbox import DeliveryConfig, PermanentFailure, TemporaryFailure, TransportDown
from tests.factories import make_referent, make_ticket, make_user

SECRET = "test-secret-not-for-production"


def parse(raw: bytes):
    return BytesParser(policy=policy.default).parsebytes(raw)


def rows(**filters) -> list[OutboundMail]:
    return db.session.execute(db.select(OutboundMail).filter_by(**filters).order_by(OutboundMail.id)).scalars().all()


class FakeTransport:
    """Same methods as workers.smtp.SmtpTransport; answers from a script per recipient."""

    def __init__(self, script=None):
        self.script = script or {}
        self.sent: list[tuple[str, str, bytes]] = []
        self.closed = False

    def send(self, mail_from, recipient, raw):
        outcome = self.script.get(recipient)
        if isinstance(outcome, list):
            outcome = outcome.pop(0) if outcome else None
        if outcome is not None:
            raise outcome
        self.sent.append((mail_from, recipient, raw))

    def close(self):
        self.closed = True


def delivery_config(**values) -> DeliveryConfig:
    return DeliveryConfig(**{"mail_from": "support@helpdesk.example", **values})


def test_acknowledgement_is_one_row_per_recipient_with_our_headers(app):
    requester = make_user(email="alice@example.org", display_name="Alice Martin")
    ticket = make_ticket(requester=requester, subject="Vidéoprojecteur salle 12",
                         origin_message_id="<CAB123@mail.example.org>")
    db.session.commit()

    [row] = rows(ticket_id=ticket.id)
    assert (row.event, row.recipient, row.status) == ("acknowledgement", "alice@example.org", OutboundStatus.PENDING)
    mail = parse(row.raw)
    assert mail["Subject"] == f"[#{ticket.id}] Demande reçue : Vidéoprojecteur salle 12"
    assert row.subject == mail["Subject"]
    assert mail["From"].addresses[0].addr_spec == "support@helpdesk.example"
    assert [a.addr_spec for a in mail["To"].addresses] == ["alice@example.org"]
    assert mail["To"].addresses[0].display_name == "Alice Martin"
    assert mail["Message-ID"] == row.message_id
    assert mailids.ticket_id_from_message_id(row.message_id, SECRET) == ticket.id
    assert mailids.ticket_id_from_address(mail["Reply-To"].addresses[0].addr_spec, SECRET,
                                          "support@helpdesk.example") == ticket.id
    assert mail["Auto-Submitted"] == "auto-replied"
    assert mail["X-Auto-Response-Suppress"] == "All"
    assert mail["In-Reply-To"] == "<CAB123@mail.example.org>"
    assert mail["References"] == "<CAB123@mail.example.org>"
    assert f"#{ticket.id}" in mail.get_body(("plain",)).get_content()
    assert f"http://127.0.0.1:5000/tickets/{ticket.id}" in mail.get_body(("html",)).get_content()


def test_language_of_the_recipient(app):
    english = make_user(language="en")
    ticket = make_ticket(requester=english, subject="Printer")
    [row] = rows(ticket_id=ticket.id)
    mail = parse(row.raw)
    assert mail["Subject"] == f"[#{ticket.id}] Request received: Printer"
    assert mail["Content-Language"] == "en"
    assert "We have received your request" in mail.get_body(("plain",)).get_content()


def test_later_mails_thread_on_the_origin_and_earlier_mails(app):
    referent = make_referent()
    ticket = make_ticket(origin_message_id="<first@example.org>")
    workflow.transition(ticket, Status.TAKEN, actor=referent)
    workflow.transition(ticket, Status.IN_PROGRESS, actor=referent)
    ack, taken, progress = rows(ticket_id=ticket.id)
    mail = parse(progress.raw)
    assert mail["In-Reply-To"] == taken.message_id
    assert mail["References"].split() == ["<first@example.org>", ack.message_id, taken.message_id]
    assert mail["Auto-Submitted"] == "auto-generated"
    assert len({ack.message_id, taken.message_id, progress.message_id}) == 3


@pytest.mark.parametrize("origin", ["<first@example.org>", None, "<a@b>\r\nBcc: evil@example.org"])
def test_the_acknowledgement_thread_is_what_the_thread_query_finds(app, origin):
    # record_creation tells enqueue the ticket is new, which skips the thread query: same answer.
    ticket = make_ticket(origin_message_id=origin)
    [ack] = rows(ticket_id=ticket.id)
    ack.status = OutboundStatus.SKIPPED  # the query would otherwise find the acknowledgement itself
    db.session.flush()
    expected = outbox._thread_ids(ticket, ticket.requester.email, outbox.current_config())
    assert parse(ack.raw)["References"].split() == expected
    assert parse(ack.raw)["In-Reply-To"] == expected[-1]


def test_a_forged_origin_message_id_is_left_out(app):
    ticket = make_ticket(origin_message_id="<a@b>\r\nBcc: evil@example.org")
    [row] = rows(ticket_id=ticket.id)
    mail = parse(row.raw)
    # Replaced by the ticket's own signed thread root.
    assert mail["In-Reply-To"] == mail["References"] == outbox.thread_root(ticket, outbox.current_config())
    assert mailids.ticket_id_from_message_id(mail["References"], SECRET) == ticket.id
    assert "Bcc" not in mail


HOSTILE = [
    "Panne\r\nBcc: evil@example.org",
    "Panne\nBcc: evil@example.org",
    "=?utf-8?q?Panne=0D=0ABcc:_evil@example.org?=",
    "=?utf-8?b?UGFubmUNCkJjYzogZXZpbEBleGFtcGxlLm9yZw==?=",
    "Panne\u2028Bcc: evil@example.org\x85X: y",
    "Panne" + " x" * 600,
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_subjects_and_names_add_no_header_and_no_recipient(app, hostile):
    requester = make_user(email="bob@example.org", display_name=hostile[:200])
    watcher = make_user(email="carol@example.org", display_name='Carol" <evil@example.org>, "x')
    ticket = make_ticket(requester=requester, subject=hostile)
    ticket.watchers.append(__import__("helpdesk.models", fromlist=["TicketWatcher"]).TicketWatcher(user=watcher))
    referent = make_referent(display_name=hostile[:200])
    workflow.transition(ticket, Status.TAKEN, actor=referent, note=hostile)
    for row in rows(ticket_id=ticket.id):
        mail = parse(row.raw)
        names = [name.lower() for name, _ in mail.raw_items()]
        assert "bcc" not in names and "x" not in names
        assert len(names) == len(set(names))
        assert [a.addr_spec for a in mail["To"].addresses] == [row.recipient]
        assert mail["Cc"] is None
        for line in row.raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
            assert len(line) <= 998 and line.isascii()


def test_undeliverable_address_is_skipped_with_the_reason(app):
    requester = make_user()
    requester.undeliverable_until = utcnow() + timedelta(days=60)
    requester.undeliverable_reason = "550 no such user"
    ticket = make_ticket(requester=requester)
    [row] = rows(ticket_id=ticket.id)
    assert row.status == OutboundStatus.SKIPPED
    assert "undeliverable until" in row.last_error and "550 no such user" in row.last_error
    assert outbox.problems_for_ticket(ticket.id) == [row]
    requester.undeliverable_until = utcnow() - timedelta(days=1)
    referent = make_referent()
    workflow.transition(ticket, Status.TAKEN, actor=referent)
    assert rows(ticket_id=ticket.id)[-1].status == OutboundStatus.PENDING


def test_loop_guard_per_ticket(app, settings_overrides):
    limit = app.config["HELPDESK"]["loop_max_per_ticket"]
    referent = make_referent()
    ticket = make_ticket()  # the acknowledgement is the first automatic mail
    for i in range(limit + 2):
        workflow.transition(ticket, Status.TAKEN if ticket.status != Status.TAKEN else Status.NO_ACTION, actor=referent)
        if ticket.status == Status.NO_ACTION:
            workflow.transition(ticket, Status.NEW, actor=referent)
    to_requester = rows(ticket_id=ticket.id, recipient=ticket.requester.email)
    sent = [r for r in to_requester if r.status == OutboundStatus.PENDING]
    skipped = [r for r in to_requester if r.status == OutboundStatus.SKIPPED]
    assert len(sent) == limit
    assert skipped and all("loop guard" in r.last_error for r in skipped)
    # A referent's public reply is written by a person: never capped.
    from helpdesk import notifications
    reply = Message(ticket=ticket, kind=MessageKind.OUTBOUND, public=True, author=referent, body_text="Réglé.")
    db.session.add(reply)
    [mail] = notifications.public_reply(ticket, reply)
    assert mail.status == OutboundStatus.PENDING


def test_loop_guard_per_window_and_one_acknowledgement_per_period(app):
    robot = make_user(email="robot@example.org")
    tickets = [make_ticket(requester=robot) for _ in range(3)]
    acks = [rows(ticket_id=t.id)[0] for t in tickets]
    assert [a.status for a in acks] == [OutboundStatus.PENDING, OutboundStatus.SKIPPED, OutboundStatus.SKIPPED]
    assert "already acknowledged" in acks[1].last_error
    # Within the window, status mails to the same address stop at loop_max_per_window.
    limit = app.config["HELPDESK"]["loop_max_per_window"]
    referent = make_referent()
    statuses = []
    for _ in range(limit + 1):
        t = make_ticket(requester=robot)
        workflow.transition(t, Status.NO_ACTION, actor=referent)
        statuses.append(rows(ticket_id=t.id)[-1])
    pending = rows(recipient="robot@example.org", status=OutboundStatus.PENDING)
    assert len(pending) == limit
    assert statuses[-1].status == OutboundStatus.SKIPPED and "in 10 minutes" in statuses[-1].last_error


def test_claims_do_not_overlap_and_expired_claims_are_taken_over(app):
    tickets = [make_ticket() for _ in range(5)]
    db.session.commit()
    token_a, first = outbox.claim_due(3, 300)
    token_b, second = outbox.claim_due(3, 300)
    db.session.commit()
    assert len(first) == 3 and len(second) == 2
    assert not {m.id for m in first} & {m.id for m in second}
    token_c, none_left = outbox.claim_due(3, 300)
    assert none_left == []
    # The worker holding the first claim died: once the claim expires, another pass takes the mails.
    db.session.execute(db.update(OutboundMail).where(OutboundMail.claim_token == token_a)
                       .values(claimed_until=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    _, taken_over = outbox.claim_due(10, 300)
    assert {m.id for m in taken_over} == {m.id for m in first}
    assert len(tickets) == 5


def test_delivery_outcomes(app):
    ok, temp, perm = (make_user(email=f"{n}@example.org") for n in ("ok", "temp", "perm"))
    tickets = [make_ticket(requester=u) for u in (ok, temp, perm)]
    db.session.commit()
    transport = FakeTransport({"temp@example.org": TemporaryFailure("451 try later"),
                               "perm@example.org": PermanentFailure("550 no such user")})
    report = outbox.deliver_pending(transport, delivery_config(backoff_seconds=60))
    assert (report.sent, report.retried, report.failed) == (1, 1, 1)
    assert [r for _, r, _ in transport.sent] == ["ok@example.org"]
    db.session.expire_all()
    sent, retried, failed = (rows(ticket_id=t.id)[0] for t in tickets)
    assert sent.status == OutboundStatus.SENT and sent.sent_at is not None and sent.attempts == 1
    assert retried.status == OutboundStatus.PENDING and retried.attempts == 1 and "451" in retried.last_error
    assert timedelta(seconds=55) < retried.next_attempt_at - utcnow() <= timedelta(seconds=60)
    assert failed.status == OutboundStatus.FAILED and "550" in failed.last_error
    # The failure is on the ticket's timeline, for the team only.
    [note] = [m for m in tickets[2].messages if m.kind == MessageKind.NOTE]
    assert not note.public and "perm@example.org" in note.body_text and "550" in note.body_text
    # Nothing is due now: the temporary failure waits for its backoff.
    assert outbox.deliver_pending(transport, delivery_config()).sent == 0


def test_backoff_doubles_then_gives_up(app):
    ticket = make_ticket(requester=make_user(email="slow@example.org"))
    db.session.commit()
    transport = FakeTransport({"slow@example.org": TemporaryFailure("421 busy")})
    windows = []  # (earliest, latest) next attempt: the delay counts from a moment inside the pass
    for _ in range(3):
        before = utcnow()
        outbox.deliver_pending(transport, delivery_config(backoff_seconds=10, max_attempts=3))
        after = utcnow()
        db.session.expire_all()
        row = rows(ticket_id=ticket.id)[0]
        windows.append((row.next_attempt_at - after, row.next_attempt_at - before))
        row.next_attempt_at = utcnow()
        db.session.commit()
    for (shortest, longest), delay in zip(windows, (10, 20)):
        assert shortest <= timedelta(seconds=delay) <= longest
    assert row.status == OutboundStatus.FAILED and row.attempts == 3


def test_transport_down_stops_the_pass_and_keeps_the_rest(app):
    for _ in range(4):
        make_ticket()
    db.session.commit()

    class Down(FakeTransport):
        def send(self, mail_from, recipient, raw):
            raise TransportDown("cannot reach SMTP server")

    report = outbox.deliver_pending(Down(), delivery_config())
    assert report.retried == 1
    db.session.expire_all()
    states = [(r.status, r.attempts, r.claim_token) for r in rows()]
    assert states.count((OutboundStatus.PENDING, 0, None)) == 3
    assert states.count((OutboundStatus.PENDING, 1, None)) == 1
    # Back up: the three untouched mails go at once, the tried one after its backoff.
    good = FakeTransport()
    assert outbox.deliver_pending(good, delivery_config()).sent == 3


def test_retry_puts_a_failed_mail_back_with_the_same_message_id(app):
    ticket = make_ticket(requester=make_user(email="gone@example.org"))
    db.session.commit()
    outbox.deliver_pending(FakeTransport({"gone@example.org": PermanentFailure("550 gone")}), delivery_config())
    [row] = rows(ticket_id=ticket.id)
    message_id = row.message_id
    assert row.status == OutboundStatus.FAILED
    outbox.retry(row.id)
    db.session.commit()
    transport = FakeTransport()
    assert outbox.deliver_pending(transport, delivery_config()).sent == 1
    assert parse(transport.sent[0][2])["Message-ID"] == message_id
    with pytest.raises(outbox.OutboxError, match="only failed or skipped"):
        outbox.retry(row.id)
    with pytest.raises(outbox.OutboxError, match="no outgoing mail"):
        outbox.retry(999999)


def test_attachments_are_carried(app):
    from helpdesk import notifications
    from helpdesk.mailcompose import MailAttachment

    ticket = make_ticket()
    pdf = b"%PDF-1.7\n" + bytes(range(256)) * 40
    [row] = notifications.report_ready(
        ticket, ["client-billing@example.org"], {"kind": "report", "reference": "2026-0042"},
        [MailAttachment("rapport-2026-0042.pdf", pdf, "application/pdf")])
    mail = parse(row.raw)
    assert mail["Subject"] == f"[#{ticket.id}] Rapport d'intervention 2026-0042"
    [part] = list(mail.iter_attachments())
    assert part.get_filename() == "rapport-2026-0042.pdf"
    assert part.get_content_type() == "application/pdf"
    assert part.get_content() == pdf
