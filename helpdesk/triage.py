"""What referents do to tickets besides changing status: take, hand over, edit, merge, bulk moves."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l

from . import conversation, notifications, workflow
from .extensions import db
from .models import (ENDED_STATUSES, Asset, Attachment, Category, Location, Message, Priority, Status, Ticket,
                     TicketWatcher, User, utcnow)

log = logging.getLogger(__name__)


class TriageRefused(ValueError):
    """A desk action that makes no sense (merge into itself, assign to a requester...); nothing changed."""


def take(ticket: Ticket, actor: User) -> None:
    """One click: the ticket is the actor's, and a new ticket moves to taken."""
    if ticket.assignee_id != actor.id:
        ticket.assignee = actor
    if ticket.status == Status.NEW:
        workflow.transition(ticket, Status.TAKEN, actor)
    ticket.updated_at = utcnow()
    db.session.flush()


def assign(ticket: Ticket, assignee: User | None, actor: User, note: str = "") -> None:
    """Hand the ticket over to another referent (or to nobody), leaving the note on the desk."""
    if assignee is not None and not assignee.is_staff:
        raise TriageRefused(str(_l("Seul un référent peut recevoir un ticket.")))
    ticket.assignee = assignee
    ticket.updated_at = utcnow()
    if note.strip():
        conversation.add_staff_message(ticket, actor, note.strip(), public=False)
    db.session.flush()
    if assignee is not None:
        notifications.assigned(ticket, assignee, actor, note.strip())  # nothing when they took it themselves
    log.info("ticket %s: assigned to %s by user %s", ticket.id, assignee.id if assignee else None, actor.id)


def update_fields(ticket: Ticket, *, category_id: int | None, priority: Priority, location_id: int | None,
                  asset_id: int | None) -> None:
    """Set category, priority, location and asset (ids checked to exist)."""
    for model, value in ((Category, category_id), (Location, location_id), (Asset, asset_id)):
        if value is not None and db.session.get(model, value) is None:
            raise TriageRefused(str(_l("Valeur inconnue.")))
    ticket.category_id, ticket.priority = category_id, priority
    ticket.location_id, ticket.asset_id = location_id, asset_id
    ticket.updated_at = utcnow()
    db.session.flush()


def merge(duplicate: Ticket, target: Ticket, actor: User) -> None:
    """Fold a duplicate into target: its messages, files and people move over; it ends as no action."""
    if duplicate.id == target.id:
        raise TriageRefused(str(_l("Un ticket ne peut pas être fusionné dans lui-même.")))
    if duplicate.merged_into_id is not None:
        raise TriageRefused(str(_l("Ce ticket a déjà été fusionné.")))
    if target.merged_into_id is not None:
        raise TriageRefused(str(_l("Le ticket cible a lui-même été fusionné dans un autre.")))
    db.session.execute(db.update(Message).where(Message.ticket_id == duplicate.id).values(ticket_id=target.id))
    db.session.execute(db.update(Attachment).where(Attachment.ticket_id == duplicate.id)
                       .values(ticket_id=target.id))
    watchers = {w.user_id for w in target.watchers} | {target.requester_id}
    for person_id in {duplicate.requester_id} | {w.user_id for w in duplicate.watchers}:
        if person_id not in watchers:
            db.session.add(TicketWatcher(ticket_id=target.id, user_id=person_id))
            watchers.add(person_id)
    duplicate.merged_into_id = target.id
    db.session.flush()
    db.session.expire(duplicate, ["messages"])
    db.session.expire(target, ["messages", "watchers"])
    note = str(_l("Fusionné dans le ticket n°%(number)s.", number=target.number))
    if duplicate.status not in ENDED_STATUSES:
        workflow.transition(duplicate, Status.NO_ACTION, actor, note=note)
    conversation.add_staff_message(
        target, actor, str(_l("Le ticket n°%(number)s a été fusionné ici.", number=duplicate.number)), public=False)
    log.info("ticket %s: merged into %s by user %s", duplicate.id, target.id, actor.id)


@dataclass
class BulkResult:
    changed: list[int] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)


def bulk_apply(tickets: list[Ticket], actor: User, *, status: Status | None = None,
               assignee: User | None = None, unassign: bool = False, note: str = "") -> BulkResult:
    """Move and/or assign many tickets; a refused move skips that ticket only."""
    result = BulkResult()
    for ticket in tickets:
        try:
            with db.session.begin_nested():
                if assignee is not None or unassign:
                    assign(ticket, assignee, actor)
                if status is not None and status != ticket.status:
                    workflow.transition(ticket, status, actor, note=note)
            result.changed.append(ticket.id)
        except (workflow.TransitionRefused, TriageRefused) as exc:
            result.refused.append((ticket.id, str(exc)))
    return result
