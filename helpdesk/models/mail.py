"""The inbound mail ledger and the outbound mail outbox."""
from __future__ import annotations

import enum

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, str_enum, utcnow


class InboundOutcome(str, enum.Enum):
    TICKET_CREATED = "ticket_created"
    REPLY_ADDED = "reply_added"
    DUPLICATE = "duplicate"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    OWN_MAIL = "own_mail"
    QUARANTINED = "quarantined"


class InboundMail(db.Model):
    """One row per fetched message, written before anything else is decided."""

    __tablename__ = "inbound_mails"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Mailbox name from settings, "maildrop" or "ingest".
    mailbox: Mapped[str] = mapped_column(String(100))
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    uid: Mapped[int | None] = mapped_column(BigInteger)
    message_id: Mapped[str | None] = mapped_column(String(998))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    # Message-ID when there is one, else the hash: a second import of the same mail is impossible.
    dedupe_key: Mapped[str] = mapped_column(String(1024), unique=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    from_address: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[InboundOutcome | None] = mapped_column(str_enum(InboundOutcome), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    received_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    processed_at = mapped_column(UTCDateTime, nullable=True)

    ticket = relationship("Ticket")


class OutboundStatus(str, enum.Enum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"  # gave up; shown on the ticket and to referents
    SKIPPED = "skipped"  # not sent on purpose (undeliverable address, loop guard)


class OutboundMail(db.Model):
    """One mail to one recipient, rendered at enqueue time so a retry sends the same bytes."""

    __tablename__ = "outbound_mails"
    __table_args__ = (Index("ix_outbound_mails_status_next_attempt_at", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    event: Mapped[str] = mapped_column(String(50))
    recipient: Mapped[str] = mapped_column(String(320), index=True)
    recipient_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    subject: Mapped[str] = mapped_column(Text, default="")
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[OutboundStatus] = mapped_column(str_enum(OutboundStatus), default=OutboundStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    claimed_until = mapped_column(UTCDateTime, nullable=True)
    # Random token of the worker pass that claimed the row: only that pass may record the result.
    claim_token: Mapped[str | None] = mapped_column(String(32), index=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    sent_at = mapped_column(UTCDateTime, nullable=True)

    ticket = relationship("Ticket")
