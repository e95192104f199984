"""kill -9 of the worker while it sends 500 mails: none lost; a duplicate, if any, has the same Message-ID."""
from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpdesk.extensions import db
from helpdesk.models import OutboundMail, OutboundStatus
from helpdesk.tickets import open_ticket
from helpdesk.users import create_user
from helpdesk.models import Role
from tests.integration.smtp import SmtpSink

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MAILS = 500
CLAIM_SECONDS = 3


def start_worker(settings: dict, port: int, log_path: Path) -> subprocess.Popen:
    """The real `helpdesk worker` process, on the test's database, sending to the sink."""
    env = {**os.environ, "HELPDESK_CONFIG": str(ROOT / "config" / "testing.toml"),
           "HELPDESK_DATABASE_URL": settings["database_url"], "HELPDESK_VAR_DIR": settings["var_dir"],
           "HELPDESK_SMTP_HOST": "127.0.0.1", "HELPDESK_SMTP_PORT": str(port), "HELPDESK_SMTP_SECURITY": "none",
           "HELPDESK_OUTBOX_INTERVAL_SECONDS": "1", "HELPDESK_OUTBOX_CLAIM_SECONDS": str(CLAIM_SECONDS),
           "HELPDESK_LOG_LEVEL": "INFO"}
    log = open(log_path, "ab")
    return subprocess.Popen([str(Path(sys.executable).parent / "helpdesk"), "worker"], env=env, cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT)


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_kill_9_while_sending_500_mails_loses_none(app, settings_overrides, tmp_path):
    t0 = time.monotonic()
    for i in range(MAILS):
        requester = create_user(f"user{i}@example.org", Role.REQUESTER)
        open_ticket(requester, f"Poste {i} en panne", "Il ne démarre plus.")
    db.session.commit()
    ours = set(db.session.execute(db.select(OutboundMail.message_id)).scalars())
    assert len(ours) == MAILS

    print(f"setup {time.monotonic() - t0:.1f}s")
    sink = SmtpSink(delay=0.004).start()  # slow enough that the kill lands mid-run
    log_path = tmp_path / "worker.log"
    try:
        worker = start_worker(settings_overrides, sink.port, log_path)
        try:
            wait_until(lambda: len(sink.messages) >= MAILS // 5, 60, "the worker to start sending")
        finally:
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(10)
        at_kill = len(sink.messages)
        assert at_kill < MAILS, "the worker finished before the kill: the test proved nothing"
        db.session.expire_all()
        # Usually the dead worker's claim is still held (rows "sending") and expires after
        # CLAIM_SECONDS; if the kill landed inside a claim transaction, the database rolled it back.

        # A new worker takes over once the dead one's claims expire.
        worker = start_worker(settings_overrides, sink.port, log_path)
        try:
            def all_sent():
                db.session.expire_all()
                return db.session.scalar(db.select(db.func.count()).select_from(OutboundMail)
                                         .where(OutboundMail.status == OutboundStatus.SENT)) == MAILS
            wait_until(all_sent, 120, "every mail to be sent")
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(20)
    finally:
        sink.stop()

    print(f"done {time.monotonic() - t0:.1f}s")
    received = collections.Counter(m.message_id for m in sink.messages)
    assert set(received) == ours  # none lost, nothing foreign
    duplicates = {mid: n for mid, n in received.items() if n > 1}
    # Each row's result is committed right after the server's 250: only the mail in flight at the
    # kill can go twice, and it keeps its Message-ID, so the receiver can tell.
    assert sum(duplicates.values()) - len(duplicates) <= 1, (duplicates, log_path.read_text())
    for mail in sink.messages:
        assert mail.rcpt_tos == [str(mail.message["To"].addresses[0].addr_spec)]
