"""workers.mail_poller with a fake mailbox: lease, commit-then-move, poison, backoff, jobs."""
import logging

import pytest

from helpdesk.extensions import db
from helpdesk.models import InboundMail, MailboxState, Ticket, User
from tests.mailfixtures import load_eml, make_eml
from workers import mail_poller
from workers.mailbox import MailboxConfig, MailboxConfigError, MailboxError

MB = MailboxConfig(name="support", host="127.0.0.1", user="u", password="p", security="plain", port=143)


class FakeMailbox:
    """Same methods as workers.mailbox.ImapMailbox, messages in memory."""

    def __init__(self, messages, after_import="move", fail_on_move=False):
        self.config = MB if after_import == "move" else MailboxConfig(**{**MB.__dict__, "after_import": "flag"})
        self.folders = {"INBOX": dict(messages), MB.processed_folder: {}, MB.quarantine_folder: {}}
        self.flagged = set()
        self.uidvalidity = 7
        self.fail_on_move = fail_on_move
        self.has_idle = False

    def __call__(self, config, timeout):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def pending_uids(self, after_uid=0):
        if self.config.after_import == "move":
            return sorted(self.folders["INBOX"])
        return sorted(u for u in self.folders["INBOX"] if u > after_uid and u not in self.flagged)

    def sizes(self, uids):
        return {u: len(self.folders["INBOX"][u]) for u in uids}

    def fetch(self, uids, headers_only=False):
        return {u: self.folders["INBOX"][u] for u in uids}

    def move(self, uids, folder):
        if self.fail_on_move and uids:
            raise MailboxError("connection lost")
        for u in uids:
            self.folders[folder][u] = self.folders["INBOX"].pop(u)

    def flag(self, uids):
        self.flagged.update(uids)


@pytest.fixture
def settings(app):
    return app.config["HELPDESK"]


def count(model):
    return db.session.execute(db.select(db.func.count()).select_from(model)).scalar_one()


def test_pass_imports_then_moves_and_quarantines_the_poison(settings):
    messages = {uid: make_eml(message_id=f"<m{uid}@x>", subject=f"Panne {uid}") for uid in range(1, 100)}
    messages[50] = load_eml("not_a_mail.eml")
    box = FakeMailbox(messages)
    result = mail_poller.poll_mailbox(MB, {**settings, "imap_batch_size": 20}, opener=box)
    assert result.outcomes.count("ticket_created") == 98 and result.outcomes.count("quarantined") == 1
    assert box.folders["INBOX"] == {} and 50 in box.folders[MB.quarantine_folder]
    assert len(box.folders[MB.processed_folder]) == 98
    assert count(Ticket) == 98
    state = db.session.get(MailboxState, "support")
    assert state.uidvalidity == 7 and state.lease_owner is None
    rows = db.session.execute(db.select(InboundMail).where(InboundMail.uid == 3)).scalars().all()
    assert [(r.mailbox, r.uidvalidity) for r in rows] == [("support", 7)]


def test_crash_after_commit_before_move_is_a_harmless_duplicate(settings):
    box = FakeMailbox({1: make_eml(message_id="<a@x>"), 2: make_eml(message_id="<b@x>")}, fail_on_move=True)
    with pytest.raises(MailboxError):
        mail_poller.poll_mailbox(MB, settings, opener=box)
    assert count(Ticket) == 2 and len(box.folders["INBOX"]) == 2
    box.fail_on_move = False
    result = mail_poller.poll_mailbox(MB, settings, opener=box)
    assert result.outcomes == ["duplicate", "duplicate"] and box.folders["INBOX"] == {}
    assert count(Ticket) == 2


def test_flag_mode_remembers_the_last_uid(settings):
    box = FakeMailbox({1: make_eml(message_id="<a@x>")}, after_import="flag")
    mail_poller.poll_mailbox(box.config, settings, opener=box)
    box.folders["INBOX"][2] = make_eml(message_id="<b@x>")
    result = mail_poller.poll_mailbox(box.config, settings, opener=box)
    assert result.outcomes == ["ticket_created"] and box.flagged == {1, 2}
    assert db.session.get(MailboxState, "support").last_uid == 2


