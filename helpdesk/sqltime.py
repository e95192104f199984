"""Portable SQL for time arithmetic: a timestamp as seconds since the Unix epoch, on SQLite and PostgreSQL.

SQLite has no interval type and no time zones; PostgreSQL has both. Both can give a timestamp as
a number of seconds, so durations are subtractions of numbers and the rest (months, time zones,
medians) is done in Python on those numbers, with the same result on both engines.
"""
from __future__ import annotations

import math

from sqlalchemy import Float
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

# julianday() of 1970-01-01T00:00:00Z.
_UNIX_EPOCH_JULIAN_DAY = 2440587.5


class epoch_seconds(FunctionElement):  # noqa: N801  (reads like the SQL function it stands for)
    """epoch_seconds(column): the UTC timestamp as float seconds since 1970-01-01 (NULL stays NULL)."""

    type = Float()
    inherit_cache = True
    name = "epoch_seconds"


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element, compiler, **kw):
    # UTCDateTime stores naive UTC text "YYYY-MM-DD HH:MM:SS.ffffff" on SQLite; julianday() reads it.
    return f"((julianday({compiler.process(element.clauses, **kw)}) - {_UNIX_EPOCH_JULIAN_DAY}) * 86400.0)"


@compiles(epoch_seconds, "postgresql")
def _epoch_postgresql(element, compiler, **kw):
    return f"CAST(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)}) AS DOUBLE PRECISION)"


def to_seconds(value: float | None) -> int | None:
    """A fetched epoch as whole seconds, truncated like the timestamp's own second.

    julianday() arithmetic is exact to about 50 µs either way, so 1 ms of slack keeps a timestamp
    on a whole second from falling into the second before (and a midnight into the day before).
    """
    return None if value is None else math.floor(value + 0.001)
