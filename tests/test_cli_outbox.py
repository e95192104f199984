"""`helpdesk outbox list|send|retry`."""
from __future__ import annotations

import json

from helpdesk.extensions import db
from helpdesk.models import OutboundMail, OutboundStatus
from tests.factories import make_ticket, make_user


def test_list_send_and_retry(app, cli_runner):
    ticket = make_ticket(requester=make_user(email="alice@example.org"))
    db.session.commit()
    listed = cli_runner.invoke(args=["outbox", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.output)
    assert (row["ticket"], row["recipient"], row["status"], row["event"]) == (
        ticket.id, "alice@example.org", "pending", "acknowledgement")

    sent = cli_runner.invoke(args=["outbox", "send", "--once"])
    assert sent.exit_code == 0 and "1 sent" in sent.output
    again = cli_runner.invoke(args=["outbox", "send", "--once"])
    assert again.output.strip() == "nothing to send"

    refused = cli_runner.invoke(args=["outbox", "retry", str(row["id"])])
    assert refused.exit_code == 1 and "only failed or skipped" in refused.output

    db.session.execute(db.update(OutboundMail).values(status=OutboundStatus.FAILED, last_error="550 gone"))
    db.session.commit()
    text = cli_runner.invoke(args=["outbox", "list", "--status", "failed"])
    assert "alice@example.org" in text.output and "550 gone" in text.output
    retried = cli_runner.invoke(args=["outbox", "retry", str(row["id"])])
    assert retried.exit_code == 0 and "queued again" in retried.output
    db.session.expire_all()
    assert db.session.get(OutboundMail, row["id"]).status == OutboundStatus.PENDING


def test_bad_arguments(app, cli_runner):
    missing = cli_runner.invoke(args=["outbox", "retry", "4242"])
    assert missing.exit_code == 2 and "no outgoing mail 4242" in missing.output
    assert cli_runner.invoke(args=["outbox", "retry", "x"]).exit_code == 2
    assert cli_runner.invoke(args=["outbox", "list", "--status", "lost"]).exit_code == 2
    assert cli_runner.invoke(args=["outbox", "send"]).exit_code == 2