def test_uidvalidity_change_rescans_without_doubles(settings):
    box = FakeMailbox({1: make_eml(message_id="<a@x>")}, after_import="flag")
    mail_poller.poll_mailbox(box.config, settings, opener=box)
    box.uidvalidity, box.flagged = 8, set()
    result = mail_poller.poll_mailbox(box.config, settings, opener=box)
    assert result.outcomes == ["duplicate"] and count(Ticket) == 1


def test_lease_is_exclusive_until_it_expires(app):
    assert mail_poller.acquire_lease("support", "worker-a", 60)
    assert not mail_poller.acquire_lease("support", "worker-b", 60)
    assert mail_poller.acquire_lease("support", "worker-a", 60)  # renewal
    mail_poller.release_lease("support", "worker-a")
    assert mail_poller.acquire_lease("support", "worker-b", 0)
    assert mail_poller.acquire_lease("support", "worker-a", 60)  # b's lease expired at once


def test_lease_held_elsewhere_stops_the_pass(settings):
    assert mail_poller.acquire_lease("support", "someone-else", 60)
    box = FakeMailbox({1: make_eml()})
    with pytest.raises(mail_poller.LeaseHeld):
        mail_poller.poll_mailbox(MB, settings, opener=box)
    assert count(Ticket) == 0 and len(box.folders["INBOX"]) == 1


def test_backoff_is_capped_and_logged_once_per_outage(caplog, monkeypatch):
    now = [0.0]
    calls = []

    def failing():
        calls.append(now[0])
        raise MailboxError("connection refused")

    caplog.set_level(logging.INFO, logger="helpdesk.mail_poller")
    # Alembic's fileConfig() (run by migration tests) disables loggers that existed before it.
    monkeypatch.setattr(logging.getLogger("helpdesk.mail_poller"), "disabled", False)
    for t in range(0, 200):
        now[0] = float(t)
        mail_poller.guarded("box", 8, failing, clock=lambda: now[0])
    gaps = [b - a for a, b in zip(calls, calls[1:])]
    assert gaps[:4] == [1, 2, 4, 8] and max(gaps) == 8
    assert len([r for r in caplog.records if "unreachable" in r.message]) == 1
    now[0] = 1000.0
    assert mail_poller.guarded("box", 8, lambda: mail_poller.PassResult("box"), clock=lambda: now[0]) is not None
    assert len([r for r in caplog.records if "reachable again" in r.message]) == 1


@pytest.mark.parametrize("table, message", [
    ({"name": "a", "host": "imap.example.org", "user": "u", "password": "p", "security": "plain"}, "loopback"),
    ({"name": "a", "host": "h", "user": "u"}, "password"),
    ({"name": "a", "host": "h", "user": "u", "password": "p", "colour": "red"}, "unknown key"),
    ({"host": "h", "user": "u", "password": "p"}, "'name' is required"),
    ({"name": "a", "host": "h", "user": "u", "password": "p", "after_import": "delete"}, "after_import"),
])
def test_bad_mailbox_settings_are_named(table, message):
    with pytest.raises(MailboxConfigError, match=message):
        MailboxConfig.from_dict(table)


def test_jobs_one_per_mailbox_or_the_drop_folder(settings):
    from workers.scheduler import build_jobs

    mail_jobs = lambda s: [j.name for j in build_jobs(s) if j.name.startswith("mail")]  # other features add jobs
    assert mail_jobs(settings) == ["maildrop"]
    table = {"name": "support", "host": "127.0.0.1", "user": "u", "password": "p", "security": "plain"}
    assert mail_jobs({**settings, "mailboxes": [table]}) == ["mail:support"]
    assert MailboxConfig.from_dict(table).port == 143


def test_lease_of_a_dead_local_process_is_taken_over_at_once(app):
    import socket
    import subprocess

    gone = subprocess.Popen(["true"])
    gone.wait()
    dead_owner = f"{socket.gethostname()}:{gone.pid}:deadbeef"
    assert mail_poller.acquire_lease("support", dead_owner, 600)
    assert mail_poller.acquire_lease("support", "host-b:1:x", 60)
    assert not mail_poller.acquire_lease("support", f"other-host:{gone.pid}:y", 60)


