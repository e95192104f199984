"""A small fixed history of tickets with explicit timestamps, for the stats and ratings tests.

Statuses are reached through helpdesk.workflow as everywhere else; only the clock is fixed:
`walk()` makes workflow's utcnow() return the time of each step, and `opened_at()` backdates a
ticket's creation (its created_at and its opening history row), which open_ticket() stamps with now.
Expected figures are worked out by hand in tests/test_stats.py from the times written here.
"""
from __future__ import annotations

from datetime import datetime, timezone

from helpdesk import workflow
from helpdesk.extensions import db
from helpdesk.models import Asset, Category, Location, Status, Ticket, User
from helpdesk.tickets import open_ticket
from tests.factories import make_organisation, make_referent, make_user

S = Status


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def opened_at(requester: User, when: datetime, subject: str = "Panne", **fields) -> Ticket:
    """A ticket opened by `requester` whose creation is recorded at `when`."""
    ticket = open_ticket(requester, subject, "Bonjour", **fields)
    ticket.created_at = when
    ticket.status_changes[0].created_at = when
    db.session.flush()
    return ticket


def walk(monkeypatch, ticket: Ticket, actor: User, *steps: tuple[Status, datetime]) -> Ticket:
    """Move `ticket` through workflow.transition() at the given times."""
    real_clock = workflow.utcnow
    for status, when in steps:
        monkeypatch.setattr(workflow, "utcnow", lambda when=when: when)
        workflow.transition(ticket, status, actor=actor)
    monkeypatch.setattr(workflow, "utcnow", real_clock)
    return ticket


class Dataset:
    """Seven tickets around a period of January to April 2026, seen from Europe/Paris."""

    def __init__(self, monkeypatch):
        self.o1, self.o2 = make_organisation("École A"), make_organisation("Société B")
        self.cat_a, self.cat_b = Category(name="Matériel"), Category(name="Réseau")
        self.l1 = Location(name="Salle 101")
        self.x = Asset(name="2024-09-02", kind="PC fixe")
        db.session.add_all([self.cat_a, self.cat_b, self.l1, self.x])
        self.r1 = make_user(display_name="Claire Martin")
        self.r2 = make_user(display_name="Paul Bernard")
        self.f1 = make_referent(display_name="Romain")
        self.f2 = make_referent(display_name="Rachel")
        db.session.flush()
        a, b, x, l1 = self.cat_a.id, self.cat_b.id, self.x.id, self.l1.id
        o1, o2 = self.o1.id, self.o2.id
        mp = monkeypatch

        # T1: January, taken after 1 h 30, closed after 48 h.
        self.t1 = walk(mp, opened_at(self.r1, utc(2026, 1, 10, 9), "T1", category_id=a, location_id=l1,
                                     asset_id=x, organisation_id=o1), self.f1,
                       (S.TAKEN, utc(2026, 1, 10, 10, 30)), (S.IN_PROGRESS, utc(2026, 1, 11, 8)),
                       (S.CLOSED, utc(2026, 1, 12, 9)))
        # T2: 23:30 UTC on 31 January is 00:30 on 1 February in Paris: a February ticket.
        self.t2 = walk(mp, opened_at(self.r1, utc(2026, 1, 31, 23, 30), "T2", category_id=a, asset_id=x,
                                     organisation_id=o1), self.f1,
                       (S.TAKEN, utc(2026, 2, 1, 0, 30)), (S.CLOSED, utc(2026, 2, 2, 23, 30)))
        # T3: no action, never taken.
        self.t3 = walk(mp, opened_at(self.r2, utc(2026, 2, 10, 8), "T3", category_id=b, organisation_id=o2),
                       self.f1, (S.NO_ACTION, utc(2026, 2, 10, 12)))
        # T4: closed, reopened (back in progress: it has an assignee), closed again on 1 March.
        self.t4 = walk(mp, opened_at(self.r2, utc(2026, 2, 15, 8), "T4", category_id=a, asset_id=x,
                                     organisation_id=o1), self.f1,
                       (S.TAKEN, utc(2026, 2, 15, 9)), (S.IN_PROGRESS, utc(2026, 2, 15, 10)),
                       (S.CLOSED, utc(2026, 2, 16, 8)), (S.IN_PROGRESS, utc(2026, 2, 20, 8)),
                       (S.CLOSED, utc(2026, 3, 1, 8)))
        # T5: 22:30 UTC on 31 March is 00:30 on 1 April in Paris (summer time): an April ticket, still open.
        self.t5 = walk(mp, opened_at(self.r1, utc(2026, 3, 31, 22, 30), "T5", category_id=b, location_id=l1,
                                     organisation_id=o2), self.f2,
                       (S.TAKEN, utc(2026, 4, 1, 6, 30)))
        # T6: opened before the period, still new: in the backlog all along.
        self.t6 = opened_at(self.r2, utc(2025, 12, 20, 10), "T6", category_id=a, organisation_id=o1)
        # T7: opened and taken before the period, closed in January after 8 days.
        self.t7 = walk(mp, opened_at(self.r2, utc(2025, 12, 28, 10), "T7", category_id=b, organisation_id=o1),
                       self.f2, (S.TAKEN, utc(2025, 12, 28, 11)), (S.CLOSED, utc(2026, 1, 5, 10)))
        db.session.commit()

    def closing(self, ticket: Ticket, nth: int = -1):
        """The nth move of `ticket` to closed (the last by default)."""
        return [c for c in ticket.status_changes if c.to_status == S.CLOSED][nth]
