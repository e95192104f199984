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
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import partial
from itertools import chain, compress
from operator import sub
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, literal_column, or_, select, union_all

from .business_hours import BusinessHours, WorkingClock
from .database import plain_columns, plain_rows
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
    def of(cls, values: list[int]) -> "Durations":
        if not values:
            return cls()
        ordered = sorted(values)
        n = len(ordered)
        rank = max(1, math.ceil(0.9 * n))  # nearest-rank percentile
        # The median of the sorted list, as statistics.median() would give it, without sorting again.
        median = ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
        # Whole seconds: the integer sum is exact and its division correctly rounded, as fmean() gives.
        return cls(n, sum(ordered) / n, float(median), float(ordered[rank - 1]))


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
    # (organisation ids, created, taken or 0) of the tickets created in the period, in epoch seconds:
    # contract_stats.response_compliance() counts from them instead of reading the tickets again.
    opened_tickets: tuple = ((), (), ())


# How a ticket stands, as one small number, so the scan below reads no enum column: the ended
# status (1 closed, 2 no action, 0 open), plus REOPENED when it was reopened at least once.
CLOSED, NO_ACTION, REOPENED = 1, 2, 4
_STANDING = (case((Ticket.status == Status.CLOSED, CLOSED), (Ticket.status == Status.NO_ACTION, NO_ACTION), else_=0)
             + case((Ticket.reopen_count > 0, REOPENED), else_=0))
# Each dimension's column, in the order of the model's list, which also names their indexes.
DIMENSION_COLUMNS = dict(zip(("category", "location", "asset", "organisation", "requester", "referent"),
                             (getattr(Ticket, column) for column in STATS_DIMENSION_COLUMNS), strict=True))


def compute_indicators(period: Period, organisation_id: int | None = None,
                       business_hours: BusinessHours | None = None) -> Indicators:
    """Every ticket indicator of the period, optionally for one organisation, durations optionally in business hours."""
    org = [Ticket.organisation_id == organisation_id] if organisation_id is not None else []
    scan = _scan_tickets(period, org, WorkingClock(business_hours) if business_hours else None)
    buckets = [BucketRow(period.bucket_label(d)) for d in period.bucket_starts()]
    for index, row in enumerate(buckets, start=1):
        row.opened, row.closed, row.no_action = scan.opened[index], scan.closed[index], scan.no_action[index]
        row.take, row.resolve = Durations.of(scan.take[index]), Durations.of(scan.resolve[index])
    inside = slice(1, len(buckets) + 1)
    backlog_start, reopen_events = _fill_backlog(period, org, scan.bounds, buckets, scan.span_delta[inside])
    closed, no_action = sum(scan.closed[inside]), sum(scan.no_action[inside])
    overview = Overview(
        opened=sum(scan.opened[inside]), closed=closed, no_action=no_action, reopened_ended=scan.reopened_ended,
        ended=closed + no_action, reopen_events=reopen_events, backlog_start=backlog_start,
        backlog_end=buckets[-1].backlog, take=Durations.of(list(chain.from_iterable(scan.take[inside]))),
        resolve=Durations.of(list(chain.from_iterable(scan.resolve[inside]))),
        resolve_first_time=Durations.of(list(chain.from_iterable(scan.first_time[inside]))),
    )
    breakdowns = _breakdowns(_dimension_counts(scan.bounds[0], int(period.end_utc.timestamp()), org))
    return Indicators(period, organisation_id, overview, buckets, breakdowns, business_hours, scan.opened_tickets)


@dataclass
class _Scan:
    """What one pass over the period's tickets gives. Lists are indexed by slot: 0 is before the
    period (or no such event), 1..n its buckets, n + 1 after it."""

    bounds: list[int]  # epoch seconds of each bucket's start
    opened: list[int]
    closed: list[int]
    no_action: list[int]
    span_delta: list[int]  # creations minus endings: the backlog's moves apart from reopened tickets' gaps
    reopened_ended: int
    take: list[list[int]]
    resolve: list[list[int]]
    first_time: list[list[int]]  # resolve durations of the closed tickets never reopened
    opened_tickets: tuple  # see Indicators.opened_tickets


