"""Engine set-up that depends on the database kind (SQLite pragmas, pool options)."""
from __future__ import annotations

import sqlite3

from sqlalchemy import event
from sqlalchemy.engine import Engine

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
