"""`helpdesk worker`: the process that owns the scheduler.

The CLI is a composition root, like the Procfile: it is the one place in helpdesk/ allowed to
reach into workers/, and only inside the command, so importing helpdesk never loads it.
"""
from __future__ import annotations

import click
from flask import Flask, current_app


def register(app: Flask) -> None:
    app.cli.add_command(worker)


@click.command()
def worker():
    """Run the background jobs (mail polling, outbox delivery, monthly statements) until stopped."""
    from workers.scheduler import run_worker

    run_worker(current_app._get_current_object())