def _durations(starts, ends, clock: WorkingClock | None):
    """end - start per ticket, in clock seconds, or in working seconds with a WorkingClock."""
    return map(sub, ends, starts) if clock is None else map(clock.seconds, starts, ends)


def _scan_tickets(period: Period, org: list, clock: WorkingClock | None) -> _Scan:
    """One scan of the tickets created, taken or ended in the period: every count and duration.

    100,000 tickets must stay well under the page's budget, so the rows are plain integers made in
    SQL and the work is done column by column with C-level built-ins (map, zip, Counter); a loop
    that tested each row's timestamps cost more than the query (docs/benchmarks.md). The split by
    category, requester... is counted apart, in SQL (_dimension_counts).
    """
    bounds = period.bucket_bounds()
    end = int(period.end_utc.timestamp())
    slot = partial(bisect_right, bounds + [end])
    n = len(bounds)
    # The epoch-second copies of the timestamps (Ticket.created_epoch...): whole seconds, so a range
    # of them is the same range of instants, and SQLite converts no text (docs/benchmarks.md).
    created, taken, ended, standings, organisations = plain_columns(db.session.connection(), select(
        Ticket.created_epoch, func.coalesce(Ticket.taken_epoch, 0), func.coalesce(Ticket.closed_epoch, 0),
        _STANDING, Ticket.organisation_id,
    ).where(or_(*[and_(c >= bounds[0], c < end)
                  for c in (Ticket.created_epoch, Ticket.taken_epoch, Ticket.closed_epoch)]), *org), 5)
    opened_slot, taken_slot, ended_slot = list(map(slot, created)), list(map(slot, taken)), list(map(slot, ended))
    take = [[] for _ in range(n + 2)]
    for index, duration in zip(taken_slot, _durations(created, taken, clock)):
        take[index].append(duration)
    resolve = [[] for _ in range(n + 2)]
    first_time = [[] for _ in range(n + 2)]
    for index, standing, duration in zip(ended_slot, standings, _durations(created, ended, clock)):
        if standing == CLOSED:
            resolve[index].append(duration)
            first_time[index].append(duration)
        elif standing == CLOSED | REOPENED:
            resolve[index].append(duration)
    for durations in chain(take[1:n + 1], resolve[1:n + 1], first_time[1:n + 1]):
        durations.sort()  # sorted runs: the whole period's lists then sort in linear time
    opened_inside = [0 < index <= n for index in opened_slot]
    scan = _Scan(bounds=bounds, opened=[0] * (n + 2), closed=[0] * (n + 2), no_action=[0] * (n + 2),
                 span_delta=[0] * (n + 2), reopened_ended=0, take=take, resolve=resolve, first_time=first_time,
                 opened_tickets=tuple(list(compress(column, opened_inside))
                                      for column in (organisations, created, taken)))
    _count_events(scan, opened_slot, ended_slot, standings)
    return scan


def _count_events(scan: _Scan, opened_slot: list[int], ended_slot: list[int], standings: tuple[int, ...]) -> None:
    """Add the openings and endings per slot to `scan`: counts, backlog moves, reopened tickets ended."""
    n = len(scan.bounds)
    for index, count in Counter(opened_slot).items():
        scan.opened[index] += count
        scan.span_delta[index] += count
    for (index, standing), count in Counter(zip(ended_slot, standings)).items():
        if standing & CLOSED:
            scan.closed[index] += count
        elif standing & NO_ACTION:
            scan.no_action[index] += count
        if standing & (CLOSED | NO_ACTION):  # open tickets sit in slot 0 (no closed_at)
            scan.span_delta[index] -= count
            if standing & REOPENED and 0 < index <= n:
                scan.reopened_ended += count


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


def _dimension_counts(start: int, end: int, org: list) -> dict[str, Counter]:
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
    for number, value, count in plain_rows(db.session.connection(), union_all(*parts)):
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
