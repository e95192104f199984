"""People and the organisations they belong to."""
from __future__ import annotations

import enum

from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, str_enum, utcnow


class Role(str, enum.Enum):
    REQUESTER = "requester"
    REFERENT = "referent"
    ADMIN = "admin"


class Organisation(db.Model):
    """A school or a client company."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    client_number: Mapped[str | None] = mapped_column(String(50), unique=True)
    address: Mapped[str] = mapped_column(Text, default="")
    billing_email: Mapped[str | None] = mapped_column(String(320))
    # Mail from these domains (comma separated) is attached to this organisation.
    mail_domains: Mapped[str] = mapped_column(String(500), default="")
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    users = relationship("User", back_populates="organisation")

    def __repr__(self) -> str:
        return f"<Organisation {self.id} {self.name!r}>"


class User(UserMixin, db.Model):
    """Anyone who signs in or writes to the support address."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Always stored lower-case (see tickets.normalise_email) so the unique key means one person.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[Role] = mapped_column(str_enum(Role), default=Role.REQUESTER)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    language: Mapped[str] = mapped_column(String(5), default="fr")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    # An organisation's manager sees all of the organisation's tickets in the portal.
    is_org_manager: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set when mail to this address bounced permanently; mail is skipped until then.
    undeliverable_until = mapped_column(UTCDateTime, nullable=True)
    undeliverable_reason: Mapped[str | None] = mapped_column(Text)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    # Part of the session identifier (get_id): bumping it signs this user out everywhere.
    session_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    organisation = relationship("Organisation", back_populates="users")

    @property
    def is_active(self) -> bool:  # Flask-Login asks this before letting anyone in.
        return bool(self.active)

    def get_id(self) -> str:
        """Flask-Login's session identifier: "<id>:<session_version>", so sign-out can revoke it."""
        return f"{self.id}:{self.session_version or 1}"

    @property
    def is_staff(self) -> bool:
        """Referents and admins work the desk."""
        return self.role in (Role.REFERENT, Role.ADMIN)

    @property
    def name(self) -> str:
        return self.display_name or self.email

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email} {self.role.value}>"
