"""workers.parse_pool: the poller's parse process gives what the poller would, and never costs a mail."""
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpdesk import ingestion, mailparse
from helpdesk.extensions import db
from helpdesk.models import InboundMail, Ticket
from tests.integration.dovecot import _alive  # a pid that runs (a zombie does not count)
from tests.mailfixtures import load_eml, make_eml
from tests.test_mail_poller import MB, FakeMailbox, count
from workers import mail_poller, parse_pool
from workers.parse_pool import ParsePool

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def settings(app):
    return app.config["HELPDESK"]


@pytest.fixture
def config(settings):
    return ingestion.IngestConfig.from_settings(settings)


def test_the_child_prepares_what_the_poller_would(config):
    raws = [load_eml("alternative.eml"), load_eml("not_a_mail.eml"), make_eml(message_id="<a@x>", subject="Écran")]
    mails = [ingestion.Incoming(raw, uid) for uid, raw in enumerate(raws, 1)]
    with ParsePool() as pool:
        ready = pool.prepare(mails, config)
        assert pool._pool is not None
    assert [m.prepared for m in ready] == [ingestion.prepare(raw, config, None) for raw in raws]
    assert ready[1].prepared.failure.startswith("unparseable")
    assert [(m.raw, m.uid) for m in ready] == [(m.raw, m.uid) for m in mails]


def test_big_mails_and_headers_only_stay_with_the_poller(config, monkeypatch):
    monkeypatch.setattr(parse_pool, "IN_POLLER_FROM", 2000)
    big = make_eml(message_id="<big@x>", body="x" * 3000)
    mails = [ingestion.Incoming(big, 1), ingestion.Incoming(b"Subject: s\r\n\r\n", 2, full_size=10**9),
             ingestion.Incoming(make_eml(message_id="<s@x>"), 3)]
    with ParsePool() as pool:
        ready = pool.prepare(mails, config)
    assert ready[0].prepared is None and ready[1].prepared is None and ready[2].prepared is not None


def test_switched_off_the_poller_parses_everything(config):
    mails = [ingestion.Incoming(make_eml(message_id="<s@x>"), 1)]
    with ParsePool(enabled=False) as pool:
        assert pool.prepare(mails, config) == mails


def test_a_lost_child_costs_nothing_and_is_replaced(config, caplog, monkeypatch):
    # alembic's logging set-up (the migration tests) disables the loggers that exist at the time.
    monkeypatch.setattr(logging.getLogger("helpdesk.mail_poller"), "disabled", False)
    mails = [ingestion.Incoming(make_eml(message_id="<s@x>"), 1)]
    expected = ingestion.prepare(mails[0].raw, config, None)
    with ParsePool() as pool:
        [child] = pool._pool._processes
        os.kill(child, signal.SIGKILL)  # killed from outside (the out-of-memory killer, an operator)
        while _alive(child):
            time.sleep(0.01)
        with caplog.at_level(logging.WARNING, logger="helpdesk.mail_poller"):
            assert [m.prepared for m in pool.prepare(mails, config)] == [expected]  # one mail per child
            assert [m.prepared for m in pool.prepare(mails, config)] == [expected]
        [replacement] = pool._pool._processes
        assert replacement != child
    assert any("parse process lost" in r.message for r in caplog.records)


def test_without_fork_the_poller_parses(config, monkeypatch):
    """No process can be forked any more (a process limit): the mails come back for the poller."""
    mails = [ingestion.Incoming(make_eml(message_id="<s@x>"), 1)]

    def no_fork(*args, **kwargs):
        raise OSError("Resource temporarily unavailable")

    with ParsePool() as pool:
        pool._discard()
        monkeypatch.setattr(pool, "_start", no_fork)
        monkeypatch.setattr(parse_pool, "prepare_alone", no_fork)
        assert pool.prepare(mails, config) == mails
    monkeypatch.setattr(ParsePool, "_start", no_fork)
    with ParsePool() as pool:
        assert not pool.enabled and pool.prepare(mails, config) == mails


def _poison_parser(monkeypatch, poison):
    """mailparse._build does `poison()` for a mail whose subject is "poison"; set before the fork."""
    real = mailparse._build

    def build(parser, msg):
        if (msg.get("Subject") or "") == "poison":
            poison()
        return real(parser, msg)

    monkeypatch.setattr(mailparse, "_build", build)


