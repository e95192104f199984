"""Who may see what: the loaders every view goes through. Anything not visible is a 404.

Staff see every ticket and everything on it. A requester sees the tickets they opened, and an
organisation manager all of the organisation's tickets; requesters never see internal notes,
their attachments, or tickets merged away from them.
"""
from __future__ import annotations

from flask import abort
from sqlalchemy import or_

from .extensions import db
from .models import Attachment, Message, MessageKind, Ticket, User


def visible_to_requester(user: User):
    """SQL condition: tickets this person may follow in the portal."""
    condition = Ticket.requester_id == user.id
    if user.is_org_manager and user.organisation_id:
        condition = or_(condition, Ticket.organisation_id == user.organisation_id)
    return condition


def can_see_ticket(user: User, ticket: Ticket) -> bool:
    if user.is_staff:
        return True
    if ticket.requester_id == user.id:
        return True
    return bool(user.is_org_manager and user.organisation_id and ticket.organisation_id == user.organisation_id)


def can_see_message(user: User, message: Message) -> bool:
    if not can_see_ticket(user, message.ticket):
        return False
    return user.is_staff or (message.public and message.kind != MessageKind.NOTE)


def _get(model, object_id: int):
    obj = db.session.get(model, object_id)
    if obj is None:
        abort(404)
    return obj


def ticket_for_requester_or_404(user: User, ticket_id: int) -> Ticket:
    """A ticket shown in the portal: the person's own or their organisation's (managers)."""
    ticket = _get(Ticket, ticket_id)
    if ticket.requester_id != user.id and not (
        user.is_org_manager and user.organisation_id and ticket.organisation_id == user.organisation_id
    ):
        abort(404)
    return ticket


def ticket_for_staff_or_404(ticket_id: int) -> Ticket:
    return _get(Ticket, ticket_id)


def message_or_404(user: User, message_id: int) -> Message:
    message = _get(Message, message_id)
    if not can_see_message(user, message):
        abort(404)
    return message


def attachment_or_404(user: User, attachment_id: int) -> Attachment:
    attachment = _get(Attachment, attachment_id)
    if attachment.message is not None:
        if not can_see_message(user, attachment.message):
            abort(404)
    elif not (user.is_staff or can_see_ticket(user, db.session.get(Ticket, attachment.ticket_id))):
        abort(404)
    return attachment
