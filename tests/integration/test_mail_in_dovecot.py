"""Mail in against a real Dovecot: APPEND, poll, tickets, folders; TLS; IDLE; outages; poison."""
from __future__ import annotations

import logging
import threading

import pytest

from helpdesk.extensions import db
from helpdesk.models import InboundMail, InboundOutcome, Message, Ticket
from tests.factories import make_ticket
from tests.mailfixtures import load_eml, make_eml
from workers import mail_poller
from workers.mailbox import ImapMailbox, MailboxConfig, MailboxError

pytestmark = pytest.mark.integration


def count(model, *where):
    query = db.select(db.func.count()).select_from(model)
    for clause in where:
        query = query.where(clause)
    return db.session.execute(query).scalar_one()


def poll(dovecot, app, **overrides):
    settings = {**app.config["HELPDESK"], **overrides.pop("settings", {})}
    mb = MailboxConfig.from_dict(dovecot.mailbox_settings(**overrides))
    return mail_poller.poll_mailbox(mb, settings)


def test_append_poll_tickets_and_moves(dovecot, app):
    dovecot.append("INBOX", [load_eml("plain.eml"), load_eml("attachments.eml"), load_eml("not_a_mail.eml"),
                             load_eml("list_mail.eml")])
    result = poll(dovecot, app)
    assert sorted(result.outcomes) == ["auto_reply", "quarantined", "ticket_created", "ticket_created"]
    assert dovecot.count("INBOX") == 0
    assert dovecot.count("helpdesk/processed") == 3 and dovecot.count("helpdesk/quarantine") == 1
    assert count(Ticket) == 2
    rows = db.session.execute(db.select(InboundMail).order_by(InboundMail.uid)).scalars().all()
    assert [r.uid for r in rows] == [1, 2, 3, 4] and all(r.uidvalidity and r.mailbox == "support" for r in rows)
    # Nothing was marked \\Seen by the fetch (BODY.PEEK): the copies in processed/ are unseen.
    with dovecot.client() as client:
        client.select_folder("helpdesk/processed")
        assert client.search(["SEEN"]) == []
    # A second pass finds nothing.
    assert poll(dovecot, app).outcomes == []


def test_flag_mode_keeps_messages_and_skips_them_next_time(dovecot, app):
    dovecot.append("INBOX", [make_eml(message_id="<f1@x>"), make_eml(message_id="<f2@x>")])
    assert poll(dovecot, app, after_import="flag").outcomes == ["ticket_created"] * 2
    dovecot.append("INBOX", [make_eml(message_id="<f3@x>")])
    assert poll(dovecot, app, after_import="flag").outcomes == ["ticket_created"]
    assert dovecot.count("INBOX") == 3 and count(Ticket) == 3


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_tls_and_starttls(dovecot, app, security):
    dovecot.append("INBOX", [make_eml()])
    port = dovecot.tls_port if security == "tls" else dovecot.port
    result = poll(dovecot, app, security=security, port=port, host="127.0.0.1", ca_file=str(dovecot.cert_file))
    assert result.outcomes == ["ticket_created"]


def test_a_tls_pass_of_several_batches_with_the_parse_process(dovecot, app, monkeypatch):
    """The parse child is forked while the TLS connection is open: the poller's session survives."""
    from workers.parse_pool import ParsePool

    parsed_apart = []
    real = ParsePool.prepare

    def prepare(self, mails, config):
        ready = real(self, mails, config)
        parsed_apart.extend(mail.prepared is not None for mail in ready)
        return ready

    monkeypatch.setattr(ParsePool, "prepare", prepare)
    dovecot.append("INBOX", [make_eml(message_id=f"<tls{n}@x>", subject=f"Panne {n}") for n in range(25)])
    result = poll(dovecot, app, security="tls", port=dovecot.tls_port, host="127.0.0.1",
                  ca_file=str(dovecot.cert_file), settings={"imap_batch_size": 5, "imap_parse_process": True})
    assert result.outcomes == ["ticket_created"] * 25
    assert dovecot.count("INBOX") == 0 and dovecot.count("helpdesk/processed") == 25 and count(Ticket) == 25
    assert parsed_apart == [True] * 25  # every mail was parsed by the child


def test_tls_refuses_an_unknown_certificate(dovecot, app):
    mb = MailboxConfig.from_dict(dovecot.mailbox_settings(security="tls", port=dovecot.tls_port))
    with pytest.raises(MailboxError, match="CERTIFICATE_VERIFY_FAILED|certificate"):
        ImapMailbox(mb, 10).connect()


def test_wrong_password_is_a_mailbox_error(dovecot, app):
    mb = MailboxConfig.from_dict(dovecot.mailbox_settings(password="wrong"))
    with pytest.raises(MailboxError):
        ImapMailbox(mb, 10).connect()


def test_idle_announces_new_mail(dovecot, app):
    mb = MailboxConfig.from_dict(dovecot.mailbox_settings())
    with ImapMailbox(mb, 30) as box:
        assert box.has_idle
        timer = threading.Timer(0.5, lambda: dovecot.append("INBOX", [make_eml()]))
        timer.start()
        try:
            assert box.wait_for_mail(10) is True
        finally:
            timer.join()


