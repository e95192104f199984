"""The `helpdesk` command: Flask's CLI with our groups. One module per group."""
from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import FlaskGroup
from sqlalchemy.exc import SQLAlchemyError

from ..settings import SettingsError


def register_cli(app: Flask) -> None:
    """Attach every command group to the app (create_app calls this)."""
    from . import admin, interventions, mail, outbox, stats, tickets, worker

    for module in (admin, tickets, worker, stats, mail, interventions, outbox):
        module.register(app)


def _create_app_for_cli():
    from .. import create_app

    try:
        return create_app()
    except SettingsError as exc:
        raise click.ClickException(f"configuration: {exc}") from None


class HelpdeskGroup(FlaskGroup):
    """FlaskGroup that turns database errors into one line instead of a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SQLAlchemyError as exc:
            detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise click.ClickException(
                f"database error: {detail} (is the database initialised? run `helpdesk init-db`)"
            ) from None


def main() -> None:
    """Entry point of the `helpdesk` console script."""
    cli = HelpdeskGroup(
        create_app=_create_app_for_cli,
        add_version_option=False,
        load_dotenv=False,
        help="helpdesk administration: database, users, tickets, demo data, worker.",
    )
    sys.exit(cli.main(prog_name="helpdesk"))
