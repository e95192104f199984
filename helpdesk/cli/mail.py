"""`helpdesk ingest`, `helpdesk poll` and `helpdesk mail ...`: mail in from the command line."""
from __future__ import annotations

import json
import mailbox as mbox_lib
import sys
from pathlib import Path
from typing import Iterator

import click
from flask import Flask, current_app

from .. import ingestion
from ..extensions import db
from ..models import InboundMail, InboundOutcome
from .output import bad_argument, echo_json, refuse


def register(app: Flask) -> None:
    app.cli.add_command(ingest)
    app.cli.add_command(poll)
    app.cli.add_command(mail)


def _is_mbox(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(5) == b"From "


def _inputs(paths: tuple[str, ...]) -> Iterator[tuple[str, bytes | Exception]]:
    """(source, raw bytes or the error reading it) for every .eml file, folder entry and mbox message."""
    for name in paths:
        path = Path(name)
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*.eml") if p.is_file()):
                yield from _inputs((str(child),))
            continue
        try:
            if _is_mbox(path):
                box = mbox_lib.mbox(str(path), create=False)
                try:
                    for n, key in enumerate(box.keys(), start=1):
                        yield f"{path}#{n}", box.get_bytes(key)
                finally:
                    box.close()
                continue
            yield str(path), path.read_bytes()
        except OSError as exc:
            yield str(path), exc


def _count(paths: tuple[str, ...]) -> int:
    total = 0
    for name in paths:
        path = Path(name)
        if path.is_dir():
            total += sum(1 for p in path.rglob("*.eml") if p.is_file())
        else:
            total += 1
    return total


@click.command()
@click.option("--report", "report_file", type=click.Path(dir_okay=False, writable=True),
              help="Write a JSON list: one {source, outcome, reason, ticket_id} per input.")
@click.argument("paths", nargs=-1, required=True)
def ingest(report_file, paths):
    """Import .eml files, folders of them and mbox files through the mail-in pipeline."""
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        bad_argument(f"no such file or folder: {missing[0]}")
    config = ingestion.IngestConfig.from_settings(current_app.config["HELPDESK"])
    if sys.stdout.isatty():
        with click.progressbar(_inputs(paths), length=_count(paths), label="Import") as bar:
            report = [_ingest_one(source, raw, config) for source, raw in bar]
    else:
        report = [_ingest_one(source, raw, config) for source, raw in _inputs(paths)]
    if report_file:
        Path(report_file).write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    click.echo(ingestion.summarise(r["outcome"] for r in report))
    if any(r["outcome"] == "error" for r in report):
        sys.exit(1)


def _ingest_one(source: str, raw: bytes | Exception, config: ingestion.IngestConfig) -> dict:
    if isinstance(raw, Exception):
        return {"source": source, "outcome": "error", "reason": f"cannot read: {raw}", "ticket_id": None}
    try:
        result = ingestion.ingest(raw, config, mailbox="ingest")
        db.session.commit()
    except Exception as exc:  # a database failure: nothing of this mail was kept; say so and go on
        db.session.rollback()
        return {"source": source, "outcome": "error", "reason": f"{type(exc).__name__}: {exc}"[:500],
                "ticket_id": None}
    return {"source": source, "outcome": result.outcome.value, "reason": result.reason,
            "ticket_id": result.ticket_id}


@click.command()
@click.option("--once", is_flag=True, required=True, help="Run one pass and exit (the worker polls continuously).")
@click.option("--mailbox", "mailbox_name", help="Only this mailbox (a name from the mailboxes setting).")
def poll(once, mailbox_name):
    """Import new mail once: every configured IMAP mailbox, or the drop folder when there is none."""
    from workers.mail_poller import poll_once_for_cli  # the CLI is a composition root

    settings = current_app.config["HELPDESK"]
    names = [m.get("name") for m in settings["mailboxes"]]
    if mailbox_name and mailbox_name not in names:
        bad_argument(f"unknown mailbox {mailbox_name!r} (configured: {', '.join(map(str, names)) or 'none'})")
    outcomes, errors = poll_once_for_cli(current_app._get_current_object(), mailbox_name)
    click.echo(ingestion.summarise(outcomes))
    for error in errors:
        click.echo(f"Error: {error}", err=True)
    if errors:
        sys.exit(1)


@click.group()
def mail():
    """The inbound mail ledger: quarantine and replay."""


@mail.command("quarantine")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def quarantine(as_json):
    """List quarantined mail with its reason."""
    rows = db.session.execute(
        db.select(InboundMail).where(InboundMail.outcome == InboundOutcome.QUARANTINED).order_by(InboundMail.id)
    ).scalars().all()
    items = [{
        "id": r.id, "received_at": r.received_at, "mailbox": r.mailbox, "uid": r.uid,
        "from": r.from_address, "subject": r.subject, "message_id": r.message_id,
        "reason": r.reason, "attempts": r.attempts, "size": len(r.raw),
    } for r in rows]
    if as_json:
        echo_json(items)
        return
    if not items:
        click.echo("No quarantined mail.")
        return
    for item in items:
        click.echo(f"#{item['id']}  {item['received_at']:%Y-%m-%d %H:%M}  {item['mailbox']}  "
                   f"{item['from'] or '-'}  {item['subject'] or '-'}\n    {item['reason']}")


@mail.command("replay")
@click.argument("inbound_id", required=False, type=int)
@click.option("--all", "replay_all", is_flag=True, help="Replay every quarantined mail.")
def replay(inbound_id, replay_all):
    """Run quarantined mail through the pipeline again (after a fix or a settings change)."""
    if bool(inbound_id) == bool(replay_all):
        bad_argument("give one inbound mail ID or --all")
    config = ingestion.IngestConfig.from_settings(current_app.config["HELPDESK"])
    if replay_all:
        ids = db.session.execute(
            db.select(InboundMail.id).where(InboundMail.outcome == InboundOutcome.QUARANTINED).order_by(InboundMail.id)
        ).scalars().all()
    else:
        ids = [inbound_id]
    outcomes = []
    for one in ids:
        try:
            result = ingestion.replay(one, config)
            db.session.commit()
        except LookupError as exc:
            db.session.rollback()
            bad_argument(str(exc))
        except ValueError as exc:
            db.session.rollback()
            refuse(str(exc))
        outcomes.append(result.outcome.value)
        click.echo(f"#{one}: {result.outcome.value} {result.reason}")
    click.echo(ingestion.summarise(outcomes))
