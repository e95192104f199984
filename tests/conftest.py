"""Fixtures: a fresh app and database per test, on SQLite and, when configured, PostgreSQL.

Set HELPDESK_TEST_DATABASE_URL to a PostgreSQL server URL (any database on it; we create our
own) and every test that uses `app` runs on both engines. scripts/test.sh always sets it.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from flask import g
from sqlalchemy import create_engine, make_url, text

ROOT = Path(__file__).resolve().parent.parent
os.environ["HELPDESK_CONFIG"] = str(ROOT / "config" / "testing.toml")

from helpdesk import create_app  # noqa: E402  (settings must see HELPDESK_CONFIG first)
from helpdesk.extensions import db  # noqa: E402

PG_SERVER_URL = os.environ.get("HELPDESK_TEST_DATABASE_URL", "")
DB_BACKENDS = ["sqlite"] + (["postgresql"] if PG_SERVER_URL else [])


def pg_url_for(database: str) -> str:
    """The test server's URL pointing at another database."""
    url = make_url(PG_SERVER_URL).set(drivername="postgresql+psycopg", database=database)
    return url.render_as_string(hide_password=False)


def create_pg_database(prefix: str = "hd_test") -> str:
    """Create a uniquely named database on the test server and return its URL."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg_url_for("postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return pg_url_for(name)


def drop_pg_database(url: str) -> None:
    name = make_url(url).database
    admin = create_engine(pg_url_for("postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def pg_session_database():
    """One PostgreSQL database for the session, schema created once; tests truncate it."""
    url = create_pg_database()
    app = create_app({"database_url": url})
    with app.app_context():
        db.create_all()
        db.engine.dispose()
    yield url
    drop_pg_database(url)


@pytest.fixture(params=DB_BACKENDS)
def database_url(request, tmp_path):
    """A database with the current schema and no rows, on each configured engine."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'helpdesk.sqlite3'}"
        return
    url = request.getfixturevalue("pg_session_database")
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    yield url


@pytest.fixture
def settings_overrides(database_url, tmp_path):
    """Settings every test app gets; a test may extend the dict before asking for `app`."""
    return {"database_url": database_url, "var_dir": str(tmp_path / "var")}


@pytest.fixture
def app(settings_overrides):
    application = create_app(settings_overrides)

    @application.before_request
    def fresh_g_per_request():
        # The fixture keeps one app context pushed for the whole test, so `g` (where Flask-Login
        # caches the user and Flask-Babel the locale) would leak between requests; in production
        # every request gets a new app context.
        for name in list(vars(g)):
            delattr(g, name)

    with application.app_context():
        if settings_overrides["database_url"].startswith("sqlite"):
            db.create_all()
        yield application
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def cli_runner(app):
    return app.test_cli_runner()


@pytest.fixture(autouse=True)
def no_network_in_unit_tests(request, monkeypatch):
    """Unit tests must not open SMTP or IMAP connections; integration tests talk to real servers."""
    if request.node.get_closest_marker("integration"):
        return
    import imaplib
    import smtplib

    def refuse(*args, **kwargs):
        raise AssertionError("unit test tried to open a mail connection; mark it integration")

    monkeypatch.setattr(smtplib.SMTP, "connect", refuse)
    monkeypatch.setattr(imaplib.IMAP4, "open", refuse)