@pytest.mark.parametrize("poison, reason", [
    (lambda: time.sleep(3600), "error: parse: no result within 1 s (the parse was stopped)"),
    # Killed as the out-of-memory killer does (a SIGSEGV may first write a core dump for seconds).
    (lambda: os.kill(os.getpid(), signal.SIGKILL), "error: parse: the parser's process died (SIGKILL)"),
    (lambda: os._exit(3), "error: parse: the parser's process ended without a result (exit code 3)"),
])
@pytest.mark.parametrize("total", [12, 60])  # one batch, or several
def test_a_mail_that_hangs_or_crashes_the_parser_is_quarantined(settings, monkeypatch, poison, reason, total):
    """A hostile mail costs its own quarantine, never the poller (which would hang or die with it)."""
    _poison_parser(monkeypatch, poison)
    messages = {uid: make_eml(message_id=f"<m{uid}@x>", subject=f"Panne {uid}") for uid in range(1, total + 1)}
    messages[7] = make_eml(message_id="<poison@x>", subject="poison")
    box = FakeMailbox(messages)
    result = mail_poller.poll_mailbox(
        MB, {**settings, "imap_batch_size": 20, "imap_parse_timeout_seconds": 1}, opener=box)
    assert result.outcomes.count("ticket_created") == total - 1 and result.outcomes[6] == "quarantined"
    poison_row = db.session.execute(db.select(InboundMail).where(InboundMail.uid == 7)).scalar_one()
    assert poison_row.reason == reason and poison_row.message_id == "<poison@x>"
    assert list(box.folders[MB.quarantine_folder]) == [7] and count(Ticket) == total - 1


def test_the_child_dies_with_the_poller(tmp_path):
    """A poller killed with -9 (the crash tests do it 20 times) leaves no parse process behind."""
    script = ("from workers.parse_pool import ParsePool; import time\n"
              "with ParsePool() as pool:\n"
              "    print(*pool._pool._processes, flush=True); time.sleep(60)\n")
    poller = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        child = int(poller.stdout.readline())
        assert _alive(child)
        poller.kill()
        poller.wait()
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child)
    finally:
        poller.kill()


def test_a_parser_bug_quarantines_that_mail_and_the_pass_goes_on(settings, monkeypatch):
    """Raised in the child (a pass of several batches) or in the poller, a bug costs one mail."""
    real = mailparse._build

    def broken(parser, msg):
        if "poison" in (msg.get("Subject") or ""):
            raise IndexError("simulated parser bug")
        return real(parser, msg)

    monkeypatch.setattr(mailparse, "_build", broken)  # before the fork: the child has it too
    messages = {uid: make_eml(message_id=f"<m{uid}@x>", subject=f"Panne {uid}") for uid in range(1, 61)}
    messages[45] = make_eml(message_id="<poison@x>", subject="poison")
    box = FakeMailbox(messages)
    result = mail_poller.poll_mailbox(MB, {**settings, "imap_batch_size": 20}, opener=box)
    assert result.outcomes.count("ticket_created") == 59 and result.outcomes[44] == "quarantined"
    poison = db.session.execute(db.select(InboundMail).where(InboundMail.uid == 45)).scalar_one()
    assert poison.reason == "error: parse: IndexError: simulated parser bug"
    assert list(box.folders[MB.quarantine_folder]) == [45] and count(Ticket) == 59
    monkeypatch.setattr(mailparse, "_build", real)  # fixed: the replay imports it
    assert ingestion.replay(poison.id, ingestion.IngestConfig.from_settings(settings)).outcome.value == "ticket_created"


@pytest.mark.parametrize("parse_apart", [True, False])
def test_a_pass_gives_the_same_tickets_with_or_without_the_child(settings, parse_apart):
    messages = {uid: make_eml(message_id=f"<m{uid}@x>", subject=f"Panne {uid}", sender=f"p{uid % 3}@ecole.example")
                for uid in range(1, 51)}
    box = FakeMailbox(messages)
    result = mail_poller.poll_mailbox(MB, {**settings, "imap_batch_size": 10, "imap_parse_process": parse_apart},
                                      opener=box)
    assert result.outcomes == ["ticket_created"] * 50
    subjects = db.session.execute(db.select(Ticket.subject).order_by(Ticket.id)).scalars().all()
    assert subjects == [f"Panne {uid}" for uid in range(1, 51)]
