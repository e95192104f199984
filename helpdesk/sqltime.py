"""Portable SQL for time arithmetic: a timestamp as whole seconds since the Unix epoch, on SQLite and PostgreSQL.

SQLite has no interval type and no time zones; PostgreSQL has both. Both can give a timestamp as
a number of seconds, so durations are subtractions of integers and the rest (months, time zones,
medians) is done in Python on those numbers, with the same result on both engines. The integer is
made in SQL: converting 100,000 floats in Python cost more than the query (docs/benchmarks.md).
"""
from __future__ import annotations

from sqlalchemy import BigInteger
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

# julianday() of 1970-01-01T00:00:00Z.
_UNIX_EPOCH_JULIAN_DAY = 2440587.5
# julianday() arithmetic is exact to about 50 µs either way, so 1 ms of slack keeps a timestamp on a
# whole second from falling into the second before (and a midnight into the day before).
_JULIAN_SLACK_SECONDS = 0.001


class epoch_seconds(FunctionElement):  # noqa: N801  (reads like the SQL function it stands for)
    """epoch_seconds(column): the UTC timestamp as whole seconds since 1970-01-01, truncated (NULL stays NULL)."""

    type = BigInteger()
    inherit_cache = True
    name = "epoch_seconds"


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element, compiler, **kw):
    # UTCDateTime stores naive UTC text "YYYY-MM-DD HH:MM:SS.ffffff" on SQLite; julianday() reads it.
    # CAST truncates toward zero, which is the floor for every instant after 1970.
    column = compiler.process(element.clauses, **kw)
    return (f"CAST((julianday({column}) - {_UNIX_EPOCH_JULIAN_DAY}) * 86400.0 + {_JULIAN_SLACK_SECONDS}"
            " AS INTEGER)")


@compiles(epoch_seconds, "postgresql")
def _epoch_postgresql(element, compiler, **kw):
    # date_part() gives a double, cheaper than EXTRACT's numeric (38 vs 51 ms over 50,000 rows). Doubles are
    # 0.5 µs apart around today's epoch, finer than the microseconds stored, so FLOOR needs no slack.
    return f"CAST(FLOOR(date_part('epoch', {compiler.process(element.clauses, **kw)})) AS BIGINT)"
