"""The desk queue and the requester's lists: filtered, searched, keyset-paginated ticket lists.

Pages are cut on the ticket id (newest first) with `WHERE id < :before ORDER BY id DESC LIMIT n+1`:
no OFFSET and no COUNT, so page 2,000 costs what page 1 costs (docs/benchmarks.md). The page's ids
are chosen on the ticket table alone; only they are joined to the names shown.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

from datetime import datetime

from sqlalchemy import Integer, String, bindparam, exists, literal, or_, select
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


class Row(NamedTuple):
    """What a list shows of a ticket: plain values read in one query (no ORM objects: lists are hot).

    A named tuple rather than a frozen dataclass: fifty of them a page cost a tenth as much to build.
    """

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


def _search_condition(by_number: bool):
    """Tickets whose subject or one of whose messages contains :pattern (case-insensitive); with by_number,
    also ticket :number ("#12" finds ticket 12)."""
    pattern = bindparam("pattern", type_=String)
    in_messages = exists().where(Message.ticket_id == Ticket.id, Message.body_text.ilike(pattern, escape="\\"))
    condition = or_(Ticket.subject.ilike(pattern, escape="\\"), in_messages)
    if by_number:
        condition = or_(Ticket.id == bindparam("number", type_=Integer), condition)
    return condition


def _filter_shape(filters: QueueFilters) -> tuple[tuple, dict]:
    """Which filters a queue page uses (the shape of its SQL) and their values (its parameters)."""
    values = {}
    assignee = None
    if filters.assignee_id == NO_ASSIGNEE:
        assignee = "nobody"
    elif filters.assignee_id is not None:
        assignee, values["assignee_id"] = "one", filters.assignee_id
    for name in ("category_id", "location_id", "organisation_id"):
        if getattr(filters, name) is not None:
            values[name] = getattr(filters, name)
    search = None
    text = filters.text.strip()[:SEARCH_MAX]
    if text:
        search, values["pattern"] = "text", _like(text)
        number = text.lstrip("#")
        if number.isdigit() and len(number) < 12:
            search, values["number"] = "number", int(number)
    columns = tuple(name for name in ("category_id", "location_id", "organisation_id") if name in values)
    return (filters.statuses, assignee, columns, search), values


def _filtered_ids(shape: tuple):
    """select(Ticket.id) with a queue page's filters, their values left as parameters."""
    statuses, assignee, columns, search = shape
    query = select(Ticket.id)
    if statuses:
        query = query.where(Ticket.status.in_(statuses))
    if assignee == "nobody":
        query = query.where(Ticket.assignee_id.is_(None))
    elif assignee == "one":
        query = query.where(Ticket.assignee_id == bindparam("assignee_id", type_=Integer))
    for name in columns:
        query = query.where(getattr(Ticket, name) == bindparam(name, type_=Integer))
    if search:
        query = query.where(_search_condition(by_number=search == "number"))
    return query


def _direction(before: int | None, after: int | None) -> str | None:
    return "after" if after is not None else "before" if before is not None else None


def _keyset_statement(ids, page_size: int, direction: str | None):
    """The rows of one page of the tickets `ids` selects, below :before or just above :after.

    The page's ids are found first, on the ticket table alone, and only those rows are joined to
    their names: joined first, a requester's 2,000 tickets were all joined and then sorted (5 ms on
    SQLite at 100,000 tickets; 0.2 ms this way). The LIMIT is written into the SQL rather than bound,
    so that PostgreSQL keeps one plan for the prepared statement instead of planning the six-table
    join for every page (3 to 8 ms; docs/benchmarks.md).
    """
    limit = literal(page_size + 1, literal_execute=True)
    if direction == "after":
        ids = ids.where(Ticket.id > bindparam("after", type_=Integer)).order_by(Ticket.id.asc())
    else:
        if direction == "before":
            ids = ids.where(Ticket.id < bindparam("before", type_=Integer))
        ids = ids.order_by(Ticket.id.desc())
    return row_select().where(Ticket.id.in_(ids.limit(limit).correlate(None))).order_by(Ticket.id.desc())


@lru_cache(maxsize=256)
def _desk_statement(shape: tuple, page_size: int, direction: str | None):
    """A queue page's statement, built once per shape: building it and computing its SQLAlchemy cache
    key cost about 0.35 ms a page; a statement object that is used again has its key already."""
    return _keyset_statement(_filtered_ids(shape), page_size, direction)


def _page(statement, values: dict, page_size: int, before: int | None, after: int | None) -> Page:
    """Run a page's statement (newest first, one row more than the page) and tell the neighbouring pages."""
    # The session's connection, not session.execute(): a plain SELECT of columns needs none of the
    # ORM's handling (about 0.1 ms a page), and list pages never have pending changes to flush.
    result = db.session.connection().execute(statement, {**values, "before": before, "after": after})
    rows = [_row(r) for r in result.all()]
    if after is not None:
        has_newer = len(rows) > page_size
        rows = rows[1:] if has_newer else rows  # the extra row is the newest
        return Page(rows, before=rows[-1].id if rows else None, after=rows[0].id if rows and has_newer else None)
    has_older = len(rows) > page_size
    rows = rows[:page_size]
    return Page(rows, before=rows[-1].id if rows and has_older else None,
                after=rows[0].id if rows and before is not None else None)


def keyset_page(ids, page_size: int, before: int | None = None, after: int | None = None) -> Page:
    """One page of the tickets `ids` selects (a select(Ticket.id) with filters), newest first,
    starting below `before` or just above `after`."""
    return _page(_keyset_statement(ids, page_size, _direction(before, after)), {}, page_size, before, after)


def desk_queue(filters: QueueFilters, page_size: int, before: int | None = None, after: int | None = None) -> Page:
    """The referents' queue."""
    shape, values = _filter_shape(filters)
    return _page(_desk_statement(shape, page_size, _direction(before, after)), values, page_size, before, after)


def requester_list(condition, ended: bool, page_size: int, before: int | None = None,
                   after: int | None = None) -> Page:
    """A requester's open or ended tickets (condition from access.visible_to_requester)."""
    statuses = ENDED_STATUSES if ended else OPEN_STATUSES
    return keyset_page(select(Ticket.id).where(condition, Ticket.status.in_(statuses)), page_size, before, after)
