"""`helpdesk ticket list|show|set-status`."""
from __future__ import annotations

import click
from flask import Flask

from .. import workflow
from ..extensions import db
from ..models import Status, Ticket
from ..tickets import InvalidAddress, find_user
from .output import bad_argument, echo_json, refuse

STATUS_CHOICE = click.Choice([s.value for s in Status])


def register(app: Flask) -> None:
    app.cli.add_command(ticket)


def ticket_summary(t: Ticket) -> dict:
    return {
        "id": t.id,
        "subject": t.subject,
        "status": t.status.value,
        "priority": t.priority.value,
        "requester": t.requester.email,
        "assignee": t.assignee.email if t.assignee else None,
        "organisation": t.organisation.name if t.organisation else None,
        "category": t.category.name if t.category else None,
        "location": t.location.name if t.location else None,
        "asset": t.asset.name if t.asset else None,
        "source": t.source.value,
        "created_at": t.created_at,
        "taken_at": t.taken_at,
        "resolved_at": t.resolved_at,
        "closed_at": t.closed_at,
    }


def ticket_detail(t: Ticket) -> dict:
    data = ticket_summary(t)
    data["history"] = [
        {
            "at": c.created_at,
            "by": c.actor.email if c.actor else None,
            "from": c.from_status.value if c.from_status else None,
            "to": c.to_status.value,
            "note": c.note,
        }
        for c in t.status_changes
    ]
    data["messages"] = [
        {"id": m.id, "kind": m.kind.value, "public": m.public, "from": m.from_address,
         "at": m.created_at, "text": m.body_text}
        for m in t.messages
    ]
    return data


def _load(ticket_id: int) -> Ticket:
    found = db.session.get(Ticket, ticket_id)
    if found is None:
        bad_argument(f"no ticket {ticket_id}")
    return found


@click.group()
def ticket():
    """Look at and move tickets."""


@ticket.command("list")
@click.option("--status", type=STATUS_CHOICE, help="Only tickets in this status.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def ticket_list(status, limit, as_json):
    """List tickets, newest first."""
    query = db.select(Ticket).order_by(Ticket.id.desc()).limit(limit)
    if status:
        query = query.where(Ticket.status == Status(status))
    rows = db.session.execute(query).scalars().all()
    if as_json:
        echo_json([ticket_summary(t) for t in rows])
        return
    for t in rows:
        click.echo(f"#{t.id:<6} {t.status.value:<12} {t.requester.email:<32} {t.subject}")


@ticket.command("show")
@click.argument("ticket_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def ticket_show(ticket_id, as_json):
    """Show one ticket with its history and messages."""
    data = ticket_detail(_load(ticket_id))
    if as_json:
        echo_json(data)
        return
    click.echo(f"#{data['id']} {data['subject']}")
    click.echo(f"  status: {data['status']}  requester: {data['requester']}  assignee: {data['assignee']}")
    for h in data["history"]:
        click.echo(f"  {h['at']:%Y-%m-%d %H:%M} {h['by'] or '-'}: {h['from'] or '-'} -> {h['to']} {h['note']}")


@ticket.command("set-status")
@click.argument("ticket_id", type=int)
@click.argument("status", type=STATUS_CHOICE)
@click.option("--by", "by_email", required=True, help="Address of the person making the change.")
@click.option("--note", default="", help="Why; mailed with the change unless --internal.")
@click.option("--internal", is_flag=True, help="Keep the note inside the team.")
def ticket_set_status(ticket_id, status, by_email, note, internal):
    """Move a ticket to STATUS, as the workflow allows."""
    found = _load(ticket_id)
    try:
        actor = find_user(by_email)
    except InvalidAddress as exc:
        bad_argument(str(exc))
    if actor is None:
        bad_argument(f"no user with address {by_email}")
    try:
        change = workflow.transition(found, status, actor=actor, note=note, note_public=not internal)
    except workflow.TransitionRefused as exc:
        db.session.rollback()
        refuse(str(exc))
    db.session.commit()
    click.echo(f"ticket {found.id}: {change.from_status.value} -> {change.to_status.value}")
