"""Attachment storage: the one module that writes and reads stored files.

Files are stored under ``<var_dir>/attachments/ab/cd/<sha256>``: the name on disk is the hash of
the content, never anything the sender chose, so a hostile name cannot escape the folder and two
copies of the same file take the space of one. The original name is kept only as metadata on the
``Attachment`` row. Mail in (helpdesk.ingestion) and web uploads (the portal) both come here.
"""
from __future__ import annotations

import hashlib
import mimetypes
import os
import re
import tempfile
import unicodedata
from pathlib import Path
from typing import BinaryIO

from flask import current_app

from .extensions import db
from .models import Attachment, Message, Ticket

CHUNK = 1 << 16
FILENAME_MAX = 255
CONTENT_TYPE_MAX = 255
DEFAULT_FILENAME = "piece-jointe"
STORAGE_DIR = "attachments"
_UNSAFE_CHARS = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')
_CONTENT_TYPE_RE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")


class AttachmentTooLarge(ValueError):
    """The file is over the size limit; nothing was stored."""

    def __init__(self, size: int, limit: int):
        self.size = size
        self.limit = limit
        super().__init__(f"file of {size} bytes is over the limit of {limit} bytes")


def storage_root(var_dir: str | None = None) -> Path:
    """The folder holding every stored file."""
    if var_dir is None:
        var_dir = current_app.config["HELPDESK"]["var_dir"]
    return Path(var_dir) / STORAGE_DIR


def safe_filename(name: str | None, content_type: str = "") -> str:
    """A display name without path parts or control characters, bounded; never empty."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_CHARS.sub("_", name).strip(" .")
    if not name:
        ext = mimetypes.guess_extension(content_type or "") or ""
        name = DEFAULT_FILENAME + ext
    if len(name) > FILENAME_MAX:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            name = stem[: FILENAME_MAX - len(ext) - 1] + "." + ext
        else:
            name = name[:FILENAME_MAX]
    return name


def clean_content_type(content_type: str | None) -> str:
    """A syntactically valid lower-case type/subtype, else application/octet-stream."""
    value = (content_type or "").split(";", 1)[0].strip().lower()
    return value if _CONTENT_TYPE_RE.match(value) else "application/octet-stream"


def _path_for(root: Path, sha256: str) -> Path:
    return root / sha256[:2] / sha256[2:4] / sha256


def _write_content(root: Path, data: bytes | BinaryIO, limit: int | None) -> tuple[str, int]:
    """Write data to its content-hash path (atomically) and return (sha256, size)."""
    root.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd, tmp_name = tempfile.mkstemp(dir=root, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            chunks = [data] if isinstance(data, (bytes, bytearray, memoryview)) else iter(
                lambda: data.read(CHUNK), b"")
            for chunk in chunks:
                size += len(chunk)
                if limit is not None and size > limit:
                    raise AttachmentTooLarge(size, limit)
                digest.update(chunk)
                out.write(chunk)
        sha256 = digest.hexdigest()
        final = _path_for(root, sha256)
        if final.exists():
            os.unlink(tmp_name)
        else:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp_name, final)
        return sha256, size
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise


def store_attachment(
    ticket: Ticket,
    message: Message | None,
    filename: str | None,
    content_type: str | None,
    data: bytes | BinaryIO,
    content_id: str | None = None,
    inline: bool = False,
    *,
    max_bytes: int | None = None,
    var_dir: str | None = None,
) -> Attachment:
    """Store a file for a ticket (and message) and add its Attachment row; raises AttachmentTooLarge.

    :param data: bytes, or a binary file object read in chunks (web uploads).
    :param max_bytes: size limit; defaults to the ``max_attachment_bytes`` setting.
    """
    if max_bytes is None:
        max_bytes = current_app.config["HELPDESK"]["max_attachment_bytes"]
    content_type = clean_content_type(content_type)
    sha256, size = _write_content(storage_root(var_dir), data, max_bytes)
    attachment = Attachment(
        ticket_id=ticket.id,
        message=message,
        filename=safe_filename(filename, content_type),
        content_type=content_type,
        size=size,
        sha256=sha256,
        storage_key=f"{sha256[:2]}/{sha256[2:4]}/{sha256}",
        content_id=(content_id or "").strip().strip("<>")[:255] or None,
        inline=inline,
    )
    db.session.add(attachment)
    db.session.flush()
    return attachment


def attachment_path(attachment: Attachment, var_dir: str | None = None) -> Path:
    """The file of a stored attachment (for send_file); raises FileNotFoundError if it is missing."""
    key = attachment.storage_key
    if not re.fullmatch(r"[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}", key or ""):
        raise FileNotFoundError(f"attachment {attachment.id}: bad storage key")
    path = storage_root(var_dir) / key
    if not path.is_file():
        raise FileNotFoundError(f"attachment {attachment.id}: file missing")
    return path


def open_attachment(attachment: Attachment, var_dir: str | None = None) -> BinaryIO:
    """A binary file object on a stored attachment (the caller closes it)."""
    return attachment_path(attachment, var_dir).open("rb")


def read_attachment(attachment: Attachment, var_dir: str | None = None) -> bytes:
    """The whole content of a stored attachment."""
    return attachment_path(attachment, var_dir).read_bytes()
