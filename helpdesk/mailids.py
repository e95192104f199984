"""Identities we put in mail, and how we recognise them when they come back.

Outgoing Message-IDs carry the ticket id and an HMAC, so a reply whose In-Reply-To/References
names one identifies its ticket and cannot be forged. Reply-To carries a signed token in a
plus-address (support+t123.<sig>@domain). The subject tag [#123] is the weakest: ingestion
accepts it only from someone who belongs on the ticket. Pure functions; callers pass the secret.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets

SIG_LENGTH = 16  # hex characters of HMAC-SHA256 kept: 64 bits, enough to make guessing useless
_MSGID_RE = re.compile(r"<?hd\.t(\d{1,12})\.([0-9a-z]{1,40})\.([0-9a-f]{%d})@([^<>@\s]+)>?" % SIG_LENGTH)
_TOKEN_RE = re.compile(r"^t(\d{1,12})\.([0-9a-f]{%d})$" % SIG_LENGTH)
_SUBJECT_TAG_RE = re.compile(r"\[#(\d{1,12})\]")


def _sign(secret: str, purpose: str, value: str) -> str:
    digest = hmac.new(secret.encode(), f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()
    return digest[:SIG_LENGTH]


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


def make_message_id(ticket_id: int, secret: str, domain: str, nonce: str | None = None) -> str:
    """A new Message-ID "<hd.t123.<nonce>.<sig>@domain>" naming the ticket, unique per call."""
    nonce = nonce or secrets.token_hex(8)
    sig = _sign(secret, "msgid", f"{ticket_id}.{nonce}")
    return f"<hd.t{ticket_id}.{nonce}.{sig}@{domain}>"


def ticket_id_from_message_id(message_id: str, secret: str) -> int | None:
    """The ticket named by one of our Message-IDs, or None (not ours, or the signature is wrong)."""
    match = _MSGID_RE.fullmatch((message_id or "").strip())
    if not match:
        return None
    ticket_id, nonce, sig = match.group(1), match.group(2), match.group(3)
    if not hmac.compare_digest(sig, _sign(secret, "msgid", f"{ticket_id}.{nonce}")):
        return None
    return int(ticket_id)


def is_our_message_id(message_id: str, secret: str) -> bool:
    return ticket_id_from_message_id(message_id, secret) is not None


def ticket_id_from_references(message_ids: list[str], secret: str) -> int | None:
    """The ticket named by the first of our Message-IDs in a list (In-Reply-To then References)."""
    for message_id in message_ids:
        found = ticket_id_from_message_id(message_id, secret)
        if found is not None:
            return found
    return None


def reply_address(ticket_id: int, secret: str, support_address: str) -> str:
    """support+t123.<sig>@domain: a Reply-To that names the ticket and cannot be forged."""
    local, _, domain = support_address.partition("@")
    local = local.split("+", 1)[0]
    return f"{local}+t{ticket_id}.{_sign(secret, 'reply', str(ticket_id))}@{domain}"


def ticket_id_from_address(address: str, secret: str, support_address: str) -> int | None:
    """The ticket named by a signed plus-address of the support mailbox, or None."""
    local, _, domain = (address or "").strip().lower().partition("@")
    support_local, _, support_domain = support_address.lower().partition("@")
    base, plus, token = local.partition("+")
    if not plus or base != support_local.split("+", 1)[0] or domain != support_domain:
        return None
    match = _TOKEN_RE.match(token)
    if not match:
        return None
    ticket_id, sig = match.group(1), match.group(2)
    if not hmac.compare_digest(sig, _sign(secret, "reply", ticket_id)):
        return None
    return int(ticket_id)


def subject_tag(ticket_id: int) -> str:
    return f"[#{ticket_id}]"


def ticket_id_from_subject(subject: str) -> int | None:
    """The number in the first [#123] tag of a subject (unsigned: check the sender belongs)."""
    match = _SUBJECT_TAG_RE.search(subject or "")
    return int(match.group(1)) if match else None
