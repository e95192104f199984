"""Messages added from the web: a requester's reply, a referent's public reply or internal note."""
from __future__ import annotations

import logging

from dataclasses import dataclass
from typing import BinaryIO

from . import files, notifications, workflow
from .extensions import db
from .models import ENDED_STATUSES, Message, MessageKind, Ticket, User, utcnow

log = logging.getLogger(__name__)

MAX_FILES = 10  # per message sent from the web


@dataclass(frozen=True)
class Upload:
    """A file sent with a web form, as plain values (the view unpacks werkzeug's FileStorage)."""

    filename: str
    content_type: str
    stream: BinaryIO


class TooManyFiles(ValueError):
    """More files than MAX_FILES in one message."""


def attach_uploads(message: Message, uploads: list[Upload], max_bytes: int | None = None) -> None:
    """Store the files sent with a message; raises files.AttachmentTooLarge or TooManyFiles (caller rolls back)."""
    if len(uploads) > MAX_FILES:
        raise TooManyFiles(f"{len(uploads)} files (at most {MAX_FILES})")
    for upload in uploads:
        files.store_attachment(message.ticket, message, upload.filename, upload.content_type, upload.stream,
                               max_bytes=max_bytes)


def add_requester_reply(ticket: Ticket, author: User, text: str, uploads: list[Upload] = (),
                        max_bytes: int | None = None) -> Message:
    """A requester writes on their ticket from the portal; an ended ticket is reopened by it."""
    message = Message(ticket=ticket, kind=MessageKind.INBOUND, public=True, author=author,
                      from_address=author.email, body_text=text)
    db.session.add(message)
    ticket.updated_at = utcnow()
    db.session.flush()
    attach_uploads(message, list(uploads), max_bytes)
    if ticket.status in ENDED_STATUSES:
        workflow.reopen(ticket, author, note="")
    notifications.requester_replied(ticket, message)
    log.info("ticket %s: requester reply %s from the portal", ticket.id, message.id)
    return message


def add_staff_message(ticket: Ticket, author: User, text: str, public: bool, uploads: list[Upload] = (),
                      max_bytes: int | None = None) -> Message:
    """A referent's public reply (mailed to the requester) or internal note (never mailed)."""
    message = Message(ticket=ticket, kind=MessageKind.OUTBOUND if public else MessageKind.NOTE,
                      public=public, author=author, from_address=author.email, body_text=text)
    db.session.add(message)
    ticket.updated_at = utcnow()
    db.session.flush()
    attach_uploads(message, list(uploads), max_bytes)
    if public:
        notifications.public_reply(ticket, message)
    log.info("ticket %s: %s %s by user %s", ticket.id, "reply" if public else "note", message.id, author.id)
    return message


def public_messages(ticket: Ticket) -> list[Message]:
    """What the requester sees of the conversation: no internal notes."""
    return [m for m in ticket.messages if m.public and m.kind != MessageKind.NOTE]
