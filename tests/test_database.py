"""Engine set-up: PostgreSQL read-only transactions end with COMMIT (psycopg keeps its prepared
statements); anything that wrote, or failed, still rolls back (checked on both engines)."""
from __future__ import annotations

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.exc import DBAPIError

from helpdesk.extensions import db
from helpdesk.models import Category

from tests.factories import make_referent, make_ticket, sign_in

QUERY_RUNS = 8  # more than psycopg's prepare_threshold (5)


@pytest.fixture
def pg(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only (psycopg's prepared statements)")
    return app


def _prepared_statements() -> list[str]:
    return list(db.session.execute(text("SELECT statement FROM pg_prepared_statements")).scalars())


def _category_names() -> list[str]:
    return list(db.session.execute(select(Category.name).order_by(Category.name)).scalars())


def test_prepared_statements_survive_read_only_requests(pg):
    # Each loop is one request's transaction: the session's close used to roll back, and psycopg
    # then forgot every prepared statement.
    for _ in range(QUERY_RUNS):
        _category_names()
        db.session.remove()
    assert any("FROM categories" in statement for statement in _prepared_statements())


def test_prepared_statements_survive_the_queue_page(pg, client):
    referent = make_referent()
    make_ticket(subject="Imprimante")
    db.session.commit()
    sign_in(client, referent)
    for _ in range(QUERY_RUNS):
        assert client.get("/desk/").status_code == 200
    db.session.remove()
    assert any("FROM tickets JOIN users" in statement for statement in _prepared_statements())


def test_uncommitted_write_is_rolled_back_at_close(app):
    db.session.add(Category(name="Jamais"))
    db.session.flush()
    db.session.remove()
    assert _category_names() == []


def test_explicit_rollback_after_a_write_undoes_it(app):
    _category_names()  # the transaction starts with a read
    db.session.add(Category(name="Annulée"))
    db.session.flush()
    db.session.rollback()
    assert _category_names() == []


def test_core_write_through_text_is_rolled_back(app):
    db.session.execute(text("INSERT INTO categories (name, active) VALUES ('Texte', true)"))
    db.session.rollback()
    assert _category_names() == []


def test_savepoint_rollback_keeps_the_outer_write(app):
    db.session.add(Category(name="Gardée"))
    db.session.flush()
    with db.session.begin_nested() as nested:
        db.session.add(Category(name="Annulée"))
        db.session.flush()
        nested.rollback()
    db.session.commit()
    assert _category_names() == ["Gardée"]


def test_failed_read_rolls_back_and_the_session_works_again(app):
    with pytest.raises(DBAPIError):
        db.session.execute(text("SELECT * FROM no_such_table"))
    db.session.rollback()
    assert _category_names() == []


def test_commit_after_reads_and_a_write_persists(app):
    _category_names()
    db.session.add(Category(name="Écrite"))
    db.session.commit()
    db.session.remove()
    assert _category_names() == ["Écrite"]


def test_a_batch_insert_is_converted_once_when_long_statements_are_cached(pg):
    """workers.mail_poller asks psycopg to cache long statements: the second batch of the same
    shape (a multi-row INSERT of 100 rows) reuses the first one's conversion."""
    from psycopg import _queries

    from helpdesk import database

    def insert_batch(prefix):
        db.session.add_all([Category(name=f"{prefix}{n}") for n in range(100)])
        db.session.flush()

    saved = (_queries.MAX_CACHED_STATEMENT_LENGTH, _queries.MAX_CACHED_STATEMENT_PARAMS)
    try:
        # psycopg's own limits (a poller test of this process may have raised them already)
        _queries.MAX_CACHED_STATEMENT_LENGTH, _queries.MAX_CACHED_STATEMENT_PARAMS = 4096, 50
        insert_batch("a")  # the shape seen once, cached or not
        hits = _queries._query2pg.cache_info().hits
        insert_batch("b")
        assert _queries._query2pg.cache_info().hits == hits  # converted again
        assert database.cache_long_statements()
        insert_batch("c")
        misses, hits = _queries._query2pg.cache_info().misses, _queries._query2pg.cache_info().hits
        insert_batch("d")
        assert _queries._query2pg.cache_info().hits > hits
        assert _queries._query2pg.cache_info().misses == misses
    finally:
        _queries.MAX_CACHED_STATEMENT_LENGTH, _queries.MAX_CACHED_STATEMENT_PARAMS = saved
    assert len(_category_names()) == 400


def test_insert_returning_gives_the_new_objects_in_the_rows_order(app):
    from helpdesk import database

    db.session.add_all([Category(name="Avant 1"), Category(name="Avant 2")])
    db.session.flush()
    names = [f"Catégorie {n:03d}" for n in range(250, 0, -1)]  # not in id or name order
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        created = database.insert_returning(db.session, Category, [{"name": name} for name in names])
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert [c.name for c in created] == names
    assert all(c in db.session for c in created)  # persistent: the session's own objects
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT")]
    assert len(inserts) == 1  # one multi-row INSERT, not one per row (SQLite's ordered RETURNING)
    db.session.commit()
    stored = dict(db.session.execute(select(Category.id, Category.name)).all())
    assert {c.id: c.name for c in created}.items() <= stored.items()
    assert len(stored) == 252 and len(set(c.id for c in created)) == 250


def test_insert_returning_after_deleted_rows_and_with_nothing(app):
    from helpdesk import database

    last = Category(name="Supprimée")
    db.session.add_all([Category(name="Gardée"), last])
    db.session.flush()
    db.session.delete(last)
    db.session.flush()
    assert database.insert_returning(db.session, Category, []) == []
    [again] = database.insert_returning(db.session, Category, [{"name": "Nouvelle"}])
    db.session.commit()
    assert _category_names() == ["Gardée", "Nouvelle"] and again.id is not None


def test_number_pending_lets_the_flush_write_new_rows_in_one_statement(app):
    from helpdesk import database

    db.session.add(Category(name="Déjà là"))
    db.session.flush()
    given = Category(name="Numérotée avant", id=None)
    db.session.add(given)
    database.number_pending(db.session, Category)
    later = [Category(name=f"Lot {n}") for n in range(40)]
    db.session.add_all(later)
    database.number_pending(db.session, Category)  # again, with numbered rows still pending
    statements = []
    listener = lambda *args: statements.append((args[2], args[5]))  # noqa: E731  (statement, executemany)
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        db.session.commit()
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    inserts = [(s, many) for s, many in statements if s.lstrip().upper().startswith("INSERT")]
    assert len(inserts) == 1  # on SQLite an executemany of the numbered rows; PostgreSQL batches anyway
    ids = [c.id for c in [given, *later]]
    assert len(set(ids)) == 41 and ids == sorted(ids)
    assert _category_names() == sorted(["Déjà là", "Numérotée avant", *(f"Lot {n}" for n in range(40))])
