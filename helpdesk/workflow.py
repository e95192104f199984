"""The status machine: the one table of allowed moves and the only writer of Ticket.status."""
from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm.attributes import set_committed_value

from . import notifications
from .database import insert_returning, number_pending
from .extensions import db
from .models import OutboundMail, Status, StatusChange, Ticket, User, utcnow
from .models.tickets import epoch_columns

log = logging.getLogger(__name__)

# Reopening (CLOSED / NO_ACTION -> NEW or IN_PROGRESS) is a move like any other, so it is
# recorded and mailed the same way. TAKEN -> CLOSED covers a fix done as soon as it is taken.
ALLOWED: dict[Status, frozenset[Status]] = {
    Status.NEW: frozenset({Status.TAKEN, Status.IN_PROGRESS, Status.NO_ACTION}),
    Status.TAKEN: frozenset({Status.IN_PROGRESS, Status.CLOSED, Status.NO_ACTION}),
    Status.IN_PROGRESS: frozenset({Status.CLOSED, Status.NO_ACTION}),
    Status.CLOSED: frozenset({Status.NEW, Status.IN_PROGRESS}),
    Status.NO_ACTION: frozenset({Status.NEW, Status.IN_PROGRESS}),
}

# French is the source language; the English catalogue translates these.
STATUS_LABELS = {
    Status.NEW: _l("nouveau"),
    Status.TAKEN: _l("pris en charge"),
    Status.IN_PROGRESS: _l("en cours de résolution"),
    Status.CLOSED: _l("fermé"),
    Status.NO_ACTION: _l("sans suite"),
}

REOPEN_FROM = frozenset({Status.CLOSED, Status.NO_ACTION})


class TransitionRefused(Exception):
    """A move that is not in ALLOWED; nothing was changed."""

    def __init__(self, ticket_id: int | None, from_status: Status, to_status: Status):
        self.ticket_id = ticket_id
        self.from_status = from_status
        self.to_status = to_status
        allowed = ", ".join(sorted(s.value for s in ALLOWED[from_status])) or "none"
        super().__init__(
            f"ticket {ticket_id}: cannot move from {from_status.value} to {to_status.value} "
            f"(allowed from {from_status.value}: {allowed})"
        )


def parse_status(value: str | Status) -> Status:
    """Return the Status named by value ("in_progress"), or raise ValueError listing the valid ones."""
    if isinstance(value, Status):
        return value
    try:
        return Status(value)
    except ValueError:
        valid = ", ".join(s.value for s in Status)
        raise ValueError(f"unknown status {value!r} (valid: {valid})") from None


def status_label(status: Status) -> str:
    """The status's name in the current language."""
    return str(STATUS_LABELS[status])


def can_move(from_status: Status, to_status: Status) -> bool:
    return to_status in ALLOWED[from_status]


def record_creations(created: Sequence[tuple[Mapping[str, Any], User | None]], note: str = "") -> list[Ticket]:
    """Insert new tickets (their column values, references as ids; the status is set here) with
    their opening history rows, one statement each for all of them (a batch of mail,
    ingestion.ingest_batch), and queue their acknowledgements, in order. Returns the tickets,
    persistent in the session.

    The rows go in as ORM bulk INSERTs (database.insert_returning): the unit of work's flush cost
    ~0.3 ms more per ticket than the INSERTs themselves on SQLite (docs/benchmarks.md). Bulk INSERTs
    run no mapper events, so the epoch columns are stamped here, and the new tickets' collections
    are set to what the database holds: empty but for the history row (the caller adds the first
    message).
    """
    if not created:
        return []
    now = utcnow()
    rows = []
    for values, _ in created:
        row = {"created_at": now, "updated_at": now, **values, "status": Status.NEW}
        row.update(epoch_columns(row))
        rows.append(row)
    tickets = insert_returning(db.session, Ticket, rows)
    changes = insert_returning(db.session, StatusChange, [
        dict(ticket_id=ticket.id, actor_id=actor.id if actor is not None else None, from_status=None,
             to_status=Status.NEW, note=note, note_public=True, created_at=ticket.created_at)
        for ticket, (_, actor) in zip(tickets, created)
    ])
    for ticket, change in zip(tickets, changes):
        for name, value in (("status_changes", [change]), ("messages", []), ("watchers", [])):
            set_committed_value(ticket, name, value)  # known: no query when the mails look
        notifications.status_changed(ticket, change)
        log.info("ticket %s: opened", ticket.id)
    number_pending(db.session, OutboundMail)  # the acknowledgements: one executemany at the flush
    return tickets


def transition(
    ticket: Ticket,
    to_status: Status | str,
    actor: User | None,
    note: str = "",
    note_public: bool = True,
) -> StatusChange:
    """Move ticket to to_status, record who did it and why, and queue the mails, or raise TransitionRefused."""
    to_status = parse_status(to_status)
    from_status = ticket.status
    if not can_move(from_status, to_status):
        raise TransitionRefused(ticket.id, from_status, to_status)

    db.session.flush()  # this transaction's earlier writes: the mails' loop guards and threads see them
    # Nothing of the move is written before its mails are rendered: SQLite holds its one write lock
    # from the first write to the commit, and the worker needs that lock to record each mail it
    # sent (bench/notify.py). What notifications read does not depend on the pending move.
    with db.session.no_autoflush:
        now = utcnow()
        ended_at = ticket.closed_at if from_status in REOPEN_FROM else None  # the ending a reopening undoes
        _apply_move(ticket, from_status, to_status, actor, now)
        change = StatusChange(
            ticket=ticket, actor=actor, from_status=from_status, to_status=to_status,
            note=note or "", note_public=note_public, created_at=now, ended_at=ended_at,
        )
        db.session.add(change)
        if to_status == Status.CLOSED:
            db.session.flush()  # the closing mail's rating links name this change by its id
        notifications.status_changed(ticket, change)
    db.session.flush()
    log.info("ticket %s: %s -> %s", ticket.id, from_status.value, to_status.value)
    return change


def _apply_move(ticket: Ticket, from_status: Status, to_status: Status, actor: User | None, now) -> None:
    """Set the status and the timestamps and assignee that go with it."""
    ticket.status = to_status
    if to_status in (Status.TAKEN, Status.IN_PROGRESS):
        if ticket.taken_at is None:
            ticket.taken_at = now
        if ticket.assignee is None and actor is not None and actor.is_staff:
            ticket.assignee = actor
    if to_status == Status.CLOSED:
        ticket.resolved_at = now
        ticket.closed_at = now
    elif to_status == Status.NO_ACTION:
        ticket.closed_at = now
    if from_status in REOPEN_FROM:
        ticket.reopen_count = (ticket.reopen_count or 0) + 1
        ticket.resolved_at = None
        ticket.closed_at = None
    ticket.updated_at = now


def reopen(ticket: Ticket, actor: User | None, note: str = "") -> StatusChange:
    """Reopen an ended ticket: back in progress when someone holds it, else new."""
    target = Status.IN_PROGRESS if ticket.assignee_id else Status.NEW
    return transition(ticket, target, actor, note=note)
