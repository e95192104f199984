"""Recurring failures: assets, locations and categories with many tickets in a short window (issue 7).

Seed 003 asks for repeated failures to show early enough to plan purchases: a thing with
`stats_recurring_threshold` tickets or more opened in the `stats_recurring_days` days before the
end of the stats period (or now) is flagged, with the tickets behind the flag.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from .extensions import db
from .models import Status, Ticket
from .stats import name_key, names_for


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


RECURRING_KINDS = ("asset", "location", "category")  # the order of the columns fetched below


def recurring_failures(
    until: datetime, days: int, threshold: int, organisation_id: int | None = None
) -> list[RecurringFlag]:
    """Assets, locations and categories with `threshold` or more tickets opened in the `days` days before `until`.

    The window is [until - days, until): a ticket opened exactly `days` days before `until` counts.
    """
    if days < 1 or threshold < 1:
        raise ValueError("recurring failures need days >= 1 and threshold >= 1")
    since = until - timedelta(days=days)
    where = [Ticket.created_at >= since, Ticket.created_at < until]
    if organisation_id is not None:
        where.append(Ticket.organisation_id == organisation_id)
    # The window is short (days, not years): fetch its tickets once, with what a flag lists, and
    # count in Python (a second query for the flagged tickets' details cost more than this one).
    window = db.session.connection().execute(
        select(Ticket.id, Ticket.subject, Ticket.created_at, Ticket.status,
               Ticket.asset_id, Ticket.location_id, Ticket.category_id).where(*where)
    ).all()
    members: dict[tuple[str, int], list[int]] = defaultdict(list)
    details = {}
    for ticket_id, subject, created_at, status, *keys in window:
        details[ticket_id] = (ticket_id, subject, created_at, status)
        for kind, key in zip(RECURRING_KINDS, keys):
            if key is not None:
                members[(kind, key)].append(ticket_id)
    flagged = {k: ids for k, ids in members.items() if len(ids) >= threshold}
    flags: list[RecurringFlag] = []
    for kind in RECURRING_KINDS:
        keys = [key for (k, key) in flagged if k == kind]
        names = names_for(kind, keys)
        for key in keys:
            tickets = sorted((details[i] for i in flagged[(kind, key)]), key=lambda t: (t[2], t[0]))
            flags.append(RecurringFlag(kind, key, names.get(key, ""), tickets))
    flags.sort(key=lambda f: (-f.count, f.kind, name_key(f.name), f.id))
    return flags
