"""Tickets, their messages, attachments and status history, and what they refer to."""
from __future__ import annotations

import enum

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, Text, event, inspect
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, epoch_seconds_of, str_enum, utcnow


class Status(str, enum.Enum):
    """A ticket's status. The allowed moves between them live in helpdesk.workflow."""

    NEW = "new"
    TAKEN = "taken"
    IN_PROGRESS = "in_progress"
    CLOSED = "closed"
    NO_ACTION = "no_action"


OPEN_STATUSES = (Status.NEW, Status.TAKEN, Status.IN_PROGRESS)
ENDED_STATUSES = (Status.CLOSED, Status.NO_ACTION)


class Priority(str, enum.Enum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class Source(str, enum.Enum):
    """Where a ticket came from."""

    MAIL = "mail"
    WEB = "web"
    PHONE = "phone"
    CLI = "cli"


class MessageKind(str, enum.Enum):
    INBOUND = "inbound"  # written by a requester (mail or portal)
    OUTBOUND = "outbound"  # a referent's public reply
    NOTE = "note"  # internal to the team, never mailed to requesters


class Category(db.Model):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Location(db.Model):
    """A room or site (a classroom, an office) where hardware lives and failures happen."""

    __tablename__ = "locations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    organisation = relationship("Organisation")


class Asset(db.Model):
    """A client's machine. Named by the day it was set up (YYYY-MM-DD, letters if needed)."""

    __tablename__ = "assets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(100), default="")
    serial: Mapped[str] = mapped_column(String(100), default="")
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"), index=True)
    warranty_end = mapped_column(Date, nullable=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    organisation = relationship("Organisation")
    location = relationship("Location")


STATS_DIMENSION_COLUMNS = ("category_id", "location_id", "asset_id", "organisation_id", "requester_id", "assignee_id")


class Ticket(db.Model):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_status_created_at", "status", "created_at"),
        Index("ix_tickets_requester_status", "requester_id", "status"),
        # The desk queue walks tickets newest first (keyset on id) within a status.
        Index("ix_tickets_status_id", "status", "id"),
        # The stats: tickets open at a period's start (a count read from this index alone) and the
        # recurring-failure window (days of created_at). No index on taken_at: the period's scan ORs
        # three ranges, and SQLite would walk half the table through indexes (docs/benchmarks.md).
        Index("ix_tickets_created_at_closed_at", "created_at", "closed_at"),
        # The stats page's split of the period's tickets by category, requester...: one GROUP BY
        # each, read from these indexes alone (helpdesk.stats._dimension_counts).
        *(Index(f"ix_tickets_{column}_created", column, "created_epoch") for column in STATS_DIMENSION_COLUMNS),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(500))
    requester_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    # Written only by helpdesk.workflow.transition().
    status: Mapped[Status] = mapped_column(str_enum(Status), default=Status.NEW)
    priority: Mapped[Priority] = mapped_column(str_enum(Priority), default=Priority.NORMAL)
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"), index=True)
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"), index=True)
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id"), index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    source: Mapped[Source] = mapped_column(str_enum(Source), default=Source.WEB)
    # Message-ID of the mail that opened the ticket: our mails reference it so clients thread.
    origin_message_id: Mapped[str | None] = mapped_column(String(998))
    # A ticket opened by a reply that came after the reopen window points at the old one.
    previous_ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)
    taken_at = mapped_column(UTCDateTime, nullable=True)
    resolved_at = mapped_column(UTCDateTime, nullable=True)
    closed_at = mapped_column(UTCDateTime, nullable=True)
    # created_at, taken_at and closed_at again as whole seconds since 1970 (UTC), for the stats scan:
    # SQLite keeps timestamps as text, and turning 50,000 rows of them into numbers cost a quarter of
    # the scan's query (docs/benchmarks.md). Kept in step by the flush events below (a Core UPDATE of the
    # timestamps would bypass them: there is none, workflow.transition() writes them on the ORM).
    created_epoch: Mapped[int | None] = mapped_column(BigInteger)
    taken_epoch: Mapped[int | None] = mapped_column(BigInteger)
    closed_epoch: Mapped[int | None] = mapped_column(BigInteger)

    requester = relationship("User", foreign_keys=[requester_id])
    assignee = relationship("User", foreign_keys=[assignee_id])
    organisation = relationship("Organisation")
    category = relationship("Category")
    location = relationship("Location")
    asset = relationship("Asset")
    messages = relationship(
        "Message", back_populates="ticket", order_by="Message.id", cascade="all, delete-orphan"
    )
    status_changes = relationship(
        "StatusChange", back_populates="ticket", order_by="StatusChange.id", cascade="all, delete-orphan"
    )
    watchers = relationship("TicketWatcher", back_populates="ticket", cascade="all, delete-orphan")

    @property
    def number(self) -> int:
        """The number people quote ("#123"): the ticket's id, the same on every screen and mail."""
        return self.id

    def __repr__(self) -> str:
        return f"<Ticket {self.id} {self.status.value} {self.subject!r}>"