def test_token_command_prints_the_xoauth2_token(tmp_path):
    from workers.mailbox import _oauth_token

    assert _oauth_token("echo ya29.token-value") == "ya29.token-value"
    with pytest.raises(MailboxError, match="token_command failed"):
        _oauth_token("false")
    with pytest.raises(MailboxError, match="no token"):
        _oauth_token("true")
    with pytest.raises(MailboxError, match="token_command failed"):
        _oauth_token(str(tmp_path / "missing-command"))


def test_a_clean_batch_is_one_transaction_without_savepoints(app, settings):
    from sqlalchemy import event

    assert mail_poller.acquire_lease("support", "setup", 0)  # the mailbox's state row exists (its own savepoint)
    statements = []
    listener = lambda conn, cursor, statement, *rest: statements.append(statement)
    event.listen(db.engine, "before_cursor_execute", listener)
    messages = {uid: make_eml(message_id=f"<m{uid}@x>", subject=f"Panne {uid}") for uid in range(1, 11)}
    messages[11] = make_eml(message_id="<m3@x>", subject="Panne 3 again")  # same mail twice in one batch
    messages[12] = load_eml("not_a_mail.eml")  # unparseable: quarantined without leaving the fast path
    try:
        result = mail_poller.poll_mailbox(MB, settings, opener=FakeMailbox(messages))
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert result.outcomes == ["ticket_created"] * 10 + ["duplicate", "quarantined"]
    assert not [s for s in statements if "SAVEPOINT" in s.upper()]
    assert count(Ticket) == 10 and count(InboundMail) == 11


@pytest.mark.parametrize("known_sender", [False, True], ids=["new-sender", "known-sender"])
def test_a_mail_that_breaks_the_batch_is_quarantined_alone_in_the_same_pass(settings, monkeypatch, caplog,
                                                                             known_sender):
    from helpdesk import tickets
    from tests.factories import make_user

    if known_sender:  # then the batch holds its mails and opens their tickets together, the poison's too
        make_user(email="someone@ecole.example")
        db.session.commit()
    real = tickets.open_tickets

    def open_or_fail(drafts):  # one draft per mail one by one, a batch's plain new tickets together
        if any("poison" in draft.subject for draft in drafts):
            raise RuntimeError("simulated bug")
        return real(drafts)

    monkeypatch.setattr(tickets, "open_tickets", open_or_fail)
    messages = {uid: make_eml(message_id=f"<m{uid}@x>", subject=f"Panne {uid}") for uid in range(1, 31)}
    messages[12] = make_eml(message_id="<poison@x>", subject="poison")
    box = FakeMailbox(messages)
    caplog.set_level(logging.WARNING, logger="helpdesk.mail_poller")
    monkeypatch.setattr(logging.getLogger("helpdesk.mail_poller"), "disabled", False)
    result = mail_poller.poll_mailbox(MB, {**settings, "imap_batch_size": 20}, opener=box)
    assert result.outcomes.count("ticket_created") == 29 and result.outcomes[11] == "quarantined"
    assert len([r for r in caplog.records if "importing one by one" in r.message]) == 1  # only its batch
    poison = db.session.execute(db.select(InboundMail).where(InboundMail.uid == 12)).scalar_one()
    assert poison.reason == "error: RuntimeError: simulated bug" and poison.ticket_id is None
    assert box.folders["INBOX"] == {} and list(box.folders[MB.quarantine_folder]) == [12]
    assert count(Ticket) == 29 and count(InboundMail) == 30


def test_the_batch_knows_its_senders_old_and_new(settings, caplog, monkeypatch):
    from tests.factories import make_user

    known = make_user(email="known@ecole.example")
    gone = make_user(email="gone@ecole.example")
    gone.active = False
    db.session.commit()
    messages = {
        1: make_eml(sender="Known <KNOWN@ecole.example>", message_id="<k1@x>"),
        2: make_eml(sender="new@ecole.example", message_id="<n1@x>"),
        3: make_eml(sender="gone@ecole.example", message_id="<g1@x>"),
        4: make_eml(sender="new@ecole.example", message_id="<n2@x>"),  # created by mail 2 of this batch
    }
    caplog.set_level(logging.WARNING, logger="helpdesk.mail_poller")
    monkeypatch.setattr(logging.getLogger("helpdesk.mail_poller"), "disabled", False)
    result = mail_poller.poll_mailbox(MB, settings, opener=FakeMailbox(messages))
    assert result.outcomes == ["ticket_created", "ticket_created", "quarantined", "ticket_created"]
    assert not [r for r in caplog.records if "one by one" in r.message]  # all on the fast path
    requesters = db.session.execute(db.select(Ticket.requester_id).order_by(Ticket.id)).scalars().all()
    new = db.session.execute(db.select(User).where(User.email == "new@ecole.example")).scalar_one()
    assert requesters == [known.id, new.id, new.id]
    assert "deactivated" in db.session.execute(db.select(InboundMail.reason).where(InboundMail.uid == 3)).scalar_one()


