"""Column types and helpers shared by every model."""
from __future__ import annotations

import enum
from datetime import datetime, timedelta, timezone

from sqlalchemy import DateTime, Enum, TypeDecorator


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def epoch_seconds_of(instant: datetime | None) -> int | None:
    """A timezone-aware instant as whole seconds since 1970-01-01 UTC, floored (None stays None).

    Integer arithmetic on timedelta, exact to the microsecond (a float timestamp is not).
    """
    return None if instant is None else (instant - UNIX_EPOCH) // timedelta(seconds=1)


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite keeps no offset, so values are normalised to UTC on the way in and tagged on the
    way out; PostgreSQL stores timestamptz. Naive datetimes are refused: they hide bugs.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use helpdesk.models.utcnow()")
        value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def str_enum(enum_cls: type[enum.Enum], length: int = 20) -> Enum:
    """A portable enum column: a VARCHAR holding the member's value, no native DB type."""
    return Enum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )
