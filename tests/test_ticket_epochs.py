"""Ticket.created_epoch, taken_epoch and closed_epoch follow created_at, taken_at and closed_at (the stats scan reads them)."""
from datetime import datetime, timezone

from sqlalchemy import select

from helpdesk.extensions import db
from helpdesk.models import Status, Ticket
from helpdesk.models.base import epoch_seconds_of
from tests.factories import make_referent, make_user
from tests.stats_dataset import opened_at, utc, walk

S = Status


def stored(ticket: Ticket) -> tuple:
    """The three epoch columns as the database holds them."""
    db.session.expire_all()
    return db.session.execute(
        select(Ticket.created_epoch, Ticket.taken_epoch, Ticket.closed_epoch).where(Ticket.id == ticket.id)
    ).one()._tuple()


def test_epoch_seconds_are_floored_exactly():
    assert epoch_seconds_of(None) is None
    assert epoch_seconds_of(utc(1970, 1, 1)) == 0
    assert epoch_seconds_of(utc(2026, 3, 1, 0, 0, 0)) == 1772323200
    # One microsecond before midnight stays in the day before (a float timestamp could round it up).
    assert epoch_seconds_of(datetime(2026, 2, 28, 23, 59, 59, 999999, tzinfo=timezone.utc)) == 1772323199


def test_epoch_columns_follow_every_write_of_the_timestamps(app, monkeypatch):
    requester, referent = make_user(), make_referent()
    ticket = opened_at(requester, utc(2026, 2, 15, 8, 0, 0))
    db.session.commit()
    assert stored(ticket) == (epoch_seconds_of(utc(2026, 2, 15, 8)), None, None)

    walk(monkeypatch, ticket, referent, (S.TAKEN, utc(2026, 2, 15, 9)), (S.CLOSED, utc(2026, 2, 16, 8)))
    db.session.commit()
    assert stored(ticket) == tuple(epoch_seconds_of(utc(2026, 2, d, h)) for d, h in ((15, 8), (15, 9), (16, 8)))

    walk(monkeypatch, ticket, referent, (S.IN_PROGRESS, utc(2026, 2, 20, 8)))  # reopened: no closing any more
    db.session.commit()
    assert stored(ticket)[2] is None

    walk(monkeypatch, ticket, referent, (S.CLOSED, utc(2026, 3, 1, 8, 30, 15, 999999)))
    ticket.created_at = utc(2026, 2, 14, 8)  # backdated, as an import would
    db.session.commit()
    assert stored(ticket) == (epoch_seconds_of(utc(2026, 2, 14, 8)), epoch_seconds_of(utc(2026, 2, 15, 9)),
                              epoch_seconds_of(utc(2026, 3, 1, 8, 30, 15)))


def test_a_ticket_created_with_the_default_clock_gets_its_epoch(app):
    ticket = Ticket(subject="Panne", requester=make_user())
    db.session.add(ticket)
    db.session.commit()
    assert stored(ticket) == (epoch_seconds_of(ticket.created_at), None, None)