# Each timestamp and the column holding it as epoch seconds. A Core insert of tickets (the benches'
# seeds) fills them with epoch_columns(); the ORM keeps them in step through the events below.
EPOCH_COLUMNS = {"created_at": "created_epoch", "taken_at": "taken_epoch", "closed_at": "closed_epoch"}


def epoch_columns(row: dict) -> dict:
    """The epoch-second columns of a ticket row given as a dict of its timestamps."""
    return {epoch: epoch_seconds_of(row.get(stamp)) for stamp, epoch in EPOCH_COLUMNS.items()}


@event.listens_for(Ticket, "before_insert")
def _stamp_epoch_columns_on_insert(mapper, connection, ticket: Ticket) -> None:
    if ticket.created_at is None:
        ticket.created_at = utcnow()  # what the column's default would give, needed now for its epoch
    for stamp, epoch in EPOCH_COLUMNS.items():
        setattr(ticket, epoch, epoch_seconds_of(getattr(ticket, stamp)))


@event.listens_for(Ticket, "before_update")
def _stamp_epoch_columns_on_update(mapper, connection, ticket: Ticket) -> None:
    attrs = inspect(ticket).attrs
    for stamp, epoch in EPOCH_COLUMNS.items():
        if attrs[stamp].history.has_changes():  # unchanged ones may be unloaded: no query during a flush
            setattr(ticket, epoch, epoch_seconds_of(getattr(ticket, stamp)))


class TicketWatcher(db.Model):
    """Someone in copy of a ticket (Cc of the first mail, or added by a referent): hears public events."""

    __tablename__ = "ticket_watchers"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)

    ticket = relationship("Ticket", back_populates="watchers")
    user = relationship("User")


class Message(db.Model):
    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    kind: Mapped[MessageKind] = mapped_column(str_enum(MessageKind))
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The address it came from, as seen in the mail (the author may be unknown or deleted).
    from_address: Mapped[str | None] = mapped_column(String(320))
    body_text: Mapped[str] = mapped_column(Text, default="")
    # The new part of a reply without its quoted history; shown by default, body_text kept whole.
    display_text: Mapped[str | None] = mapped_column(Text)
    # Sanitised before it is stored (helpdesk.mailparse); never raw mail HTML.
    body_html: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(998), index=True)
    inbound_mail_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_mails.id"))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    ticket = relationship("Ticket", back_populates="messages")
    author = relationship("User")
    attachments = relationship("Attachment", back_populates="message", cascade="all, delete-orphan")


class Attachment(db.Model):
    """A stored file. The file's name on disk is derived from its hash, never from the sender."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255), default="application/octet-stream")
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(255))
    # For inline images referenced as cid: in HTML bodies.
    content_id: Mapped[str | None] = mapped_column(String(255))
    inline: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    message = relationship("Message", back_populates="attachments")


class StatusChange(db.Model):
    """One accepted move of a ticket's status (from_status is None for the creation)."""

    __tablename__ = "status_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    from_status: Mapped[Status | None] = mapped_column(str_enum(Status), nullable=True)
    to_status: Mapped[Status] = mapped_column(str_enum(Status))
    note: Mapped[str] = mapped_column(Text, default="")
    # A note that is not public stays on the desk; the status itself is always told.
    note_public: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    # On a reopening only: when the ticket had ended (the closing or "no action" this move undid).
    # The stats read the gaps of reopened tickets here instead of replaying their whole history.
    ended_at = mapped_column(UTCDateTime, nullable=True, index=True)

    ticket = relationship("Ticket", back_populates="status_changes")
    actor = relationship("User")
