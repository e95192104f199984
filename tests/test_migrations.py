"""Migrations build, from an empty database, exactly the schema the models describe."""
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade

from helpdesk import create_app
from helpdesk.extensions import db
from tests.conftest import PG_SERVER_URL, create_pg_database, drop_pg_database

ENGINES = ["sqlite"] + (["postgresql"] if PG_SERVER_URL else [])


@pytest.fixture(params=ENGINES)
def empty_database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
        return
    url = create_pg_database("hd_migrations")
    yield url
    drop_pg_database(url)


def test_upgrade_from_empty_matches_models(empty_database_url, tmp_path):
    app = create_app({"database_url": empty_database_url, "var_dir": str(tmp_path)})
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, db.metadata)
        db.engine.dispose()
    assert diff == []


def test_reopen_gaps_are_backfilled_from_the_history(empty_database_url, tmp_path):
    """0007 fills status_changes.ended_at of every reopening with the time of the move just before it."""
    from datetime import datetime, timezone

    from sqlalchemy import insert, select

    from helpdesk.models import Role, Status, StatusChange, Ticket, User

    def at(day, hour=9):
        return datetime(2026, 2, day, hour, tzinfo=timezone.utc)

    app = create_app({"database_url": empty_database_url, "var_dir": str(tmp_path)})
    with app.app_context():
        upgrade(revision="0003_outbox")
        S = Status
        # Two reopenings (from closed, then from no action) and ordinary moves around them.
        moves = [(None, S.NEW, at(1)), (S.NEW, S.TAKEN, at(1, 10)), (S.TAKEN, S.CLOSED, at(2)),
                 (S.CLOSED, S.IN_PROGRESS, at(5)), (S.IN_PROGRESS, S.NO_ACTION, at(6)), (S.NO_ACTION, S.NEW, at(9)),
                 (S.NEW, S.TAKEN, at(10))]
        with db.engine.begin() as conn:
            conn.execute(insert(User.__table__), {"id": 1, "email": "r@example.org", "display_name": "R",
                                                  "role": Role.REQUESTER, "created_at": at(1)})
            conn.execute(insert(Ticket.__table__), {"id": 1, "subject": "Panne", "requester_id": 1,
                                                    "status": S.TAKEN, "reopen_count": 2, "created_at": at(1),
                                                    "updated_at": at(10), "taken_at": at(1, 10)})
            conn.execute(insert(StatusChange.__table__), [
                {"ticket_id": 1, "from_status": a, "to_status": b, "created_at": when} for a, b, when in moves])
        upgrade()
        with db.engine.connect() as conn:
            ended = [row.ended_at for row in conn.execute(
                select(StatusChange.__table__.c.ended_at).order_by(StatusChange.__table__.c.id))]
        db.engine.dispose()
    assert ended == [None, None, None, at(2), None, at(6), None]


def test_epoch_columns_are_backfilled_from_the_timestamps(empty_database_url, tmp_path):
    """0009 fills tickets.created_epoch, taken_epoch and closed_epoch as epoch_seconds_of() gives them."""
    from datetime import datetime, timezone

    from sqlalchemy import insert, select

    from helpdesk.models import Role, Status, Ticket, User
    from helpdesk.models.base import epoch_seconds_of

    created = datetime(2026, 2, 28, 23, 59, 59, 999999, tzinfo=timezone.utc)  # floored, not rounded up
    closed = datetime(2026, 3, 2, 8, 30, 15, 250000, tzinfo=timezone.utc)
    app = create_app({"database_url": empty_database_url, "var_dir": str(tmp_path)})
    with app.app_context():
        upgrade(revision="0008_stats_created_closed")
        columns = ("id", "subject", "requester_id", "status", "reopen_count", "created_at", "updated_at",
                   "taken_at", "closed_at")
        with db.engine.begin() as conn:
            conn.execute(insert(User.__table__), {"id": 1, "email": "r@example.org", "display_name": "R",
                                                  "role": Role.REQUESTER, "created_at": created})
            conn.execute(insert(Ticket.__table__), [
                dict(zip(columns, (1, "Panne", 1, Status.CLOSED, 0, created, closed, created, closed))),
                dict(zip(columns, (2, "Panne", 1, Status.NEW, 0, closed, closed, None, None)))])
        upgrade()
        with db.engine.connect() as conn:
            t = Ticket.__table__.c
            rows = conn.execute(select(t.created_epoch, t.taken_epoch, t.closed_epoch).order_by(t.id)).all()
        db.engine.dispose()
    assert [tuple(r) for r in rows] == [
        (epoch_seconds_of(created), epoch_seconds_of(created), epoch_seconds_of(closed)),
        (epoch_seconds_of(closed), None, None)]
    assert rows[0][0] == 1772323199


def test_rating_category_is_backfilled_from_the_ticket(empty_database_url, tmp_path):
    """0010 copies each rated ticket's category onto its ratings (none when the ticket has none)."""
    from datetime import datetime, timezone

    from sqlalchemy import insert, select

    from helpdesk.models import Category, Rating, Role, Status, StatusChange, Ticket, User

    when = datetime(2026, 3, 2, 8, 30, tzinfo=timezone.utc)
    app = create_app({"database_url": empty_database_url, "var_dir": str(tmp_path)})
    with app.app_context():
        upgrade(revision="0009_stats_epoch_columns")
        with db.engine.begin() as conn:
            conn.execute(insert(User.__table__), {"id": 1, "email": "r@example.org", "display_name": "R",
                                                  "role": Role.REQUESTER, "created_at": when})
            conn.execute(insert(Category.__table__), [{"id": 7, "name": "Réseau"}])
            conn.execute(insert(Ticket.__table__), [
                {"id": i, "subject": "Panne", "requester_id": 1, "status": Status.CLOSED, "reopen_count": 0,
                 "created_at": when, "updated_at": when, "category_id": category}
                for i, category in ((1, 7), (2, None))])
            conn.execute(insert(StatusChange.__table__), [
                {"id": i, "ticket_id": i, "from_status": Status.NEW, "to_status": Status.CLOSED, "created_at": when}
                for i in (1, 2)])
            conn.execute(insert(Rating.__table__), [
                {"id": i, "ticket_id": i, "status_change_id": i, "score": 4, "comment": "", "closed_at": when,
                 "created_at": when} for i in (1, 2)])
        upgrade()
        with db.engine.connect() as conn:
            r = Rating.__table__.c
            rows = conn.execute(select(r.id, r.category_id).order_by(r.id)).all()
        db.engine.dispose()
    assert [tuple(row) for row in rows] == [(1, 7), (2, None)]
