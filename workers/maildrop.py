"""The local drop folder: the embedded default when no IMAP mailbox is configured (issue 3).

A `.eml` file written into the folder (write it under another name, then rename it) becomes a
ticket through helpdesk.ingestion; after the commit the file moves to `processed/` or
`quarantine/` beside it. A crash between the two leaves the file in place: the next pass finds it
in the ledger (duplicate) and moves it. Files starting with "." are ignored (partial writes).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from flask import Flask

from helpdesk import ingestion
from helpdesk.extensions import db
from helpdesk.models import InboundOutcome

log = logging.getLogger("helpdesk.maildrop")

PROCESSED = "processed"
QUARANTINE = "quarantine"


def maildrop_path(settings: dict) -> Path:
    """The drop folder from settings (default <var_dir>/maildrop)."""
    return Path(settings["maildrop_dir"] or Path(settings["var_dir"]) / "maildrop")


def _unique_target(folder: Path, name: str) -> Path:
    target = folder / name
    stem, suffix = os.path.splitext(name)
    n = 1
    while target.exists():
        target = folder / f"{stem}-{n}{suffix}"
        n += 1
    return target


def drain_maildrop(folder: Path, config: ingestion.IngestConfig) -> list[tuple[Path, ingestion.IngestResult]]:
    """Import every .eml in folder, committing each before moving its file; returns the results."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / PROCESSED).mkdir(exist_ok=True)
    (folder / QUARANTINE).mkdir(exist_ok=True)
    results = []
    files = sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".eml"
                    and not p.name.startswith(".")), key=lambda p: (p.stat().st_mtime, p.name))
    for path in files:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            log.warning("maildrop: cannot read %s: %s", path.name, exc)
            continue
        try:
            result = ingestion.ingest(raw, config, mailbox="maildrop")
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("maildrop: %s left in place after a database error", path.name)
            continue
        dest = QUARANTINE if result.outcome == InboundOutcome.QUARANTINED else PROCESSED
        os.replace(path, _unique_target(folder / dest, path.name))
        results.append((path, result))
    return results


def maildrop_job(app: Flask) -> str | None:
    """Worker job: one pass over the drop folder; returns a summary when something came in."""
    settings = app.config["HELPDESK"]
    results = drain_maildrop(maildrop_path(settings), ingestion.IngestConfig.from_settings(settings))
    return ingestion.summarise(r.outcome.value for _, r in results) if results else None