def test_the_batch_applies_the_loop_guards_across_its_mails_and_earlier_ones(settings, caplog, monkeypatch):
    from helpdesk.models import OutboundMail, OutboundStatus
    from tests.factories import make_ticket, make_user

    earlier = make_user(email="earlier@ecole.example")
    make_ticket(requester=earlier)  # acknowledged before the batch, within the period
    db.session.commit()
    messages = {
        1: make_eml(sender="twice@ecole.example", message_id="<t1@x>"),
        2: make_eml(sender="earlier@ecole.example", message_id="<e1@x>"),
        3: make_eml(sender="Twice <TWICE@ecole.example>", message_id="<t2@x>"),  # acknowledged by mail 1
        4: make_eml(sender="once@ecole.example", message_id="<o1@x>"),
    }
    caplog.set_level(logging.WARNING, logger="helpdesk.mail_poller")
    caplog.set_level(logging.WARNING, logger="helpdesk.outbox")
    for name in ("helpdesk.mail_poller", "helpdesk.outbox"):
        monkeypatch.setattr(logging.getLogger(name), "disabled", False)
    result = mail_poller.poll_mailbox(MB, settings, opener=FakeMailbox(messages))
    assert result.outcomes == ["ticket_created"] * 4
    assert not [r for r in caplog.records if "one by one" in r.message]  # all on the fast path
    # The batch's skipped acknowledgements are told in one warning, not one each.
    skips = [r.getMessage() for r in caplog.records if r.name == "helpdesk.outbox" and "skipped" in r.getMessage()]
    assert len(skips) == 1 and skips[0].startswith("2 mails skipped in this batch: 2 × loop guard: already acknowledged")
    assert "acknowledgement mail to earlier@ecole.example" in skips[0]
    acks = db.session.execute(
        db.select(OutboundMail.recipient, OutboundMail.status).join(Ticket, Ticket.id == OutboundMail.ticket_id)
        .where(Ticket.origin_message_id.is_not(None)).order_by(OutboundMail.id)
    ).all()
    assert acks == [("twice@ecole.example", OutboundStatus.PENDING), ("earlier@ecole.example", OutboundStatus.SKIPPED),
                    ("twice@ecole.example", OutboundStatus.SKIPPED), ("once@ecole.example", OutboundStatus.PENDING)]


def test_the_next_batch_is_fetched_during_the_import_and_a_failed_fetch_keeps_the_done_batch(settings):
    class FailingSecondFetch(FakeMailbox):
        fetches = 0

        def fetch(self, uids, headers_only=False):
            if uids and not headers_only:
                self.fetches += 1
                if self.fetches == 2:
                    raise MailboxError("connection lost")
            return super().fetch(uids, headers_only)

    box = FailingSecondFetch({uid: make_eml(message_id=f"<m{uid}@x>", subject=f"Panne {uid}") for uid in range(1, 31)})
    with pytest.raises(MailboxError):
        mail_poller.poll_mailbox(MB, {**settings, "imap_batch_size": 20}, opener=box)
    # The first batch was imported, committed and moved; the second stays for the next pass.
    assert sorted(box.folders[MB.processed_folder]) == list(range(1, 21))
    assert sorted(box.folders["INBOX"]) == list(range(21, 31))
    assert count(Ticket) == 20
    result = mail_poller.poll_mailbox(MB, {**settings, "imap_batch_size": 20}, opener=box)
    assert result.outcomes == ["ticket_created"] * 10 and count(Ticket) == 30
