"""The numbers that size the team: read-only queries, the same results on SQLite and PostgreSQL.

Every figure is counted when its event happened, in the configured time zone:
- opened: tickets created in the period (and their split by category, location, asset,
  organisation, requester and referent);
- time to take: tickets first taken in the period, ``taken_at - created_at`` (``taken_at`` is set
  on the first move to taken or in progress and survives reopening);
- time to resolve (MTTR): tickets closed in the period and still closed, from creation to their
  last closing. A reopened ticket counts once, with the time it spent reopened: the problem was
  not solved at its first closing. Its count is shown apart (``reopened``). Tickets ended as
  "no action" are never in MTTR; they are counted on their own;
- reopen rate: of the tickets ended (closed or no action) in the period, those reopened at least
  once (``Ticket.reopen_count``); reopen events in the period come from the status history;
- backlog: tickets open (new, taken, in progress) at the end of each month (or day, for periods
  of two months or less): open from creation to ``closed_at``, apart from the gaps between an
  ending and a reopening (``StatusChange.ended_at`` on the reopening).

Timestamps are fetched as whole epoch seconds (the tickets' *_epoch columns, helpdesk.sqltime for the
history) and cut into local months in Python.
With business hours (helpdesk.business_hours), time to take and time to resolve count working time only;
every other figure is the same.
"""
from __future__ import annotations

import math
import unicodedata
from bisect import bisect_right
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from itertools import chain
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np

from sqlalchemy import and_, case, func, literal_column, or_, select, union_all

from .business_hours import BusinessHours, WorkingClock
from .database import plain_rows
from .extensions import db
from .models import (
    Asset, Category, Location, Organisation, Status, StatusChange, Ticket, User,
)
from .models.tickets import STATS_DIMENSION_COLUMNS
from .sqltime import epoch_seconds

DAILY_UP_TO_DAYS = 62  # periods up to this length are cut by day, longer ones by month
MAX_BUCKETS = 120  # ten years of months: a longer period is refused rather than drawn unreadable


class PeriodError(ValueError):
    """A period that cannot be used (end before start, too long)."""


@dataclass(frozen=True)
class Period:
    """Local calendar days [start, end] in a time zone, with their UTC bounds [start_utc, end_utc)."""

    start: date
    end: date
    tz: str

    def __post_init__(self):
        if self.end < self.start:
            raise PeriodError(f"period ends ({self.end}) before it starts ({self.start})")
        if len(self.bucket_starts()) > MAX_BUCKETS:
            raise PeriodError(f"period too long: at most {MAX_BUCKETS} months")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def local_midnight(self, day: date) -> datetime:
        """The UTC instant of local midnight opening `day` (DST-safe)."""
        return datetime.combine(day, time(0), tzinfo=self.zone).astimezone(timezone.utc)

    @property
    def start_utc(self) -> datetime:
        return self.local_midnight(self.start)

    @property
    def end_utc(self) -> datetime:
        return self.local_midnight(self.end + timedelta(days=1))

    @property
    def daily(self) -> bool:
        return (self.end - self.start).days < DAILY_UP_TO_DAYS

    def bucket_starts(self) -> list[date]:
        """First local day of each bucket (day or month) of the period."""
        if (self.end - self.start).days < DAILY_UP_TO_DAYS:
            return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]
        months, day = [], self.start
        while day <= self.end:
            months.append(day)
            day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
        return months

    def bucket_bounds(self) -> list[int]:
        """UTC epoch seconds of each bucket's first local midnight (for bisect over epoch columns)."""
        return [int(self.local_midnight(d).timestamp()) for d in self.bucket_starts()]

    def bucket_label(self, day: date) -> str:
        return day.isoformat() if self.daily else f"{day.year:04d}-{day.month:02d}"


def name_key(name: str) -> str:
    """Sort key for names: accents and case ignored, so "École" sorts with the E's."""
    return unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode().casefold()


