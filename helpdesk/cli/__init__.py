"""The `helpdesk` command: Flask's CLI with our groups. One module per group."""
from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import FlaskGroup, ScriptInfo
from sqlalchemy.exc import SQLAlchemyError

from ..settings import SettingsError


def register_cli(app: Flask, mail_only: bool = False) -> None:
    """Attach every command group to the app (create_app calls this); with mail_only, the mail
    commands alone (an app without its web part: the other groups import the stats, numpy...)."""
    from . import mail

    if mail_only:
        mail.register(app)
        return
    from . import admin, interventions, outbox, stats, tickets, worker

    for module in (admin, tickets, worker, stats, mail, interventions, outbox):
        module.register(app)


# Flask-Migrate's command group, the one flask.commands plugin the CLI has.
MIGRATION_GROUP = "db"
# The commands of cli.mail, which only read and write mail: their app has no web part and no other
# commands (create_app(web=False)).
MAIL_COMMANDS = frozenset({"poll", "ingest", "mail"})


def _create_app_for_cli():
    from .. import create_app

    info = click.get_current_context().find_object(ScriptInfo)
    try:
        command = info.data.get("command") if info is not None else None
        return create_app(migrations=command == MIGRATION_GROUP, web=command not in MAIL_COMMANDS)
    except SettingsError as exc:
        raise click.ClickException(f"configuration: {exc}") from None


class HelpdeskGroup(FlaskGroup):
    """FlaskGroup that turns database errors into one line instead of a traceback."""

    def get_command(self, ctx, name):
        # Remembered for _create_app_for_cli: only the `db` group needs Flask-Migrate bound.
        ctx.ensure_object(ScriptInfo).data["command"] = name
        if name != MIGRATION_GROUP:
            # Loading the plugin commands imports Flask-Migrate, then alembic: ~0.1 s of CPU that
            # every other command (the mail poller's `poll --once` first) would pay for nothing.
            self._loaded_plugin_commands = True
        return super().get_command(ctx, name)

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
