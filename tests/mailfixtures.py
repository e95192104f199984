"""The .eml fixtures of tests/mail/ (written for this project), with placeholders filled in."""
from __future__ import annotations

from pathlib import Path

MAIL_DIR = Path(__file__).resolve().parent / "mail"

REPLY_FIXTURES = [
    "reply_gmail_fr.eml", "reply_gmail_en.eml", "reply_outlook_fr.eml", "reply_outlook_en.eml",
    "reply_apple_fr.eml", "reply_apple_en.eml", "reply_thunderbird_fr.eml", "reply_thunderbird_en.eml",
]


def load_eml(name: str, **values) -> bytes:
    """The fixture's bytes with {{KEY}} replaced by values[key] (TICKET, OUR_MESSAGE_ID, REPLY_TO)."""
    raw = (MAIL_DIR / name).read_bytes()
    for key, value in values.items():
        raw = raw.replace(b"{{" + key.upper().encode() + b"}}", str(value).encode())
    return raw


def make_eml(sender: str = "someone@ecole.example", subject: str = "Une panne", body: str = "Bonjour.",
             message_id: str | None = "<made-1@ecole.example>", to: str = "support@helpdesk.example",
             extra: dict | None = None) -> bytes:
    """A small plain-text mail built for one test."""
    lines = [f"From: {sender}", f"To: {to}", f"Subject: {subject}", "Date: Mon, 23 Nov 2026 08:00:00 +0100"]
    if message_id:
        lines.append(f"Message-ID: {message_id}")
    for name, value in (extra or {}).items():
        lines.append(f"{name}: {value}")
    lines += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit",
              "", body, ""]
    return "\r\n".join(lines).encode("utf-8")
