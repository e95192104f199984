"""The embedded default for outgoing mail: with no SMTP server configured, the worker writes each
mail as an .eml file to <var_dir>/mail-out/, and admins read them at /admin/mail-out.

So a newcomer running the demo sees exactly the mails the system would send, sign-in links
included; that is also why the pages are for admins only.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from email import policy
from email.parser import BytesParser
from pathlib import Path

from flask import Blueprint, abort, current_app, render_template, send_file
from flask_babel import gettext as _

from .auth import admin_required
from .models import utcnow

MAIL_OUT_DIR = "mail-out"
# Names we write: 20261123T194500123456Z-<16 hex>.eml; anything else in the folder is ignored.
_NAME_RE = re.compile(r"\d{8}T\d{12}Z-[0-9a-f]{16}\.eml")
LIST_LIMIT = 200

bp = Blueprint("mailout", __name__, url_prefix="/admin/mail-out")


def mail_out_dir(var_dir: str) -> Path:
    return Path(var_dir) / MAIL_OUT_DIR


class CaptureTransport:
    """A transport that writes each mail to a folder instead of sending it (see helpdesk.outbox)."""

    def __init__(self, directory: Path | str):
        self.directory = Path(directory)

    def send(self, mail_from: str, recipient: str, raw: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = utcnow().strftime("%Y%m%dT%H%M%S%fZ")
        digest = hashlib.sha256(recipient.encode() + b"\0" + raw).hexdigest()[:16]
        final = self.directory / f"{stamp}-{digest}.eml"
        partial = self.directory / f".{final.name}.part"
        envelope = f"X-Envelope-From: <{mail_from}>\r\nX-Envelope-To: <{recipient}>\r\n".encode()
        with open(partial, "wb") as fh:
            fh.write(envelope + raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(partial, final)  # readers never see half a mail

    def close(self) -> None:
        return None


@dataclass(frozen=True)
class CapturedMail:
    name: str
    written_at: datetime
    to: str
    subject: str
    message_id: str
    size: int


def list_captured(directory: Path, limit: int = LIST_LIMIT) -> list[CapturedMail]:
    """The newest captured mails, newest first, with their main headers."""
    if not directory.is_dir():
        return []
    names = sorted((n for n in os.listdir(directory) if _NAME_RE.fullmatch(n)), reverse=True)[:limit]
    parser = BytesParser(policy=policy.default)
    found = []
    for name in names:
        path = directory / name
        with open(path, "rb") as fh:
            headers = parser.parse(fh, headersonly=True)
        found.append(CapturedMail(
            name=name,
            written_at=datetime.strptime(name[:22], "%Y%m%dT%H%M%S%fZ").replace(tzinfo=timezone.utc),
            to=str(headers.get("To", "")), subject=str(headers.get("Subject", "")),
            message_id=str(headers.get("Message-ID", "")), size=path.stat().st_size,
        ))
    return found


def _captured_path(name: str) -> Path:
    if not _NAME_RE.fullmatch(name):
        abort(404)
    path = mail_out_dir(current_app.config["HELPDESK"]["var_dir"]) / name
    if not path.is_file():
        abort(404)
    return path


@bp.get("/")
@admin_required
def index():
    settings = current_app.config["HELPDESK"]
    mails = list_captured(mail_out_dir(settings["var_dir"]))
    return render_template("mailout/index.html", mails=mails, capturing=not settings["smtp_host"],
                           title=_("Mails sortants capturés"))


@bp.get("/<name>")
@admin_required
def show(name: str):
    path = _captured_path(name)
    with open(path, "rb") as fh:
        message = BytesParser(policy=policy.default).parse(fh)
    body = message.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    attachments = [part.get_filename() or "" for part in message.iter_attachments()]
    headers = [(k, str(v)) for k, v in message.items()]
    return render_template("mailout/show.html", name=name, headers=headers, text=text, attachments=attachments)


@bp.get("/<name>/raw")
@admin_required
def raw(name: str):
    response = send_file(_captured_path(name), mimetype="text/plain", as_attachment=True, download_name=name)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
