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
  of two months or less), replayed from the status history.

Timestamps are fetched as epoch seconds (helpdesk.sqltime) and cut into local months in Python.
"""
from __future__ import annotations

import bisect
import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, literal, literal_column, or_, select

from .extensions import db
from .models import (
    ENDED_STATUSES, OPEN_STATUSES, Asset, Category, Location, Organisation, Status, StatusChange, Ticket, User,
)
from .sqltime import epoch_seconds, to_seconds

DAILY_UP_TO_DAYS = 62  # periods up to this length are cut by day, longer ones by month
MAX_BUCKETS = 120  # ten years of months: a longer period is refused rather than drawn unreadable
DIMENSIONS = ("category", "location", "asset", "organisation", "requester", "referent")


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

    def bucket_label(self, day: date) -> str:
        return day.isoformat() if self.daily else f"{day.year:04d}-{day.month:02d}"


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
        rank = max(1, math.ceil(0.9 * len(ordered)))  # nearest-rank percentile
        return cls(len(ordered), statistics.fmean(ordered), float(statistics.median(ordered)),
                   float(ordered[rank - 1]))


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


def _ticket_filter(period: Period, organisation_id: int | None):
    conditions = [or_(
        and_(Ticket.created_at >= period.start_utc, Ticket.created_at < period.end_utc),
        and_(Ticket.taken_at >= period.start_utc, Ticket.taken_at < period.end_utc),
        and_(Ticket.closed_at >= period.start_utc, Ticket.closed_at < period.end_utc),
    )]
    if organisation_id is not None:
        conditions.append(Ticket.organisation_id == organisation_id)
    return conditions


def compute_indicators(period: Period, organisation_id: int | None = None) -> Indicators:
    """Every ticket indicator of the period, optionally for one organisation."""
    start, end = period.start_utc.timestamp(), period.end_utc.timestamp()
    bounds = [period.local_midnight(d).timestamp() for d in period.bucket_starts()]
    buckets = [BucketRow(period.bucket_label(d)) for d in period.bucket_starts()]
    take_by, resolve_by = defaultdict(list), defaultdict(list)
    take_all, resolve_all, resolve_first = [], [], []
    dims = {name: Counter() for name in DIMENSIONS}
    closed = no_action = reopened_ended = opened = 0

    rows = db.session.execute(
        select(
            Ticket.status, epoch_seconds(Ticket.created_at), epoch_seconds(Ticket.taken_at),
            epoch_seconds(Ticket.closed_at), Ticket.reopen_count, Ticket.category_id, Ticket.location_id,
            Ticket.asset_id, Ticket.organisation_id, Ticket.requester_id, Ticket.assignee_id,
        ).where(*_ticket_filter(period, organisation_id))
    )
    for status, created, taken, ended, reopens, cat, loc, asset, org, requester, assignee in rows:
        created, taken, ended = to_seconds(created), to_seconds(taken), to_seconds(ended)
        if start <= created < end:
            opened += 1
            buckets[bisect.bisect_right(bounds, created) - 1].opened += 1
            for name, key in zip(DIMENSIONS, (cat, loc, asset, org, requester, assignee)):
                dims[name][key] += 1
        if taken is not None and start <= taken < end:
            take_all.append(taken - created)
            take_by[bisect.bisect_right(bounds, taken) - 1].append(taken - created)
        if ended is not None and start <= ended < end:
            index = bisect.bisect_right(bounds, ended) - 1
            if reopens:
                reopened_ended += 1
            if status == Status.CLOSED:
                closed += 1
                buckets[index].closed += 1
                resolve_all.append(ended - created)
                resolve_by[index].append(ended - created)
                if not reopens:
                    resolve_first.append(ended - created)
            elif status == Status.NO_ACTION:
                no_action += 1
                buckets[index].no_action += 1
    for index, row in enumerate(buckets):
        row.take = Durations.of(take_by[index])
        row.resolve = Durations.of(resolve_by[index])

    backlog_start, reopen_events = _replay_history(period, organisation_id, buckets)
    overview = Overview(
        opened=opened, closed=closed, no_action=no_action, reopened_ended=reopened_ended,
        ended=closed + no_action, reopen_events=reopen_events, backlog_start=backlog_start,
        backlog_end=buckets[-1].backlog, take=Durations.of(take_all), resolve=Durations.of(resolve_all),
        resolve_first_time=Durations.of(resolve_first),
    )
    return Indicators(period, organisation_id, overview, buckets, _name_breakdowns(dims))


# A history row changes the backlog by +1 (opened, or reopened) or -1 (ended); other moves by 0.
_DELTA = case(
    (StatusChange.from_status.is_(None), 1),
    (and_(StatusChange.from_status.in_(OPEN_STATUSES), StatusChange.to_status.in_(ENDED_STATUSES)), -1),
    (and_(StatusChange.from_status.in_(ENDED_STATUSES), StatusChange.to_status.in_(OPEN_STATUSES)), 1),
    else_=0,
)
_REOPEN = case((and_(StatusChange.from_status.in_(ENDED_STATUSES), StatusChange.to_status.in_(OPEN_STATUSES)), 1),
               else_=0)


def _replay_history(period: Period, organisation_id: int | None, buckets: list[BucketRow]) -> tuple[int, int]:
    """Fill each bucket's end-of-bucket backlog and reopen count; return (backlog at start, reopen events)."""
    starts = [period.local_midnight(d) for d in period.bucket_starts()]
    bucket = (case(*[(StatusChange.created_at < b, i) for i, b in enumerate(starts[1:])], else_=len(starts) - 1)
              if len(starts) > 1 else literal(0)).label("bucket")
    org = [Ticket.organisation_id == organisation_id] if organisation_id is not None else []

    def history(*where):
        query = select(*where[0]).select_from(StatusChange)
        if org:
            query = query.join(Ticket, Ticket.id == StatusChange.ticket_id).where(*org)
        return query.where(*where[1:])

    before = db.session.execute(
        history([func.coalesce(func.sum(_DELTA), 0)], StatusChange.created_at < period.start_utc)
    ).scalar_one()
    per_bucket = db.session.execute(
        history([bucket, func.sum(_DELTA), func.sum(_REOPEN)],
                StatusChange.created_at >= period.start_utc, StatusChange.created_at < period.end_utc)
        .group_by(literal_column("bucket"))  # by name: PostgreSQL cannot match two copies of a CASE with parameters
    ).all()
    deltas = {int(index): (int(delta or 0), int(reopens or 0)) for index, delta, reopens in per_bucket}
    level, reopen_events = int(before), 0
    for index, row in enumerate(buckets):
        delta, reopens = deltas.get(index, (0, 0))
        level += delta
        row.backlog = level
        row.reopened = reopens
        reopen_events += reopens
    return int(before), reopen_events


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
    names = {}
    for offset in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[offset:offset + _IN_CHUNK]
        names.update(db.session.execute(select(model.id, label).where(model.id.in_(chunk))).all())
    return names