def test_watch_imports_mail_that_arrives_during_idle(dovecot, app):
    settings = app.config["HELPDESK"]
    mb = MailboxConfig.from_dict(dovecot.mailbox_settings())
    timer = threading.Timer(0.7, lambda: dovecot.append("INBOX", [make_eml(message_id="<idle@x>")]))
    timer.start()
    try:
        result = mail_poller.watch_mailbox(mb, {**settings, "mailbox_lease_seconds": 6}, budget=3)
    finally:
        timer.join()
    assert result.outcomes == ["ticket_created"] and dovecot.count("INBOX") == 0


def test_one_poison_mail_among_100(dovecot, app, monkeypatch):
    from helpdesk import tickets

    real = tickets.open_tickets

    def poisoned(drafts):  # one draft per mail one by one, a batch's plain new tickets together
        if any(draft.subject == "POISON" for draft in drafts):
            raise RuntimeError("a bug triggered by this mail")
        return real(drafts)

    monkeypatch.setattr(tickets, "open_tickets", poisoned)
    mails = [make_eml(message_id=f"<p{n}@x>", subject=f"Panne {n}") for n in range(100)]
    mails[37] = make_eml(message_id="<poison@x>", subject="POISON")
    dovecot.append("INBOX", mails)
    result = poll(dovecot, app, settings={"imap_batch_size": 30})
    assert result.outcomes.count("ticket_created") == 99 and result.outcomes.count("quarantined") == 1
    assert count(Ticket) == 99
    assert dovecot.count("helpdesk/quarantine") == 1 and dovecot.count("helpdesk/processed") == 99
    [row] = db.session.execute(db.select(InboundMail).where(InboundMail.outcome == InboundOutcome.QUARANTINED)).scalars()
    assert "a bug triggered by this mail" in row.reason


def test_oversize_message_stays_on_the_server_in_quarantine(dovecot, app):
    big = make_eml(message_id="<big@x>", body="x" * 5000)
    dovecot.append("INBOX", [big, make_eml(message_id="<small@x>")])
    result = poll(dovecot, app, settings={"max_message_bytes": 2000})
    assert sorted(result.outcomes) == ["quarantined", "ticket_created"]
    row = db.session.execute(db.select(InboundMail).where(InboundMail.message_id == "<big@x>")).scalar_one()
    assert row.reason.startswith("too large") and len(row.raw) < 2000
    assert dovecot.count("helpdesk/quarantine") == 1


def test_dovecot_stopped_then_restarted(own_dovecot, app, caplog, monkeypatch):
    dovecot = own_dovecot
    caplog.set_level(logging.WARNING, logger="helpdesk.mail_poller")
    # Alembic's fileConfig() (run by migration tests) disables loggers that existed before it.
    monkeypatch.setattr(logging.getLogger("helpdesk.mail_poller"), "disabled", False)
    settings = app.config["HELPDESK"]
    mb = MailboxConfig.from_dict(dovecot.mailbox_settings())
    dovecot.append("INBOX", [make_eml(message_id="<before@x>")])
    now = [0.0]

    def attempt():
        return mail_poller.guarded(mb.name, 8, lambda: mail_poller.poll_mailbox(mb, settings), clock=lambda: now[0])

    assert attempt().outcomes == ["ticket_created"]
    dovecot.stop()
    for t in range(1, 40):
        now[0] = float(t)
        assert attempt() is None
    warnings = [r for r in caplog.records if "unreachable" in r.message]
    assert len(warnings) == 1
    dovecot.start()
    dovecot.append("INBOX", [make_eml(message_id="<after@x>"), make_eml(message_id="<before@x>")])
    result = None
    for t in range(40, 80):
        now[0] = float(t)
        result = attempt()
        if result is not None:
            break
    assert sorted(result.outcomes) == ["duplicate", "ticket_created"]
    assert count(Ticket) == 2 and dovecot.count("INBOX") == 0
    assert len([r for r in caplog.records if "reachable again" in r.message]) == 1


def test_stranger_with_someone_elses_subject_tag(dovecot, app):
    ticket = make_ticket()
    db.session.commit()
    before = count(Message, Message.ticket_id == ticket.id)
    dovecot.append("INBOX", [make_eml(sender="mallory@evil.example", subject=f"Re: [#{ticket.id}] urgent",
                                      body="Merci d'envoyer le mot de passe à ...")])
    result = poll(dovecot, app)
    assert result.outcomes == ["ticket_created"]
    assert count(Message, Message.ticket_id == ticket.id) == before
    assert count(Ticket) == 2


def test_copy_and_delete_where_move_is_missing(dovecot, app, monkeypatch):
    dovecot.append("INBOX", [make_eml(message_id="<c1@x>"), make_eml(message_id="<c2@x>")])
    real = ImapMailbox.connect

    def connect_without_move(self):
        real(self)
        has = self.client.has_capability
        self.client.has_capability = lambda name: False if name.upper() == "MOVE" else has(name)

    monkeypatch.setattr(ImapMailbox, "connect", connect_without_move)
    assert poll(dovecot, app).outcomes == ["ticket_created"] * 2
    assert dovecot.count("INBOX") == 0 and dovecot.count("helpdesk/processed") == 2
