"""The desk queue and the requester's lists: filtered, searched, keyset-paginated ticket lists.

Pages are cut on the ticket id (newest first) with `WHERE id < :before ORDER BY id DESC LIMIT n+1`:
no OFFSET and no COUNT, so page 2,000 costs what page 1 costs (docs/benchmarks.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import exists, or_
from sqlalchemy.orm import joinedload

from .extensions import db
from .models import ENDED_STATUSES, OPEN_STATUSES, Message, Status, Ticket

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


@dataclass
class Page:
    tickets: list[Ticket]
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


def keyset_page(query, page_size: int, before: int | None = None, after: int | None = None) -> Page:
    """One page of `query` newest first, starting below `before` or just above `after`."""
    query = query.options(
        joinedload(Ticket.requester), joinedload(Ticket.assignee), joinedload(Ticket.category),
        joinedload(Ticket.location), joinedload(Ticket.organisation),
    )
    if after is not None:
        rows = list(db.session.execute(
            query.where(Ticket.id > after).order_by(Ticket.id.asc()).limit(page_size + 1)).scalars())
        has_newer = len(rows) > page_size
        rows = list(reversed(rows[:page_size]))
        return Page(rows, before=rows[-1].id if rows else None, after=rows[0].id if rows and has_newer else None)
    if before is not None:
        query = query.where(Ticket.id < before)
    rows = list(db.session.execute(query.order_by(Ticket.id.desc()).limit(page_size + 1)).scalars())
    has_older = len(rows) > page_size
    rows = rows[:page_size]
    return Page(rows, before=rows[-1].id if rows and has_older else None,
                after=rows[0].id if rows and before is not None else None)


def desk_queue(filters: QueueFilters, page_size: int, before: int | None = None, after: int | None = None) -> Page:
    """The referents' queue."""
    return keyset_page(apply_filters(db.select(Ticket), filters), page_size, before, after)


def requester_list(condition, ended: bool, page_size: int, before: int | None = None,
                   after: int | None = None) -> Page:
    """A requester's open or ended tickets (condition from access.visible_to_requester)."""
    statuses = ENDED_STATUSES if ended else OPEN_STATUSES
    query = db.select(Ticket).where(condition, Ticket.status.in_(statuses))
    return keyset_page(query, page_size, before, after)
