"""Sign-in support: single-use mailed tokens and the counters that slow down password guessing."""
from __future__ import annotations

import enum

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, str_enum, utcnow


class TokenPurpose(str, enum.Enum):
    SIGN_IN = "sign_in"  # passwordless link for requesters
    RESET = "reset"  # password reset


class SignInToken(db.Model):
    """A mailed single-use token. Only its SHA-256 is stored: a database leak signs nobody in."""

    __tablename__ = "sign_in_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[TokenPurpose] = mapped_column(str_enum(TokenPurpose))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    expires_at = mapped_column(UTCDateTime, nullable=False)
    used_at = mapped_column(UTCDateTime, nullable=True)

    user = relationship("User")


class LoginThrottle(db.Model):
    """Failed sign-ins counted per key ("account:<email>" or "ip:<address>") in a sliding window."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    blocked_until = mapped_column(UTCDateTime, nullable=True)
