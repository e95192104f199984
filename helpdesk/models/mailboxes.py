"""Per-mailbox state of the IMAP poller: where it stopped, and who holds the lease."""
from __future__ import annotations

from sqlalchemy import BigInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, utcnow


class MailboxState(db.Model):
    """One row per configured mailbox (and the drop folder): UIDVALIDITY, last UID, lease."""

    __tablename__ = "mailbox_states"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    # Highest UID imported and acted on (moved or flagged) under that UIDVALIDITY.
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    # Exactly one poller per mailbox: the holder renews lease_until; others wait until it expires.
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_until = mapped_column(UTCDateTime, nullable=True)
    last_pass_at = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    updated_at = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)
