"""Build the bytes of one outgoing mail, with headers no input can extend.

Subjects and names come from mail and forms. We never hand them to the email package's header
parser: its refolding decodes encoded words, so a subject such as ``=?utf-8?q?a=0D=0ABcc:_x?=``
came out as a real ``Bcc:`` line in a test (CPython's policy.default/SMTP on 3.11). Instead every
free-text value is reduced to one line and written as RFC 2047 encoded words by us; addresses and
Message-IDs are checked against strict patterns. The MIME body (text, HTML, attachments) is built
by the email package, which only ever sees our own Content-* headers. Pure functions.
"""
from __future__ import annotations

import binascii
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime

# Characters that end or split a header line in some reader: ASCII controls, DEL, NEL, the
# Unicode line and paragraph separators. Replaced by spaces before anything else.
_LINE_BREAKERS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
# A bare address: printable ASCII without specials, one @, a dotted domain.
_ADDRESS_RE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+")
# One Message-ID as we accept it from mail: <left@right>, printable ASCII, no spaces or brackets.
_MSGID_RE = re.compile(r"<[\x21-\x3b\x3d\x3f-\x7e]{1,250}@[\x21-\x3b\x3d\x3f-\x7e]{1,250}>")
# A display name that needs no encoding: letters, digits and a few harmless marks.
_PLAIN_NAME_RE = re.compile(r"[A-Za-z0-9 .'_-]{0,200}")
SUBJECT_MAX = 400
NAME_MAX = 200
MAX_LINE = 76


class UnsafeHeader(ValueError):
    """A value that cannot go into a header (not an address, not a Message-ID)."""


@dataclass(frozen=True)
class MailAttachment:
    """A file attached to an outgoing mail (e.g. a signed intervention report PDF)."""

    filename: str
    data: bytes
    content_type: str = "application/octet-stream"


@dataclass(frozen=True)
class Envelope:
    """The headers of one mail, as plain values; compose() makes them safe."""

    from_address: str
    from_name: str
    to_address: str
    to_name: str
    subject: str
    message_id: str
    date: datetime
    reply_to: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    auto_submitted: str = "auto-generated"
    language: str = "fr"


def one_line(value: str, limit: int) -> str:
    """value as a single trimmed line of at most limit characters: no CR, LF or other breakers."""
    return " ".join(_LINE_BREAKERS.sub(" ", value or "").split())[:limit]


def is_valid_address(address: str) -> bool:
    return bool(_ADDRESS_RE.fullmatch(address or ""))


def is_valid_message_id(message_id: str | None) -> bool:
    return bool(message_id) and bool(_MSGID_RE.fullmatch(message_id))


