"""Engine set-up that depends on the database kind (SQLite pragmas, pool options)."""
from __future__ import annotations

import sqlite3
import weakref

from sqlalchemy import event, func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.pool import PoolProxiedConnection

SQLITE_BUSY_TIMEOUT_MS = 10_000


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    """WAL lets the web and the worker read while one writes; SQLite leaves foreign keys off by default."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def engine_options(database_url: str) -> dict:
    """SQLAlchemy engine options for this URL."""
    if database_url.startswith("sqlite"):
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}}
    return {"pool_pre_ping": True, "pool_size": 5, "max_overflow": 10}


def keep_prepared_statements(engine: Engine) -> None:
    """PostgreSQL with psycopg: end a transaction that ran only SELECTs with COMMIT instead of ROLLBACK.

    psycopg forgets its prepared statements at every rollback (it sends DEALLOCATE ALL), and a request
    that only reads ends with one (the session's close): every page had its queries parsed and planned
    again, about 1.5 ms of the server's CPU for the queue's join alone (docs/benchmarks.md). A
    transaction that wrote nothing ends the same way with COMMIT, which keeps them. A transaction that
    ran anything else (a write, a savepoint) or failed still rolls back.
    """
    dialect = engine.dialect
    if dialect.name != "postgresql" or dialect.driver != "psycopg":
        return
    import psycopg
    from psycopg.pq import TransactionStatus

    rollback, commit = dialect.do_rollback, dialect.do_commit
    wrote = weakref.WeakSet()  # the DBAPI connections whose transaction ran something else than a SELECT

    @event.listens_for(engine, "before_cursor_execute")
    def _note_write(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip()[:6].upper() != "SELECT":
            wrote.add(conn.connection.dbapi_connection)

    def do_rollback(connection) -> None:
        raw = connection.dbapi_connection if isinstance(connection, PoolProxiedConnection) else connection
        if raw in wrote:
            wrote.discard(raw)
            rollback(connection)
        elif raw.info.transaction_status == TransactionStatus.INTRANS:
            try:
                commit(connection)  # the transaction only read: same outcome, and psycopg keeps its statements
            except psycopg.Error:
                rollback(connection)  # the server has ended it either way; leave psycopg's state clean
        else:
            rollback(connection)  # failed transaction (or none): a real rollback

    def do_commit(connection) -> None:
        wrote.discard(connection.dbapi_connection if isinstance(connection, PoolProxiedConnection) else connection)
        commit(connection)

    dialect.do_rollback, dialect.do_commit = do_rollback, do_commit


def is_postgresql(database_url: str) -> bool:
    return database_url.startswith("postgresql")


def begin_write(session) -> None:
    """Open the session's transaction for writing now (SQLite: BEGIN IMMEDIATE; others: nothing).

    pysqlite only sends BEGIN before the first INSERT/UPDATE/DELETE, so a SAVEPOINT issued before
    any of them is the outermost one and its RELEASE commits: work meant to be atomic is not.
    Taking the write lock up front also makes two writers queue on the busy timeout instead of
    failing on a stale snapshot. Call it first in a transaction that uses savepoints.
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    raw = connection.connection.dbapi_connection
    if not raw.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def insert_returning(session, model, rows: list[dict]) -> list:
    """ORM bulk INSERT of rows (attribute values), returning the new objects, persistent in the
    session, in the rows' order; a statement per thousand rows or so on both engines.

    SQLAlchemy can only hand back RETURNING rows in parameter order on SQLite one INSERT per row (a
    multi-row VALUES gives no way to tell which ROWID went to which row): a hundred statements for
    a batch of mail. So on SQLite the ids are given here, after the table's last one, under the write
    lock (begin_write: nobody else can insert meanwhile), and the objects are put back in order by id.
    No mapper events run (a bulk INSERT's nature): the caller sets what they would.
    """
    if not rows:
        return []
    if session.get_bind().dialect.name != "sqlite":
        return session.scalars(insert(model).returning(model, sort_by_parameter_order=True), rows).all()
    first = _first_free_id(session, model)
    created = {obj.id: obj for obj in session.scalars(
        insert(model).returning(model), [{**row, "id": first + index} for index, row in enumerate(rows)])}
    return [created[first + index] for index in range(len(rows))]


def number_pending(session, model) -> None:
    """SQLite: give the session's pending new objects of model their ids now, so that the flush
    writes them with one executemany instead of one INSERT ... RETURNING each (SQLAlchemy's unit of
    work needs the new ids in order, which SQLite can only give row by row). Under the write lock,
    after the table's last id, and all of the model's pending objects at once: none is left for the
    database to number, so none can take an id given here. Elsewhere nothing: the flush batches."""
    if session.get_bind().dialect.name != "sqlite":
        return
    pending = [obj for obj in session.new if isinstance(obj, model) and obj.id is None]
    if not pending:
        return
    with session.no_autoflush:  # the pending rows must not go in first, with ids of the database's
        first = _first_free_id(session, model)
    taken = {obj.id for obj in session.new if isinstance(obj, model) and obj.id is not None}
    next_id = max([first, *(i + 1 for i in taken)])
    for obj in pending:
        obj.id = next_id
        next_id += 1


def _first_free_id(session, model) -> int:
    """SQLite: the id after the table's last one, with the write lock taken (begin_write), so that
    nobody else inserts into it before this transaction ends."""
    begin_write(session)
    return (session.execute(select(func.max(model.id))).scalar() or 0) + 1


COLUMN_CHUNK_ROWS = 2_000  # rows turned into columns at a time by plain_columns()


def plain_columns(connection, statement, width: int) -> list[list]:
    """Run a Core SELECT of `width` columns and return its values column by column (plain values, as plain_rows).

    The driver's row tuples are read in chunks and dropped at once: 50,000 of them alive together
    made the garbage collector walk them again and again (a full collection of the whole process
    during one stats report, about a third of its CPU time, docs/benchmarks.md).
    """
    columns = [[] for _ in range(width)]
    result = connection.execute(statement)
    try:
        cursor = result.cursor
        while chunk := cursor.fetchmany(COLUMN_CHUNK_ROWS):
            for column, values in zip(columns, zip(*chunk)):
                column.extend(values)
    finally:
        result.close()
    return columns


def plain_rows(connection, statement) -> list[tuple]:
    """Run a Core SELECT and return the driver's own tuples, skipping SQLAlchemy's Row objects.

    Only for columns that need no conversion on the way out (integers, text): result processors
    are skipped. Building 50,000 Row objects cost about as much as the stats query itself.
    """
    result = connection.execute(statement)
    try:
        return result.cursor.fetchall()
    finally:
        result.close()


# Statements this long are still cached by psycopg once cache_long_statements() ran.
LONG_STATEMENT_BYTES = 128 * 1024
LONG_STATEMENT_PARAMS = 10_000


def cache_long_statements() -> bool:
    """Let psycopg cache the conversion of long statements too; False when its knobs are gone.

    psycopg turns each query's %(name)s placeholders into $n with a regex and remembers the result
    (an LRU of 128) only for queries under 4 KB and 50 parameters, because ORMs' multi-row INSERTs
    vary in length (psycopg discussion 628). The mail poller's do not: a batch inserts its tickets,
    messages, history and mails in statements of the same few shapes, ~2,000 parameters each, and
    converting them again at every batch was ~8% of a PostgreSQL import (docs/benchmarks.md).
    Those few shapes are what the LRU then holds, some hundred kilobytes each.
    """
    try:
        from psycopg import _queries
    except ImportError:
        return False
    if not hasattr(_queries, "MAX_CACHED_STATEMENT_LENGTH") or not hasattr(_queries, "MAX_CACHED_STATEMENT_PARAMS"):
        return False
    _queries.MAX_CACHED_STATEMENT_LENGTH = max(_queries.MAX_CACHED_STATEMENT_LENGTH, LONG_STATEMENT_BYTES)
    _queries.MAX_CACHED_STATEMENT_PARAMS = max(_queries.MAX_CACHED_STATEMENT_PARAMS, LONG_STATEMENT_PARAMS)
    return True
