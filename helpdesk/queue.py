"""The desk queue and the requester's lists: filtered, searched, keyset-paginated ticket lists.

Pages are cut on the ticket id (newest first) with `WHERE id < :before ORDER BY id DESC LIMIT n+1`:
no OFFSET and no COUNT, so page 2,000 costs what page 1 costs (docs/benchmarks.md). The page's ids
are chosen on the ticket table alone; only they are joined to the names shown.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from datetime import datetime

from sqlalchemy import exists, literal, or_, select
from sqlalchemy.orm import aliased

from .extensions import db
from .models import (ENDED_STATUSES, OPEN_STATUSES, Category, Location, Message, Organisation, Priority, Status,
                     Ticket, User)

SEARCH_MAX = 200
NO_ASSIGNEE = 0  # assignee filter value meaning "nobody"


@dataclass(frozen=True)
class QueueFilters:
    statuses: tuple[Status, ...] = OPEN_STATUSES
    assignee_id: int | None = None  # NO_ASSIGNEE = unassigned
    category_id: int | None = None
    location_id: int | None = None
    organisation_id: int | None = None
    text: str = ""


@dataclass(frozen=True)
class Row:
    """What a list shows of a ticket: plain values read in one query (no ORM objects: lists are hot)."""

    id: int
    subject: str
    status: Status
    priority: Priority
    created_at: datetime
    updated_at: datetime
    requester_id: int
    requester_name: str
    assignee_name: str
    organisation_name: str
    category_name: str
    location_name: str

    @property
    def number(self) -> int:
        return self.id


_Requester, _Assignee = aliased(User), aliased(User)
ROW_COLUMNS = (
    Ticket.id, Ticket.subject, Ticket.status, Ticket.priority, Ticket.created_at, Ticket.updated_at,
    Ticket.requester_id, _Requester.display_name, _Requester.email, _Assignee.display_name, _Assignee.email,
    Organisation.name, Category.name, Location.name,
)


@lru_cache(maxsize=1)
def row_select():
    """SELECT of the list columns with their names joined in; filters and keyset apply to Ticket.

    Built once: statements are immutable (every .where() makes a new one), and building the joins
    cost a tenth of a millisecond per list.
    """
    return (select(*ROW_COLUMNS).select_from(Ticket)
            .join(_Requester, _Requester.id == Ticket.requester_id)
            .outerjoin(_Assignee, _Assignee.id == Ticket.assignee_id)
            .outerjoin(Organisation, Organisation.id == Ticket.organisation_id)
            .outerjoin(Category, Category.id == Ticket.category_id)
            .outerjoin(Location, Location.id == Ticket.location_id))


def _row(values) -> Row:
    (tid, subject, status, priority, created, updated, requester_id, r_name, r_email, a_name, a_email,
     org, category, location) = values
    return Row(tid, subject, status, priority, created, updated, requester_id, r_name or r_email,
               (a_name or a_email or ""), org or "", category or "", location or "")


@dataclass
class Page:
    tickets: list[Row]
    before: int | None = None  # pass as `before` for the next (older) page
    after: int | None = None  # pass as `after` for the previous (newer) page
    extra: dict = field(default_factory=dict)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_condition(text: str, include_notes: bool = True):
    """Tickets whose subject or one of whose messages contains text (case-insensitive); "#12" finds ticket 12."""
    text = text.strip()[:SEARCH_MAX]
    pattern = _like(text)
    in_messages = exists().where(Message.ticket_id == Ticket.id, Message.body_text.ilike(pattern, escape="\\"))
    if not include_notes:
        in_messages = in_messages.where(Message.public.is_(True))
    condition = or_(Ticket.subject.ilike(pattern, escape="\\"), in_messages)
    number = text.lstrip("#")
    if number.isdigit() and len(number) < 12:
        condition = or_(Ticket.id == int(number), condition)
    return condition


def apply_filters(query, filters: QueueFilters):
    if filters.statuses:
        query = query.where(Ticket.status.in_(filters.statuses))
    if filters.assignee_id == NO_ASSIGNEE:
        query = query.where(Ticket.assignee_id.is_(None))
    elif filters.assignee_id is not None:
        query = query.where(Ticket.assignee_id == filters.assignee_id)
    if filters.category_id is not None:
        query = query.where(Ticket.category_id == filters.category_id)
    if filters.location_id is not None:
        query = query.where(Ticket.location_id == filters.location_id)
    if filters.organisation_id is not None:
        query = query.where(Ticket.organisation_id == filters.organisation_id)
    if filters.text.strip():
        query = query.where(search_condition(filters.text))
    return query


def keyset_page(ids, page_size: int, before: int | None = None, after: int | None = None) -> Page:
    """One page of the tickets `ids` selects (a select(Ticket.id) with filters), newest first,
    starting below `before` or just above `after`.

    The page's ids are found first, on the ticket table alone, and only those rows are joined to
    their names: joined first, a requester's 2,000 tickets were all joined and then sorted (5 ms on
    SQLite at 100,000 tickets; 0.2 ms this way). The LIMIT is written into the SQL rather than bound,
    so that PostgreSQL keeps one plan for the prepared statement instead of planning the six-table
    join for every page (3 to 8 ms; docs/benchmarks.md).
    """
    limit = literal(page_size + 1, literal_execute=True)
    if after is not None:
        rows = _rows(ids.where(Ticket.id > after).order_by(Ticket.id.asc()).limit(limit))
        has_newer = len(rows) > page_size
        rows = rows[1:] if has_newer else rows  # the extra row is the newest
        return Page(rows, before=rows[-1].id if rows else None, after=rows[0].id if rows and has_newer else None)
    if before is not None:
        ids = ids.where(Ticket.id < before)
    rows = _rows(ids.order_by(Ticket.id.desc()).limit(limit))
    has_older = len(rows) > page_size
    rows = rows[:page_size]
    return Page(rows, before=rows[-1].id if rows and has_older else None,
                after=rows[0].id if rows and before is not None else None)


def _rows(page_ids) -> list[Row]:
    """The rows of the tickets page_ids selects, newest first."""
    query = row_select().where(Ticket.id.in_(page_ids.correlate(None))).order_by(Ticket.id.desc())
    return [_row(r) for r in db.session.execute(query)]


def desk_queue(filters: QueueFilters, page_size: int, before: int | None = None, after: int | None = None) -> Page:
    """The referents' queue."""
    return keyset_page(apply_filters(select(Ticket.id), filters), page_size, before, after)


def requester_list(condition, ended: bool, page_size: int, before: int | None = None,
                   after: int | None = None) -> Page:
    """A requester's open or ended tickets (condition from access.visible_to_requester)."""
    statuses = ENDED_STATUSES if ended else OPEN_STATUSES
    return keyset_page(select(Ticket.id).where(condition, Ticket.status.in_(statuses)), page_size, before, after)