def _encoded(value: str, header_name: str) -> str:
    """value as RFC 2047 encoded words (UTF-8, base64), folded with CRLF + space so no line passes
    MAX_LINE. Written here: email.header.Header measured both encodings for every split, ~0.3 ms
    a subject (issue 3). Words split between characters, never inside one."""
    words, chunk, size = [], [], 0
    room = MAX_LINE - len(header_name) - 2  # the first line starts with "Name: "
    for char in value:
        length = len(char.encode("utf-8"))
        # A word of n octets is 12 + 4 * ceil(n / 3) characters long.
        if chunk and 12 + 4 * -(-(size + length) // 3) > room:
            words.append(_word("".join(chunk)))
            chunk, size, room = [], 0, MAX_LINE - 1  # later lines start with one space
        chunk.append(char)
        size += length
    if chunk or not words:
        words.append(_word("".join(chunk)))
    return "\r\n ".join(words)


def _word(text: str) -> str:
    return "=?utf-8?b?" + binascii.b2a_base64(text.encode("utf-8"), newline=False).decode("ascii") + "?="


def _is_plain_text(value: str) -> bool:
    """Printable ASCII with nothing a reader could take for an encoded word: written as is."""
    return value.isascii() and value.isprintable() and "=?" not in value


def format_address(name: str, address: str, header_name: str) -> str:
    """'Name <addr>' with the name encoded unless it is plainly harmless; refuses a bad address."""
    if not is_valid_address(address):
        raise UnsafeHeader(f"not a mail address: {address!r}")
    name = one_line(name, NAME_MAX)
    if not name:
        return address
    if _PLAIN_NAME_RE.fullmatch(name):
        return f"{name} <{address}>"
    return f"{_encoded(name, header_name)} <{address}>"


def _header_lines(envelope: Envelope) -> list[tuple[str, str]]:
    if not is_valid_message_id(envelope.message_id):
        raise UnsafeHeader(f"not a Message-ID: {envelope.message_id!r}")
    subject = one_line(envelope.subject, SUBJECT_MAX)
    headers = [
        ("From", format_address(envelope.from_name, envelope.from_address, "From")),
        ("To", format_address(envelope.to_name, envelope.to_address, "To")),
        ("Subject", subject if _is_plain_text(subject) else _encoded(subject, "Subject")),
        ("Date", format_datetime(envelope.date)),
        ("Message-ID", envelope.message_id),
    ]
    if envelope.reply_to:
        headers.append(("Reply-To", format_address("", envelope.reply_to, "Reply-To")))
    if envelope.in_reply_to and is_valid_message_id(envelope.in_reply_to):
        headers.append(("In-Reply-To", envelope.in_reply_to))
    references = [m for m in envelope.references if is_valid_message_id(m)]
    if references:
        headers.append(("References", "\r\n ".join(references)))
    headers += [
        ("Auto-Submitted", envelope.auto_submitted),
        ("X-Auto-Response-Suppress", "All"),
        ("Content-Language", envelope.language if envelope.language in ("fr", "en") else "fr"),
    ]
    return headers


def _check_line(name: str, value: str) -> str:
    """One header as bytes-ready text; a last guard that nothing but our own folds breaks the line."""
    unfolded = value.replace("\r\n ", " ")
    if not value.isascii() or _LINE_BREAKERS.search(unfolded):
        raise UnsafeHeader(f"unsafe value for {name}")
    return f"{name}: {value}\r\n"


def compose(envelope: Envelope, text: str, html: str | None = None,
            attachments: tuple[MailAttachment, ...] | list[MailAttachment] = ()) -> bytes:
    """The mail as bytes with CRLF line ends: our checked headers, then the MIME body."""
    head = "".join(_check_line(name, value) for name, value in _header_lines(envelope))
    body = _mime_body(text, html, attachments) if attachments else _text_body(text, html)
    return head.encode("ascii") + body


def _qp_part(subtype: str, text: str) -> bytes:
    """One text/<subtype> part, UTF-8 in quoted-printable: 7-bit, lines of at most 76 octets."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.endswith("\n"):
        text += "\n"
    encoded = binascii.b2a_qp(text.encode("utf-8"), istext=True).replace(b"\n", b"\r\n")
    return (f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n").encode("ascii") + encoded


def _text_body(text: str, html: str | None) -> bytes:
    """The body of a mail without attachments, built here: the email package's policy machinery
    costs ~1 ms a mail, most of an acknowledgement's cost when mail comes in by the thousand
    (issue 3). Only our own fixed headers and encoded octets: no input reaches a header."""
    if html is None:
        return b"MIME-Version: 1.0\r\n" + _qp_part("plain", text)
    boundary = f"=_hd_{secrets.token_hex(12)}".encode("ascii")  # QP output never holds "=_"
    return b"".join((
        b'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="', boundary, b'"\r\n\r\n',
        b"--", boundary, b"\r\n", _qp_part("plain", text), b"\r\n",
        b"--", boundary, b"\r\n", _qp_part("html", html), b"\r\n",
        b"--", boundary, b"--\r\n",
    ))


def _mime_body(text: str, html: str | None, attachments) -> bytes:
    """The body of a mail with attachments, built by the email package (RFC 2231 file names)."""
    body = EmailMessage(policy=policy.SMTP)
    body.set_content(text, charset="utf-8")
    if html is not None:
        body.add_alternative(html, subtype="html", charset="utf-8")
    for attachment in attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        if not (maintype and subtype) or not re.fullmatch(r"[\w.+-]+", maintype + subtype):
            maintype, subtype = "application", "octet-stream"
        body.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype,
            filename=one_line(attachment.filename, 200) or "attachment",
        )
    return body.as_bytes()
