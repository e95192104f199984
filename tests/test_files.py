"""helpdesk.files: content-hash storage, safe names, size limits."""
import io

import pytest

from helpdesk import files
from helpdesk.extensions import db
from tests.factories import make_ticket


def test_store_and_read_back(app):
    ticket = make_ticket()
    attachment = files.store_attachment(ticket, ticket.messages[0], "rapport.pdf", "application/pdf", b"%PDF-1 data")
    db.session.commit()
    assert files.read_attachment(attachment) == b"%PDF-1 data"
    path = files.attachment_path(attachment)
    assert path.name == attachment.sha256 and str(path).startswith(app.config["HELPDESK"]["var_dir"])
    with files.open_attachment(attachment) as fh:
        assert fh.read() == b"%PDF-1 data"
    assert attachment.size == 11 and attachment.filename == "rapport.pdf"


def test_same_content_is_stored_once(app):
    ticket = make_ticket()
    a = files.store_attachment(ticket, None, "a.txt", "text/plain", b"same")
    b = files.store_attachment(ticket, None, "b.txt", "text/plain", io.BytesIO(b"same"))
    assert a.storage_key == b.storage_key and a.id != b.id
    stored = [p for p in files.storage_root().rglob("*") if p.is_file()]
    assert len(stored) == 1


@pytest.mark.parametrize("name, expected", [
    ("../../etc/passwd", "passwd"),
    ("C:\\Windows\\system32\\evil.exe", "evil.exe"),
    ("bad\x00name\r\n.txt", "bad_name_.txt"),
    ("", "piece-jointe.png"),
    ("...", "piece-jointe.png"),
    ("a" * 300 + ".pdf", "a" * 251 + ".pdf"),
])
def test_hostile_names_become_safe_metadata(app, name, expected):
    ticket = make_ticket()
    attachment = files.store_attachment(ticket, None, name, "image/png", b"x")
    assert attachment.filename == expected


def test_content_type_is_cleaned(app):
    ticket = make_ticket()
    assert files.store_attachment(ticket, None, "x", "text/html; charset=utf-8", b"x").content_type == "text/html"
    assert files.store_attachment(ticket, None, "x", "evil\r\ninjected", b"x").content_type == "application/octet-stream"


def test_size_limit_refuses_and_leaves_nothing(app):
    ticket = make_ticket()
    with pytest.raises(files.AttachmentTooLarge):
        files.store_attachment(ticket, None, "big.bin", "", io.BytesIO(b"x" * 1000), max_bytes=999)
    root = files.storage_root()
    assert not root.exists() or not any(p.is_file() for p in root.rglob("*"))


def test_default_limit_comes_from_settings(app):
    app.config["HELPDESK"]["max_attachment_bytes"] = 3
    ticket = make_ticket()
    with pytest.raises(files.AttachmentTooLarge):
        files.store_attachment(ticket, None, "big.bin", "", b"four")


def test_missing_or_tampered_file(app):
    ticket = make_ticket()
    attachment = files.store_attachment(ticket, None, "a", "", b"data")
    files.attachment_path(attachment).unlink()
    with pytest.raises(FileNotFoundError):
        files.read_attachment(attachment)
    attachment.storage_key = "../../../etc/passwd"
    with pytest.raises(FileNotFoundError):
        files.read_attachment(attachment)
