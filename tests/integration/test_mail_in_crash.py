"""Crash safety of mail in: kill -9 the poller mid-import, run pollers side by side (issue 3).

Pollers run as real `helpdesk poll --once` processes against a real Dovecot and the test's
database (SQLite file or PostgreSQL). Every mail must end as exactly one ticket: none lost, none
doubled, the INBOX empty.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpdesk.extensions import db
from helpdesk.models import InboundMail, Ticket
from tests.conftest import ROOT
from tests.mailfixtures import make_eml

pytestmark = pytest.mark.integration

HELPDESK = str(Path(sys.executable).with_name("helpdesk"))


def poller_env(app, mailboxes: list[dict], **extra) -> dict:
    settings = app.config["HELPDESK"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update({
        "HELPDESK_CONFIG": str(ROOT / "config" / "testing.toml"),
        "HELPDESK_DATABASE_URL": settings["database_url"],
        "HELPDESK_VAR_DIR": settings["var_dir"],
        "HELPDESK_MAILBOXES": json.dumps(mailboxes),
        "HELPDESK_LOG_LEVEL": "ERROR",
    })
    env.update({f"HELPDESK_{k.upper()}": str(v) for k, v in extra.items()})
    return env


def counts():
    db.session.remove()
    tickets = db.session.execute(db.select(db.func.count()).select_from(Ticket)).scalar_one()
    origins = db.session.execute(db.select(db.func.count(db.distinct(Ticket.origin_message_id)))).scalar_one()
    ledger = db.session.execute(db.select(db.func.count()).select_from(InboundMail)).scalar_one()
    db.session.remove()
    return tickets, origins, ledger


def ledger_outcomes():
    rows = db.session.execute(db.select(InboundMail.outcome, InboundMail.reason)).all()
    db.session.remove()
    return [r for r in rows if r[0] is None or r[0].value != "ticket_created"]


class Zygote:
    """tests/integration/poller_zygote.py: forks pre-imported `poll --once` processes."""

    def __init__(self, env):
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("poller_zygote.py"))],
                                     env=env, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)

    def _ask(self, line: str) -> int:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def fork(self) -> int:
        return self._ask("fork")

    def wait(self, pid: int) -> int:
        return self._ask(f"wait {pid}")

    @staticmethod
    def running(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
        except OSError:
            return False


def wait_for_progress(running, before: int, timeout: float = 60) -> None:
    """Return once the poller has recorded a new mail (or exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and running():
        if counts()[2] > before:
            return
        time.sleep(0.02)


def run_to_completion(env, args=("poll", "--once"), tries=10):
    for _ in range(tries):
        done = subprocess.run([HELPDESK, *args], env=env, capture_output=True, timeout=300)
        if done.returncode == 0:
            return done
    raise AssertionError(f"poller never finished cleanly: {done.stderr.decode()[-2000:]}")


def test_kill_9_at_random_moments_loses_and_doubles_nothing(dovecot, app):
    total = 3000  # enough that 20 kills land before a faster import drains it
    dovecot.append("INBOX", [make_eml(message_id=f"<crash-{n}@x>", subject=f"Panne {n}") for n in range(total)])
    db.session.commit()
    env = poller_env(app, [dovecot.mailbox_settings()], imap_batch_size=20)
    rng = random.Random(20261123)
    seen_midway = []
    kills = 0
    with Zygote(env) as zygote:
        while kills < 20:
            before = counts()[2]
            pid = zygote.fork()
            if kills % 5 == 4:
                time.sleep(rng.uniform(0.0, 0.3))  # sometimes during start-up, login or the first fetch
            else:
                wait_for_progress(lambda: zygote.running(pid), before)  # mostly mid-import
                time.sleep(rng.uniform(0.0, 0.3))
            os.kill(pid, signal.SIGKILL)
            if zygote.wait(pid) != -signal.SIGKILL:
                break  # it finished before the kill: the mailbox is drained
            kills += 1
            tickets, origins, ledger = counts()
            assert tickets == origins == ledger, ledger_outcomes()  # one ticket per recorded mail
            seen_midway.append(tickets)
    run_to_completion(env)
    assert kills >= 20, f"only {kills} kills before the mailbox was drained; slow the import down"
    assert any(0 < n < total for n in seen_midway)  # the kills really landed mid-import
    assert counts() == (total, total, total)
    assert dovecot.count("INBOX") == 0
    assert dovecot.count("helpdesk/processed") == total


def test_two_pollers_on_one_mailbox(dovecot, app):
    total = 300
    dovecot.append("INBOX", [make_eml(message_id=f"<two-{n}@x>", subject=f"Panne {n}") for n in range(total)])
    db.session.commit()
    # "a" twice (the lease lets one through) and "b": another name for the same folder, so two
    # pollers really import it side by side and only the ledger's unique key stands between them.
    env = poller_env(app, [dovecot.mailbox_settings("a"), dovecot.mailbox_settings("b")], imap_batch_size=10)
    procs = [subprocess.Popen([HELPDESK, "poll", "--once", "--mailbox", name], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for name in ("a", "a", "b")]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert any(p.returncode == 0 for p in procs), outputs
    run_to_completion(env, ("poll", "--once", "--mailbox", "a"))
    assert counts() == (total, total, total)
    assert dovecot.count("INBOX") == 0