def default_period(tz: str, today: date | None = None, months: int = 12) -> Period:
    """The last `months` months, the current one included, up to today (local)."""
    today = today or datetime.now(ZoneInfo(tz)).date()
    year, month = today.year, today.month - (months - 1)
    while month < 1:
        month += 12
        year -= 1
    return Period(date(year, month, 1), today, tz)


@dataclass
class Durations:
    """Count, mean, median and 90th percentile of durations in seconds."""

    count: int = 0
    mean: float | None = None
    median: float | None = None
    p90: float | None = None

    @classmethod
    def of(cls, values) -> "Durations":
        return cls.of_sorted(np.sort(np.asarray(values, dtype=np.int64)))

    @classmethod
    def of_sorted(cls, ordered: np.ndarray) -> "Durations":
        """Of integer durations already sorted."""
        n = len(ordered)
        if not n:
            return cls()
        rank = max(1, math.ceil(0.9 * n))  # nearest-rank percentile
        # The median as statistics.median() gives it; the mean from the exact integer sum, correctly
        # rounded as fmean() gives it.
        middle = int(ordered[n // 2]) if n % 2 else (int(ordered[n // 2 - 1]) + int(ordered[n // 2])) / 2
        return cls(n, int(ordered.sum()) / n, float(middle), float(ordered[rank - 1]))


@dataclass
class BucketRow:
    label: str
    opened: int = 0
    closed: int = 0
    no_action: int = 0
    reopened: int = 0
    backlog: int = 0
    take: Durations = field(default_factory=Durations)
    resolve: Durations = field(default_factory=Durations)


@dataclass
class Overview:
    opened: int
    closed: int
    no_action: int
    reopened_ended: int  # ended in the period and reopened at least once before
    ended: int
    reopen_events: int
    backlog_start: int
    backlog_end: int
    take: Durations
    resolve: Durations
    resolve_first_time: Durations  # closed tickets never reopened

    @property
    def reopen_rate(self) -> float | None:
        return self.reopened_ended / self.ended if self.ended else None


@dataclass
class Indicators:
    period: Period
    organisation_id: int | None
    overview: Overview
    buckets: list[BucketRow]
    # dimension -> [(id, name, opened count)], most first
    breakdowns: dict[str, list[tuple[int | None, str, int]]]
    business_hours: BusinessHours | None = None  # durations in working time when set
    # (organisation ids or 0, created, taken or 0) of the tickets created in the period, in epoch seconds,
    # as numpy arrays:
    # contract_stats.response_compliance() counts from them instead of reading the tickets again.
    opened_tickets: tuple = ((), (), ())


# How a ticket stands, as one small number, so the scan below reads no enum column: the ended
# status (1 closed, 2 no action, 0 open), plus REOPENED when it was reopened at least once.
CLOSED, NO_ACTION, REOPENED = 1, 2, 4
STANDING_SPAN = 8  # ended * STANDING_SPAN + standing holds both in one integer
_STANDING = (case((Ticket.status == Status.CLOSED, CLOSED), (Ticket.status == Status.NO_ACTION, NO_ACTION), else_=0)
             + case((Ticket.reopen_count > 0, REOPENED), else_=0))
# Each dimension's column, in the order of the model's list, which also names their indexes.
DIMENSION_COLUMNS = dict(zip(("category", "location", "asset", "organisation", "requester", "referent"),
                             (getattr(Ticket, column) for column in STATS_DIMENSION_COLUMNS), strict=True))


def compute_indicators(period: Period, organisation_id: int | None = None,
                       business_hours: BusinessHours | None = None) -> Indicators:
    """Every ticket indicator of the period, optionally for one organisation, durations optionally in business hours."""
    org = [Ticket.organisation_id == organisation_id] if organisation_id is not None else []
    window = (period.bucket_bounds()[0], int(period.end_utc.timestamp()))
    with _counted_beside(window, org) as dimension_counts:
        scan = _scan_tickets(period, org, WorkingClock(business_hours) if business_hours else None)
    buckets = [BucketRow(period.bucket_label(d)) for d in period.bucket_starts()]
    for index, row in enumerate(buckets, start=1):
        row.opened, row.closed, row.no_action = scan.opened[index], scan.closed[index], scan.no_action[index]
        row.take, row.resolve = Durations.of_sorted(scan.take.slot(index)), Durations.of_sorted(scan.resolve.slot(index))
    inside = slice(1, len(buckets) + 1)
    backlog_start, reopen_events = _fill_backlog(period, org, scan.bounds, buckets, scan.span_delta[inside])
    closed, no_action = sum(scan.closed[inside]), sum(scan.no_action[inside])
    overview = Overview(
        opened=sum(scan.opened[inside]), closed=closed, no_action=no_action, reopened_ended=scan.reopened_ended,
        ended=closed + no_action, reopen_events=reopen_events, backlog_start=backlog_start,
        backlog_end=buckets[-1].backlog, take=Durations.of_sorted(scan.take.whole()),
        resolve=Durations.of_sorted(scan.resolve.whole()),
        resolve_first_time=Durations.of_sorted(scan.first_time.whole()),
    )
    breakdowns = _breakdowns(dimension_counts.result())
    return Indicators(period, organisation_id, overview, buckets, breakdowns, business_hours, scan.opened_tickets)


@dataclass
class _Scan:
    """What one pass over the period's tickets gives. Count lists are indexed by slot: 0 is before
    the period (or no such event), 1..n its buckets, n + 1 after it."""

    bounds: list[int]  # epoch seconds of each bucket's start
    opened: list[int]
    closed: list[int]
    no_action: list[int]
    span_delta: list[int]  # creations minus endings: the backlog's moves apart from reopened tickets' gaps
    reopened_ended: int
    take: "_SortedBySlot"
    resolve: "_SortedBySlot"
    first_time: "_SortedBySlot"  # resolve durations of the closed tickets never reopened
    opened_tickets: tuple  # see Indicators.opened_tickets


class _SortedBySlot:
    """The durations of one kind, grouped by bucket (slots 1..n), each bucket's run sorted: one array sort."""

    def __init__(self, slots: np.ndarray, durations: np.ndarray, n: int):
        order = np.argsort(durations)
        # Then by slot, stably so that each run stays sorted; slots (< 2^15) as int16 take numpy's radix sort.
        order = order[np.argsort(slots[order].astype(np.int16), kind="stable")]
        self.values = durations[order]
        self.cuts = np.searchsorted(slots[order], np.arange(1, n + 2)).tolist()  # slot i: cuts[i - 1]:cuts[i]

    def slot(self, index: int) -> np.ndarray:
        return self.values[self.cuts[index - 1]:self.cuts[index]]

    def whole(self) -> np.ndarray:
        """Every bucket's durations together, sorted."""
        return np.sort(self.values)


def _durations(starts: np.ndarray, ends: np.ndarray, clock: WorkingClock | None) -> np.ndarray:
    """end - start per ticket, in clock seconds, or in working seconds with a WorkingClock."""
    return ends - starts if clock is None else clock.seconds_of(starts, ends)


def _scan_tickets(period: Period, org: list, clock: WorkingClock | None) -> _Scan:
    """One scan of the tickets created, taken or ended in the period: every count and duration.

    100,000 tickets must stay well under the page's budget: the rows are integers made in SQL,
    read straight into numpy arrays, and every slot, count and sort is an array operation; the
    same work in Python cost more than the query (docs/benchmarks.md). The split by category,
    requester... is counted apart, in SQL (_dimension_counts).
    """
    bounds = period.bucket_bounds()
    end = int(period.end_utc.timestamp())
    n = len(bounds)
    # The epoch-second copies of the timestamps (Ticket.created_epoch...): whole seconds, so a range
    # of them is the same range of instants, and SQLite converts no text (docs/benchmarks.md). The
    # ending's instant and the standing come as one number, one column fewer to read.
    created, taken, ending, organisations = int_columns(db.session.connection(), select(
        Ticket.created_epoch, func.coalesce(Ticket.taken_epoch, 0),
        func.coalesce(Ticket.closed_epoch, 0) * STANDING_SPAN + _STANDING, func.coalesce(Ticket.organisation_id, 0),
    ).where(or_(*[and_(c >= bounds[0], c < end)
                  for c in (Ticket.created_epoch, Ticket.taken_epoch, Ticket.closed_epoch)]), *org), 4)
    ended, standings = np.divmod(ending, STANDING_SPAN)
    edges = np.array(bounds + [end], dtype=np.int64)
    # searchsorted(side="right") is bisect_right: 0 before the period (and for 0, no such event), n + 1 after it.
    opened_slot, taken_slot, ended_slot = (np.searchsorted(edges, column, side="right")
                                           for column in (created, taken, ended))
    opened_inside, taken_inside, ended_inside = ((0 < slots) & (slots <= n)
                                                 for slots in (opened_slot, taken_slot, ended_slot))
    how_ended = standings & (CLOSED | NO_ACTION)  # 0 while open
    closed = (how_ended == CLOSED) & ended_inside
    resolve = _durations(created[closed], ended[closed], clock)
    never_reopened = standings[closed] == CLOSED
    opened = np.bincount(opened_slot, minlength=n + 2)
    return _Scan(
        bounds=bounds, opened=opened.tolist(),
        closed=np.bincount(ended_slot[how_ended == CLOSED], minlength=n + 2).tolist(),
        no_action=np.bincount(ended_slot[how_ended == NO_ACTION], minlength=n + 2).tolist(),
        span_delta=(opened - np.bincount(ended_slot[how_ended != 0], minlength=n + 2)).tolist(),
        reopened_ended=int(np.count_nonzero(ended_inside & (how_ended != 0) & (standings & REOPENED != 0))),
        take=_SortedBySlot(taken_slot[taken_inside],
                           _durations(created[taken_inside], taken[taken_inside], clock), n),
        resolve=_SortedBySlot(ended_slot[closed], resolve, n),
        first_time=_SortedBySlot(ended_slot[closed][never_reopened], resolve[never_reopened], n),
        opened_tickets=(organisations[opened_inside], created[opened_inside], taken[opened_inside]),
    )


def _fill_backlog(period: Period, org: list, bounds: list[int], buckets: list[BucketRow],
                  span_delta: list[int]) -> tuple[int, int]:
    """Set each bucket's end-of-bucket backlog and reopen count; return (backlog at start, reopen events).

    A ticket is open from its creation to its `closed_at` (never, while it is open), except in the
    gaps between an ending and a reopening, which the reopening's history row records
    (`StatusChange.ended_at`). `span_delta` holds, per bucket, the creations minus the endings.
    """
    connection = db.session.connection()
    before = connection.execute(
        select(func.count()).select_from(Ticket)
        .where(Ticket.created_at < period.start_utc,
               or_(Ticket.closed_at.is_(None), Ticket.closed_at >= period.start_utc), *org)
    ).scalar_one()
    gaps = select(epoch_seconds(StatusChange.ended_at), epoch_seconds(StatusChange.created_at)).where(
        StatusChange.ended_at < period.end_utc)
    if org:
        gaps = gaps.join(Ticket, Ticket.id == StatusChange.ticket_id).where(*org)
    start, end = bounds[0], int(period.end_utc.timestamp())
    delta = list(span_delta)
    reopens = [0] * len(bounds)
    for ended, reopened in plain_rows(connection, gaps):
        if ended < start:
            before -= 1
        else:
            delta[bisect_right(bounds, ended) - 1] -= 1
        if reopened < start:
            before += 1
        elif reopened < end:
            index = bisect_right(bounds, reopened) - 1
            delta[index] += 1
            reopens[index] += 1
    level = before
    for index, row in enumerate(buckets):
        level += delta[index]
        row.backlog, row.reopened = level, reopens[index]
    return before, sum(reopens)


def int_columns(connection, statement, width: int) -> list[np.ndarray]:
    """Run a Core SELECT of `width` integer columns that are never NULL (coalesce them) and return
    one int64 numpy array per column, for the stats' array arithmetic.

    The driver's rows are poured straight into one array (np.fromiter): no row tuple outlives its
    read, and no Python list of 100,000 values is built on the way.
    """
    result = connection.execute(statement)
    try:
        flat = np.fromiter(chain.from_iterable(result.cursor), dtype=np.int64)
    finally:
        result.close()
    return list(flat.reshape(-1, width).T.copy())  # each column contiguous


@contextmanager
def _counted_beside(window: tuple[int, int], org: list):
    """A future of _dimension_counts(window): on PostgreSQL on a second connection in a thread, so
    the server counts on one core while the scan is read and crunched on the other (the default
    page 268-314 against 343-376 ms in the same minutes, docs/benchmarks.md); that connection sees
    committed rows only, as every stats page does. On SQLite (its driver holds the GIL while it
    reads) at once, on the session's connection."""
    if db.session.get_bind().dialect.name != "postgresql":
        done = Future()
        done.set_result(_dimension_counts(db.session.connection(), *window, org))
        yield done
        return
    engine = db.engine  # the thread has no app context

    def count_apart():
        with engine.connect() as connection:
            return _dimension_counts(connection, *window, org)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="stats-counts") as pool:
        yield pool.submit(count_apart)


def _dimension_counts(connection, start: int, end: int, org: list) -> dict[str, Counter]:
    """Tickets created in [start, end) (epoch seconds) per value of each dimension, in one query.

    One GROUP BY per dimension, each read from its (dimension, created_epoch) index alone: over
    100,000 tickets, counting them in SQL costs less than fetching six more columns and counting in
    Python (docs/benchmarks.md).
    """
    parts = [select(literal_column(str(number)), column, func.count())
             .where(Ticket.created_epoch >= start, Ticket.created_epoch < end, *org).group_by(column)
             for number, column in enumerate(DIMENSION_COLUMNS.values())]
    counts = {name: Counter() for name in DIMENSION_COLUMNS}
    names = list(DIMENSION_COLUMNS)
    for number, value, count in plain_rows(connection, union_all(*parts)):
        counts[names[number]][value] = count
    return counts


def _breakdowns(dimension_counts: dict[str, Counter]) -> dict[str, list[tuple[int | None, str, int]]]:
    """Tickets opened in the period per category, location, asset, organisation, requester and referent."""
    result = {}
    for dimension, counts in dimension_counts.items():
        names = names_for(dimension, counts)
        rows = [(key, names.get(key, "") if key is not None else "", n) for key, n in counts.items()]
        rows.sort(key=lambda r: (-r[2], r[0] is None, name_key(r[1]), r[0] or 0))
        result[dimension] = rows
    return result


_NAME_SOURCES = {
    "category": (Category, Category.name),
    "location": (Location, Location.name),
    "asset": (Asset, Asset.name),
    "organisation": (Organisation, Organisation.name),
    "requester": (User, func.coalesce(func.nullif(User.display_name, ""), User.email)),
    "referent": (User, func.coalesce(func.nullif(User.display_name, ""), User.email)),
}
_IN_CHUNK = 900  # ids per IN (...) list: well under every engine's bound-parameter limit


def names_for(dimension: str, ids) -> dict[int, str]:
    """Display names of the given ids of one dimension (category, asset, requester...)."""
    model, label = _NAME_SOURCES[dimension]
    wanted = sorted(i for i in set(ids) if i is not None)
    if len(wanted) > _IN_CHUNK:
        # Thousands of requesters: reading the whole table once is cheaper than IN lists in chunks.
        return dict(plain_rows(db.session.connection(), select(model.id, label)))
    names = {}
    for offset in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[offset:offset + _IN_CHUNK]
        names.update(db.session.execute(select(model.id, label).where(model.id.in_(chunk))).all())
    return names
