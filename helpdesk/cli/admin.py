"""`helpdesk init-db`, `helpdesk user add`, `helpdesk demo`."""
from __future__ import annotations

import click
from flask import Flask, current_app

from .. import demo as demo_data
from ..extensions import db
from ..models import Role
from ..tickets import InvalidAddress
from ..users import PASSWORD_MIN_LENGTH, UserExists, create_user
from .output import bad_argument, echo_json


def register(app: Flask) -> None:
    app.cli.add_command(init_db)
    app.cli.add_command(user)
    app.cli.add_command(demo)


@click.command("init-db")
def init_db():
    """Create the database or migrate it to the latest schema."""
    from flask_migrate import upgrade

    from .. import init_migrations

    init_migrations(current_app)
    upgrade()
    click.echo("database is up to date")


@click.group()
def user():
    """Manage users."""


@user.command("add")
@click.argument("email")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--name", default="", help="Display name.")
@click.option("--language", type=click.Choice(["fr", "en"]), default="fr", show_default=True)
@click.option("--password", is_flag=True, help="Ask for a password (requesters may have none).")
@click.option("--json", "as_json", is_flag=True, help="Print the created user as JSON.")
def user_add(email, role, name, language, password, as_json):
    """Add a user with EMAIL and --role."""
    secret = None
    if password:
        secret = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        if len(secret) < PASSWORD_MIN_LENGTH:
            bad_argument(f"password too short (at least {PASSWORD_MIN_LENGTH} characters)")
    try:
        created = create_user(email, Role(role), display_name=name, password=secret, language=language)
    except (UserExists, InvalidAddress) as exc:
        bad_argument(str(exc))
    db.session.commit()
    if as_json:
        echo_json({"id": created.id, "email": created.email, "role": created.role.value})
    else:
        click.echo(f"user {created.id} {created.email} ({created.role.value}) added")


@click.command()
def demo():
    """Load demo data (idempotent): organisations, people, tickets in every status."""
    summary = demo_data.load_demo()
    db.session.commit()
    click.echo(summary.describe())
