"""helpdesk: a ticketing service for small IT support teams."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Mapping

# numpy (the stats' array arithmetic, never linear algebra) would start one OpenBLAS thread per
# core at import, ~50 ms of CPU in every process for nothing; set before anything imports it.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from flask import Flask  # noqa: E402

from .settings import PROJECT_ROOT, load_settings  # noqa: E402

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def create_app(overrides: Mapping[str, Any] | None = None, *, migrations: bool = True, web: bool = True) -> Flask:
    """Build the Flask app: settings, extensions, blueprints, CLI. Touches no database or socket.

    :param migrations: bind Flask-Migrate (the CLI leaves it out of the commands that do not
        migrate: importing alembic is a tenth of the mail poller's start-up).
    :param web: the portal, the desk, their sign-in and the CLI's other commands. The mail commands
        leave them out (cli.MAIL_COMMANDS): their modules (the queue, the stats and numpy...) were
        ~0.15 s of the poller's start-up, and mails need only templates/mail/ and the i18n helpers.
    """
    from . import database, i18n
    from .cli import register_cli
    from .extensions import babel, db

    settings = load_settings(overrides)
    app = Flask(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder="static",
    )
    app.config["HELPDESK"] = settings
    app.config.update(
        SECRET_KEY=settings["secret_key"],
        SQLALCHEMY_DATABASE_URI=settings["database_url"],
        SQLALCHEMY_ENGINE_OPTIONS=database.engine_options(settings["database_url"]),
        TESTING=settings["environment"] == "testing",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings["base_url"].startswith("https://"),
        BABEL_DEFAULT_LOCALE=settings["default_language"],
        BABEL_DEFAULT_TIMEZONE=settings["timezone"],
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).resolve().parent / "translations"),
        MAX_CONTENT_LENGTH=settings["max_upload_mb"] * 1024 * 1024,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session (a form left open all day)
    )
    logging.basicConfig(
        level=settings["log_level"].upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )

    db.init_app(app)
    with app.app_context():
        database.keep_prepared_statements(db.engine)
    if migrations:
        init_migrations(app)
    babel.init_app(app, locale_selector=i18n.select_locale, timezone_selector=i18n.select_timezone)
    i18n.init_templates(app)  # after babel.init_app: it replaces Babel's gettext; mails need it too
    if web:
        _init_web(app)
    register_cli(app, mail_only=not web)
    return app


def _init_web(app: Flask) -> None:
    """The site: sign-in, CSRF, security headers, every blueprint and the pages' template helpers."""
    from . import (admin, auth, desk, health, i18n, intervention_views, mailout, menus, portal, rating_views,
                   security, stats_views, ticket_rows)  # i18n: its language switch
    from .extensions import csrf, login_manager

    login_manager.init_app(app)
    csrf.init_app(app)
    app.register_blueprint(health.bp)
    for blueprint in (auth.bp, i18n.bp, portal.bp, desk.bp, admin.bp):
        app.register_blueprint(blueprint)
    security.init_security(app)
    menus.init_templates(app)
    ticket_rows.init_templates(app)
    app.register_blueprint(stats_views.bp)
    app.register_blueprint(rating_views.bp)
    app.register_blueprint(intervention_views.bp)
    app.register_blueprint(mailout.bp)
    auth.init_login(login_manager)


def init_migrations(app: Flask) -> None:
    """Bind Flask-Migrate (the `db` commands, `init-db`, flask_migrate.upgrade) to app, once."""
    if "migrate" in app.extensions:
        return
    from flask_migrate import Migrate

    from .extensions import db

    Migrate(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True)
