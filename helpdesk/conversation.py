"""Messages added from the web: a requester's reply, a referent's public reply or internal note."""
from __future__ import annotations

import logging

from . import workflow
from .extensions import db
from .models import ENDED_STATUSES, Message, MessageKind, Ticket, User, utcnow

log = logging.getLogger(__name__)


def add_requester_reply(ticket: Ticket, author: User, text: str) -> Message:
    """A requester writes on their ticket from the portal; an ended ticket is reopened by it."""
    message = Message(ticket=ticket, kind=MessageKind.INBOUND, public=True, author=author,
                      from_address=author.email, body_text=text)
    db.session.add(message)
    ticket.updated_at = utcnow()
    db.session.flush()
    if ticket.status in ENDED_STATUSES:
        workflow.reopen(ticket, author, note="")
    log.info("ticket %s: requester reply %s from the portal", ticket.id, message.id)
    return message


def add_staff_message(ticket: Ticket, author: User, text: str, public: bool) -> Message:
    """A referent's public reply (mailed to the requester) or internal note (never mailed)."""
    message = Message(ticket=ticket, kind=MessageKind.OUTBOUND if public else MessageKind.NOTE,
                      public=public, author=author, from_address=author.email, body_text=text)
    db.session.add(message)
    ticket.updated_at = utcnow()
    db.session.flush()
    log.info("ticket %s: %s %s by user %s", ticket.id, "reply" if public else "note", message.id, author.id)
    return message


def public_messages(ticket: Ticket) -> list[Message]:
    """What the requester sees of the conversation: no internal notes."""
    return [m for m in ticket.messages if m.public and m.kind != MessageKind.NOTE]