def _name_breakdowns(dims: dict[str, Counter]) -> dict[str, list[tuple[int | None, str, int]]]:
    result = {}
    for dimension, counts in dims.items():
        names = names_for(dimension, counts)
        rows = [(key, names.get(key, "") if key is not None else "", n) for key, n in counts.items()]
        rows.sort(key=lambda r: (-r[2], r[0] is None, r[1], r[0] or 0))
        result[dimension] = rows
    return result


@dataclass
class RecurringFlag:
    """An asset, location or category with at least `threshold` tickets in the window."""

    kind: str  # "asset", "location" or "category"
    id: int
    name: str
    tickets: list[tuple[int, str, datetime, Status]]  # (id, subject, created_at, status), oldest first

    @property
    def count(self) -> int:
        return len(self.tickets)


RECURRING_KINDS = {"asset": Ticket.asset_id, "location": Ticket.location_id, "category": Ticket.category_id}


def recurring_failures(
    until: datetime, days: int, threshold: int, organisation_id: int | None = None
) -> list[RecurringFlag]:
    """Assets, locations and categories with `threshold` or more tickets opened in the `days` days before `until`.

    The window is [until - days, until): a ticket opened exactly `days` days before `until` counts.
    """
    if days < 1 or threshold < 1:
        raise ValueError("recurring failures need days >= 1 and threshold >= 1")
    since = until - timedelta(days=days)
    flags: list[RecurringFlag] = []
    for kind, column in RECURRING_KINDS.items():
        where = [Ticket.created_at >= since, Ticket.created_at < until, column.is_not(None)]
        if organisation_id is not None:
            where.append(Ticket.organisation_id == organisation_id)
        over = select(column).where(*where).group_by(column).having(func.count() >= threshold)
        rows = db.session.execute(
            select(column, Ticket.id, Ticket.subject, Ticket.created_at, Ticket.status)
            .where(*where, column.in_(over)).order_by(column, Ticket.created_at, Ticket.id)
        ).all()
        grouped: dict[int, list] = defaultdict(list)
        for key, ticket_id, subject, created_at, status in rows:
            grouped[key].append((ticket_id, subject, created_at, status))
        names = names_for(kind, grouped)
        flags.extend(RecurringFlag(kind, key, names.get(key, ""), tickets) for key, tickets in grouped.items())
    flags.sort(key=lambda f: (-f.count, f.kind, f.name, f.id))
    return flags
