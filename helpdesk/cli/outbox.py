"""`helpdesk outbox list|send|retry`: look at and push the outgoing mail queue."""
from __future__ import annotations

import click
from flask import Flask, current_app

from .. import outbox as outbox_service
from ..extensions import db
from ..models import OutboundMail, OutboundStatus
from .output import bad_argument, echo_json, refuse


def register(app: Flask) -> None:
    app.cli.add_command(outbox)


def mail_summary(m: OutboundMail) -> dict:
    return {
        "id": m.id, "ticket": m.ticket_id, "event": m.event, "recipient": m.recipient,
        "subject": m.subject, "status": m.status.value, "attempts": m.attempts,
        "next_attempt_at": m.next_attempt_at if m.status == OutboundStatus.PENDING else None,
        "last_error": m.last_error, "message_id": m.message_id,
        "created_at": m.created_at, "sent_at": m.sent_at,
    }


@click.group()
def outbox():
    """Outgoing mail: list, send now, retry."""


@outbox.command("list")
@click.option("--status", type=click.Choice([s.value for s in OutboundStatus]), help="Only mails in this status.")
@click.option("--ticket", "ticket_id", type=int, help="Only mails about this ticket.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def outbox_list(status, ticket_id, limit, as_json):
    """List outgoing mails, newest first."""
    rows = outbox_service.list_mails(OutboundStatus(status) if status else None, ticket_id, limit)
    if as_json:
        echo_json([mail_summary(m) for m in rows])
        return
    for m in rows:
        ticket = f"#{m.ticket_id}" if m.ticket_id else "-"
        error = f"  ({m.last_error})" if m.last_error else ""
        click.echo(f"{m.id:<6} {m.status.value:<8} {ticket:<7} {m.event:<18} {m.recipient}{error}")


@outbox.command("send")
@click.option("--once", is_flag=True, required=True, help="One delivery pass, then exit (the worker does this continuously).")
def outbox_send(once):
    """Send the mails that are due now."""
    from workers.delivery import send_outbox

    click.echo(send_outbox(current_app._get_current_object()) or "nothing to send")


@outbox.command("retry")
@click.argument("mail_id", type=int)
def outbox_retry(mail_id):
    """Queue a failed or skipped mail again (same content, same Message-ID)."""
    if db.session.get(OutboundMail, mail_id) is None:
        bad_argument(f"no outgoing mail {mail_id}")
    try:
        row = outbox_service.retry(mail_id)
    except outbox_service.OutboxError as exc:
        db.session.rollback()
        refuse(str(exc))
    db.session.commit()
    click.echo(f"mail {row.id} to {row.recipient} queued again")
