"""Mail in: a ledger row first, then one decision per message (issue 3).

Every message becomes one InboundMail row (mailbox, UIDVALIDITY, UID, Message-ID, SHA-256, raw
bytes) before anything else; its unique dedupe key (the Message-ID, else the hash) makes a second
import impossible, even with two pollers. Then, in order: our own mail coming back, a bounce, an
auto-reply, a reply to a known ticket, or a new ticket. A message that cannot be handled is
quarantined with its reason inside a savepoint, so it never blocks the others and can be replayed.
ingest_batch() is the poller's fast path for a whole fetched batch (no savepoint per mail); when
it fails, the poller rolls back and runs the batch through ingest() one mail at a time.

Services flush; the caller (poller, CLI, drop-folder job) commits, and only then acts on the
mail server. Settings arrive as an IngestConfig of plain values.
"""
from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import defer

from . import mailids
from .database import begin_write
from .extensions import db
from .files import store_attachment
from .mailclassify import auto_reply_reason, bounce_reason
from .mailparse import ParsedMail, Unparseable, parse_mail
from .models import (
    ENDED_STATUSES, Category, InboundMail, InboundOutcome, Message, MessageKind, Source, Ticket,
    TicketWatcher, User, utcnow,
)
from . import notifications, outbox, tickets, workflow

log = logging.getLogger(__name__)

DEDUPE_KEY_MAX = 1000
_HEADER_MSGID_RE = re.compile(rb"^message-id[ \t]*:[ \t]*(?:\r?\n[ \t]+)?(<[^<>\s]{1,990}>)", re.I | re.M)
MERGE_DEPTH_MAX = 10


@dataclass(frozen=True)
class IngestConfig:
    """The settings ingestion needs, as plain values."""

    secret_key: str
    support_address: str
    max_message_bytes: int = 40_000_000
    max_attachment_bytes: int = 30_000_000
    allowed_sender_domains: tuple[str, ...] = ()
    reopen_window_days: int = 14
    bounce_undeliverable_days: int = 60
    var_dir: str | None = None
    default_category: str = ""

    @classmethod
    def from_settings(cls, settings: dict, default_category: str = "") -> "IngestConfig":
        return cls(
            secret_key=settings["secret_key"],
            support_address=settings["support_address"].lower(),
            max_message_bytes=settings["max_message_bytes"],
            max_attachment_bytes=settings["max_attachment_bytes"],
            allowed_sender_domains=tuple(d.strip().lower().lstrip("@") for d in settings["allowed_sender_domains"]),
            reopen_window_days=settings["reopen_window_days"],
            bounce_undeliverable_days=settings["bounce_undeliverable_days"],
            var_dir=settings["var_dir"],
            default_category=default_category,
        )


@dataclass(frozen=True)
class IngestResult:
    outcome: InboundOutcome
    reason: str = ""
    ticket_id: int | None = None
    inbound_mail_id: int | None = None
    # For a duplicate: what became of the first copy (the poller moves a quarantined one aside).
    earlier_outcome: InboundOutcome | None = None


@dataclass
class _Decision:
    outcome: InboundOutcome
    reason: str
    ticket: Ticket | None = None
    notes: list[str] = field(default_factory=list)


def dedupe_key(message_id: str | None, sha256: str) -> str:
    """The ledger's unique identity of a mail: its Message-ID, else the hash of its bytes."""
    if message_id:
        key = f"mid:{message_id}"
        if len(key) <= DEDUPE_KEY_MAX:
            return key
        return "mid-sha256:" + hashlib.sha256(message_id.encode("utf-8", "replace")).hexdigest()
    return f"sha256:{sha256}"


def scan_message_id(raw: bytes) -> str | None:
    """The Message-ID from the header block, without parsing the mail (oversize, unparseable)."""
    head = raw[:65536].split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    match = _HEADER_MSGID_RE.search(head)
    return match.group(1).decode("ascii", "replace") if match else None


def find_duplicate(raw: bytes) -> InboundMail | None:
    """The ledger row that already holds this mail, if any (cheap check before fetching more)."""
    sha = hashlib.sha256(raw).hexdigest()
    return _row_by_key(dedupe_key(scan_message_id(raw), sha))


def _row_by_key(key: str) -> InboundMail | None:
    return db.session.execute(db.select(InboundMail).where(InboundMail.dedupe_key == key)).scalar_one_or_none()


@dataclass(frozen=True)
class Incoming:
    """One fetched message for ingest_batch(); full_size as in ingest()."""

    raw: bytes
    uid: int | None = None
    full_size: int | None = None


@dataclass(frozen=True)
class _Prepared:
    sha: str
    key: str
    message_id: str | None
    parsed: ParsedMail | None
    failure: str


def _prepare(raw: bytes, config: IngestConfig, full_size: int | None) -> _Prepared:
    """Parse (unless too large) and compute the ledger identity; no database."""
    sha = hashlib.sha256(raw).hexdigest()
    size = full_size if full_size is not None else len(raw)
    parsed: ParsedMail | None = None
    failure = ""
    if full_size is not None:
        failure = (f"too large: {size} bytes (limit {config.max_message_bytes}); headers only in the "
                   "ledger, the message is in the mailbox's quarantine folder")
    elif size > config.max_message_bytes:
        failure = f"too large: {size} bytes (limit {config.max_message_bytes})"
    else:
        try:
            parsed = parse_mail(raw)
        except Unparseable as exc:
            failure = f"unparseable: {exc.reason}"
    message_id = parsed.message_id if parsed else scan_message_id(raw)
    return _Prepared(sha, dedupe_key(message_id, sha), message_id, parsed, failure)


def _row_values(raw: bytes, prepared: _Prepared, mailbox: str, uidvalidity: int | None, uid: int | None) -> dict:
    """The columns of a new, undecided ledger row."""
    parsed = prepared.parsed
    return dict(
        mailbox=mailbox[:100], uidvalidity=uidvalidity, uid=uid, message_id=prepared.message_id,
        sha256=prepared.sha, dedupe_key=prepared.key, raw=raw, outcome=None, reason="", attempts=0,
        from_address=(parsed.from_address or "")[:320] or None if parsed else None,
        subject=parsed.subject if parsed else None,
    )


def ingest(
    raw: bytes,
    config: IngestConfig,
    *,
    mailbox: str,
    uidvalidity: int | None = None,
    uid: int | None = None,
    full_size: int | None = None,
) -> IngestResult:
    """Record one mail in the ledger and decide what it is; flushes, the caller commits.

    :param full_size: the size of the whole message when ``raw`` holds only its headers (an
        oversize IMAP message left on the server); such a mail is quarantined as too large.
    """
    begin_write(db.session)
    prepared = _prepare(raw, config, full_size)
    parsed, failure, key = prepared.parsed, prepared.failure, prepared.key
    existing = _row_by_key(key)
    if existing is not None and existing.outcome is None:
        # Recorded but never decided (a crash between the two on a database without working
        # savepoints): decide it now rather than call it a duplicate and lose it.
        return _process(existing, parsed, failure, config)
    if existing is not None:
        return _duplicate(existing)
    row = InboundMail(**_row_values(raw, prepared, mailbox, uidvalidity, uid))
    if db.session.get_bind().dialect.name == "sqlite":
        # begin_write() holds SQLite's write lock: the check above cannot be raced; save a savepoint.
        db.session.add(row)
        return _process(row, parsed, failure, config)
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        # Another poller recorded the same mail between our check and our insert.
        existing = _row_by_key(key)
        if existing is None:
            raise
        return _duplicate(existing)
    return _process(row, parsed, failure, config)


def ingest_batch(mails: list[Incoming], config: IngestConfig, *, mailbox: str,
                 uidvalidity: int | None = None) -> list[IngestResult]:
    """Record and decide a batch the fast way: one ledger lookup, no savepoint per mail.

    Any error escapes (a bug, a second poller's row, a concurrent new requester): the caller rolls
    the whole batch back and runs it again through ingest(), where each mail has its savepoint and
    an error quarantines that mail alone. Unparseable and oversize mail is quarantined here.
    """
    begin_write(db.session)
    prepared = [_prepare(mail.raw, config, mail.full_size) for mail in mails]
    keys = list({p.key for p in prepared})
    rows = _rows_by_keys(keys)
    new = {}
    for mail, ready in zip(mails, prepared):
        if ready.key not in rows and ready.key not in new:  # a second copy in the batch is a duplicate
            new[ready.key] = _row_values(mail.raw, ready, mailbox, uidvalidity, mail.uid)
    if new:
        # One executemany INSERT for the batch's ledger rows, then one SELECT for their ids: the
        # ORM would insert them one by one, or with RETURNING send the raw bytes back.
        db.session.execute(db.insert(InboundMail), list(new.values()))
        rows.update(_rows_by_keys(list(new)))
    senders = _senders([p.parsed for p in prepared if p.parsed is not None])
    users = _users_by_address(senders)
    results: list[IngestResult | None] = []
    held: dict[str, _NewMail] = {}  # by dedupe key: plain new tickets, opened together
    # The senders are who the new tickets' acknowledgements go to: their loop guards in one query.
    with outbox.loop_counts_prefetched(senders):
        for ready in prepared:
            row = rows[ready.key]
            requester = _plain_new_ticket(ready.parsed, config, users) if row.outcome is None else None
            if requester is not None and ready.key not in held:
                held[ready.key] = _NewMail(row, ready.parsed, requester, requester.email, index=len(results))
                results.append(None)
                continue
            # Anything else may read, thread onto or write what the held mails create: open them first.
            _open_held(held, results, config)
            if row.outcome is not None:
                results.append(_duplicate(row))
                continue
            results.append(_process(row, ready.parsed, ready.failure, config, users=users))
        _open_held(held, results, config)
    return results


def _plain_new_ticket(parsed: ParsedMail | None, config: IngestConfig, users: dict[str, User]) -> User | None:
    """The requester when _decide() would surely open a ticket for this mail and do nothing else:
    a person's mail from an active user known at the start of the batch, naming no ticket, with no
    one else in copy and no attachment. Such mails are held and opened together (_open_held);
    anything this does not vouch for goes through _decide()."""
    if parsed is None or parsed.thread_ids or parsed.attachments:
        return None
    sender = (parsed.from_address or "").lower()
    if _is_own_mail(parsed, sender, config) or bounce_reason(parsed) or auto_reply_reason(parsed):
        return None
    try:
        user = users.get(tickets.normalise_email(sender))
    except tickets.InvalidAddress:
        return None
    if user is None or not user.active or mailids.ticket_id_from_subject(parsed.subject) is not None:
        return None
    for _, address in parsed.to + parsed.cc:  # a watcher to find or create, or a signed reply address
        if not _is_own_address(address.lower(), config) or mailids.ticket_id_from_address(
                address, config.secret_key, config.support_address) is not None:
            return None
    for address in parsed.delivered_to:
        if mailids.ticket_id_from_address(address, config.secret_key, config.support_address) is not None:
            return None
    return user


def _open_held(held: dict[str, "_NewMail"], results: list[IngestResult | None], config: IngestConfig) -> None:
    """Open the held mails' tickets in one flush and put their results in place."""
    if not held:
        return
    mails = list(held.values())
    held.clear()
    for mail, decision in zip(mails, _new_tickets(mails, config)):
        results[mail.index] = _record_outcome(mail.row, decision)


def _rows_by_keys(keys: list[str]) -> dict[str, InboundMail]:
    """Ledger rows by dedupe key, without their raw bytes (loaded only if read)."""
    found = db.session.execute(db.select(InboundMail).options(defer(InboundMail.raw))
                               .where(InboundMail.dedupe_key.in_(keys))).scalars()
    return {row.dedupe_key: row for row in found}


def _senders(mails: list[ParsedMail]) -> set[str]:
    """The usable sender addresses of a batch, normalised."""
    addresses = set()
    for parsed in mails:
        try:
            addresses.add(tickets.normalise_email(parsed.from_address or ""))
        except tickets.InvalidAddress:
            continue
    return addresses


def _users_by_address(addresses: set[str]) -> dict[str, User]:
    """The existing users among these addresses, in one query, by address."""
    if not addresses:
        return {}
    found = db.session.execute(db.select(User).where(User.email.in_(addresses))).scalars()
    return {user.email: user for user in found}


def replay(inbound_mail_id: int, config: IngestConfig) -> IngestResult:
    """Run a quarantined mail through the pipeline again (after a fix or a settings change)."""
    begin_write(db.session)
    row = db.session.get(InboundMail, inbound_mail_id)
    if row is None:
        raise LookupError(f"no inbound mail {inbound_mail_id}")
    if row.outcome != InboundOutcome.QUARANTINED:
        raise ValueError(f"inbound mail {inbound_mail_id} is not quarantined ({row.outcome.value if row.outcome else 'pending'})")
    if row.reason.startswith("too large") and "headers only" in row.reason:
        raise ValueError(
            f"inbound mail {inbound_mail_id}: the ledger holds only its headers; "
            "import the message from the mailbox's quarantine folder with `helpdesk ingest`"
        )
    parsed, failure = None, ""
    if len(row.raw) > config.max_message_bytes:
        failure = f"too large: {len(row.raw)} bytes (limit {config.max_message_bytes})"
    else:
        try:
            parsed = parse_mail(row.raw)
        except Unparseable as exc:
            failure = f"unparseable: {exc.reason}"
    return _process(row, parsed, failure, config)


def _duplicate(existing: InboundMail) -> IngestResult:
    outcome = existing.outcome.value if existing.outcome else "pending"
    return IngestResult(InboundOutcome.DUPLICATE, f"already in the ledger as #{existing.id} ({outcome})",
                        existing.ticket_id, existing.id, existing.outcome)


def _process(row: InboundMail, parsed: ParsedMail | None, failure: str, config: IngestConfig,
             users: dict[str, User] | None = None) -> IngestResult:
    """Decide inside a savepoint; any error quarantines this mail alone, with its reason.

    :param users: from ingest_batch(), the senders known at the start of the batch; then there is
        no savepoint and errors escape to the caller.
    """
    if row.id is None:
        db.session.flush()  # its id goes on the ticket's messages
    if parsed is None:
        decision = _Decision(InboundOutcome.QUARANTINED, failure)
    elif users is not None:
        decision = _decide(row, parsed, config, users)
    else:
        decision = None
        for attempt in (1, 2):
            try:
                with db.session.begin_nested():
                    decision = _decide(row, parsed, config)
                break
            except IntegrityError as exc:
                # A concurrent import created the same requester: the retry finds it.
                if attempt == 2:
                    decision = _Decision(InboundOutcome.QUARANTINED, f"error: {_one_line(exc)}")
            except Exception as exc:  # a bug must cost one mail, never the pass
                log.exception("inbound %s: quarantined after an error", row.id)
                decision = _Decision(InboundOutcome.QUARANTINED, f"error: {_one_line(exc)}")
                break
    return _record_outcome(row, decision)


def _record_outcome(row: InboundMail, decision: _Decision) -> IngestResult:
    """Write the decision on the ledger row."""
    row.attempts = (row.attempts or 0) + 1  # set with the outcome: one UPDATE of the row
    row.outcome = decision.outcome
    row.reason = decision.reason[:2000]
    row.ticket_id = decision.ticket.id if decision.ticket is not None else None
    row.processed_at = utcnow()
    log.info("inbound %s (%s uid %s): %s %s", row.id, row.mailbox, row.uid, decision.outcome.value, decision.reason)
    return IngestResult(decision.outcome, row.reason, row.ticket_id, row.id)


def _one_line(exc: Exception) -> str:
    text = str(getattr(exc, "orig", None) or exc).splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]


# ---- the decision chain ---------------------------------------------------------------------

def _decide(row: InboundMail, parsed: ParsedMail, config: IngestConfig,
            users: dict[str, User] | None = None) -> _Decision:
    sender = (parsed.from_address or "").lower()
    if _is_own_mail(parsed, sender, config):
        return _Decision(InboundOutcome.OWN_MAIL, "our own mail came back; dropped")
    reason = bounce_reason(parsed)
    if reason:
        return _record_bounce(row, parsed, reason, config)
    reason = auto_reply_reason(parsed)
    if reason:
        return _record_auto_reply(row, parsed, reason, config)
    try:
        sender = tickets.normalise_email(sender)
    except tickets.InvalidAddress:
        return _Decision(InboundOutcome.QUARANTINED, f"no usable sender address ({parsed.from_address!r})")
    # Absent from users: unknown at the start of the batch, maybe created by an earlier mail of it.
    user = users.get(sender) if users else None
    user = user or tickets.find_user(sender)
    if user is None and not _domain_allowed(sender, config):
        return _Decision(InboundOutcome.QUARANTINED, f"unknown sender: {sender} (domain not in allowed_sender_domains)")
    if user is not None and not user.active:
        return _Decision(InboundOutcome.QUARANTINED, f"sender's account is deactivated: {sender}")
    ticket, how = _find_ticket(parsed, user, config)
    if ticket is not None:
        return _add_reply(row, parsed, ticket, how, user, sender, config)
    return _new_ticket(row, parsed, user, sender, config)


def _is_own_mail(parsed: ParsedMail, sender: str, config: IngestConfig) -> bool:
    if parsed.message_id and mailids.is_our_message_id(parsed.message_id, config.secret_key):
        return True
    return _is_own_address(sender, config)


def _domain_allowed(address: str, config: IngestConfig) -> bool:
    return not config.allowed_sender_domains or mailids.domain_of(address) in config.allowed_sender_domains


def _resolve(ticket_id: int | None) -> Ticket | None:
    """The ticket, following merges to the one that lives on."""
    ticket = db.session.get(Ticket, ticket_id) if ticket_id else None
    for _ in range(MERGE_DEPTH_MAX):
        if ticket is None or ticket.merged_into_id is None:
            break
        ticket = db.session.get(Ticket, ticket.merged_into_id)
    return ticket


def belongs_on(user: User | None, ticket: Ticket) -> bool:
    """The requester, a watcher, the assignee or any staff member."""
    if user is None:
        return False
    if user.is_staff or user.id in (ticket.requester_id, ticket.assignee_id):
        return True
    return db.session.get(TicketWatcher, (ticket.id, user.id)) is not None


def _find_ticket(parsed: ParsedMail, user: User | None, config: IngestConfig) -> tuple[Ticket | None, str]:
    """Strictest first: our signed Message-IDs, the signed reply address, then weaker hints."""
    ticket = _resolve(mailids.ticket_id_from_references(list(parsed.thread_ids), config.secret_key))
    if ticket is not None:
        return ticket, "signed Message-ID"
    recipients = [a for _, a in parsed.to + parsed.cc] + list(parsed.delivered_to)
    for address in recipients:
        ticket = _resolve(mailids.ticket_id_from_address(address, config.secret_key, config.support_address))
        if ticket is not None:
            return ticket, "signed reply address"
    # Weak hints: anyone can copy a Message-ID or type [#123]; only people on the ticket may use them.
    if parsed.thread_ids:
        known = db.session.execute(
            db.select(Message.ticket_id).where(Message.message_id.in_(parsed.thread_ids[:50])).limit(1)
        ).scalar_one_or_none()
        ticket = _resolve(known)
        if ticket is not None and belongs_on(user, ticket):
            return ticket, "References of a known mail"
    ticket = _resolve(mailids.ticket_id_from_subject(parsed.subject))
    if ticket is not None and belongs_on(user, ticket):
        return ticket, "subject tag"
    return None, ""


def _message_from(parsed: ParsedMail, row: InboundMail, ticket: Ticket, author: User | None,
                  sender: str, kind: MessageKind = MessageKind.INBOUND, public: bool = True) -> Message:
    message = Message(
        ticket=ticket, kind=kind, public=public, author=author, from_address=sender[:320],
        body_text=parsed.body_text, display_text=parsed.display_text, body_html=parsed.body_html,
        message_id=parsed.message_id, inbound_mail_id=row.id,
    )
    db.session.add(message)
    db.session.flush()
    return message


def _store_attachments(ticket: Ticket, message: Message, parsed: ParsedMail, config: IngestConfig) -> list[str]:
    """Store what fits; return one line per attachment left out (for an internal note)."""
    skipped = []
    for part in parsed.attachments:
        if len(part.data) > config.max_attachment_bytes:
            skipped.append(f"{part.filename or part.content_type} ({len(part.data)} octets)")
            continue
        store_attachment(ticket, message, part.filename, part.content_type, part.data,
                         content_id=part.content_id, inline=part.inline,
                         max_bytes=config.max_attachment_bytes, var_dir=config.var_dir)
    return skipped


def _note(ticket: Ticket, text: str, row: InboundMail | None = None) -> Message:
    """An internal note (never mailed): stored text, so written in the source language."""
    note = Message(ticket=ticket, kind=MessageKind.NOTE, public=False, body_text=text,
                   inbound_mail_id=row.id if row is not None else None)
    db.session.add(note)
    db.session.flush()
    return note


def _note_skipped(ticket: Ticket, row: InboundMail, skipped: list[str], config: IngestConfig) -> None:
    if skipped:
        _note(ticket, "Pièces jointes non enregistrées (au-delà de la limite de "
              f"{config.max_attachment_bytes} octets) : " + ", ".join(skipped)
              + f". Le message d'origine est conservé (courrier entrant n° {row.id}).", row)


def _add_reply(row: InboundMail, parsed: ParsedMail, ticket: Ticket, how: str, user: User | None,
               sender: str, config: IngestConfig) -> _Decision:
    author = user or tickets.create_requester(sender, parsed.from_name)
    if ticket.status in ENDED_STATUSES and not author.is_staff:
        closed_at = ticket.closed_at or ticket.updated_at
        if closed_at is not None and utcnow() - closed_at > timedelta(days=config.reopen_window_days):
            decision = _new_ticket(row, parsed, author, sender, config, previous=ticket)
            decision.reason = f"reply to #{ticket.id} ({how}) after the reopen window: new ticket #{decision.ticket.id}"
            return decision
        workflow.reopen(ticket, author, note=f"Réouvert par la réponse de {sender}.")
        reason = f"reply to #{ticket.id} ({how}); reopened"
    else:
        reason = f"reply to #{ticket.id} ({how})"
    message = _message_from(parsed, row, ticket, author, sender)
    _note_skipped(ticket, row, _store_attachments(ticket, message, parsed, config), config)
    ticket.updated_at = utcnow()
    notifications.requester_replied(ticket, message)
    return _Decision(InboundOutcome.REPLY_ADDED, reason, ticket)


def _category_id(name: str) -> int | None:
    if not name:
        return None
    category = db.session.execute(db.select(Category).where(Category.name == name)).scalar_one_or_none()
    if category is None:
        category = Category(name=name[:200])
        db.session.add(category)
        db.session.flush()
    return category.id


@dataclass
class _NewMail:
    """A mail that opens a ticket; index: its place in ingest_batch()'s results."""

    row: InboundMail
    parsed: ParsedMail
    user: User | None
    sender: str
    previous: Ticket | None = None
    index: int = -1


def _new_ticket(row: InboundMail, parsed: ParsedMail, user: User | None, sender: str,
                config: IngestConfig, previous: Ticket | None = None) -> _Decision:
    return _new_tickets([_NewMail(row, parsed, user, sender, previous)], config)[0]


def _new_tickets(mails: list[_NewMail], config: IngestConfig) -> list[_Decision]:
    """Open one ticket per mail, in order, through tickets.open_tickets (one flush for them all)."""
    category_id = _category_id(config.default_category)
    requesters = [mail.user or tickets.create_requester(mail.sender, mail.parsed.from_name) for mail in mails]
    opened = tickets.open_tickets([
        tickets.TicketDraft(
            requester, mail.parsed.subject, mail.parsed.body_text, source=Source.MAIL,
            origin_message_id=mail.parsed.message_id, body_html=mail.parsed.body_html,
            display_text=mail.parsed.display_text, category_id=category_id, inbound_mail_id=mail.row.id,
        ) for mail, requester in zip(mails, requesters)
    ])
    decisions = []
    for mail, requester, ticket in zip(mails, requesters, opened):
        if mail.previous is not None:
            ticket.previous_ticket_id = mail.previous.id
        _note_skipped(ticket, mail.row, _store_attachments(ticket, ticket.messages[0], mail.parsed, config), config)
        _add_watchers(ticket, mail.parsed, requester, config)
        decisions.append(_Decision(InboundOutcome.TICKET_CREATED, f"new ticket #{ticket.id}", ticket))
    return decisions


def _add_watchers(ticket: Ticket, parsed: ParsedMail, requester: User, config: IngestConfig) -> None:
    """People in copy of the first mail hear about the ticket (not our own addresses)."""
    seen = {requester.id}
    for name, address in parsed.to + parsed.cc:
        try:
            address = tickets.normalise_email(address)
        except tickets.InvalidAddress:
            continue
        if _is_own_address(address, config):
            continue
        person = tickets.find_user(address)
        if person is None:
            if not _domain_allowed(address, config):
                continue
            person = tickets.ensure_requester(address, name)
        if person.id in seen:
            continue
        seen.add(person.id)
        db.session.add(TicketWatcher(ticket=ticket, user=person))


def _is_own_address(address: str, config: IngestConfig) -> bool:
    local, _, domain = address.partition("@")
    support_local, _, support_domain = config.support_address.partition("@")
    return domain == support_domain and local.split("+", 1)[0] == support_local.split("+", 1)[0]


def _ticket_for_robot(parsed: ParsedMail, config: IngestConfig) -> Ticket | None:
    """The ticket a bounce or auto-reply concerns: only by our signed identities (robots lie)."""
    ids = ([parsed.returned_message_id] if parsed.returned_message_id else []) + list(parsed.thread_ids)
    ids += mailids_in_text(parsed.body_text)
    ticket = _resolve(mailids.ticket_id_from_references(ids, config.secret_key))
    if ticket is None:
        for _, address in parsed.to + parsed.cc:
            ticket = _resolve(mailids.ticket_id_from_address(address, config.secret_key, config.support_address))
            if ticket is not None:
                break
    return ticket


_OUR_MSGID_IN_TEXT = re.compile(r"<hd\.t\d{1,12}\.[0-9a-z]{1,40}\.[0-9a-f]{16}@[^<>@\s]+>")


def mailids_in_text(text: str) -> list[str]:
    """Our Message-IDs quoted in a body (bounces that paste the returned headers as text)."""
    return _OUR_MSGID_IN_TEXT.findall(text[:200_000])


def _known_user(address: str | None) -> User | None:
    try:
        return tickets.find_user(address) if address else None
    except tickets.InvalidAddress:
        return None


def _record_bounce(row: InboundMail, parsed: ParsedMail, reason: str, config: IngestConfig) -> _Decision:
    ticket = _ticket_for_robot(parsed, config)
    failures = [f for f in parsed.delivery_failures if f.action in ("failed", "delayed", "")]
    marked = []
    until = utcnow() + timedelta(days=config.bounce_undeliverable_days)
    for failure in failures:
        if not failure.permanent:
            continue
        person = _known_user(failure.address)
        if person is not None:
            person.undeliverable_until = until
            person.undeliverable_reason = f"{failure.status} {failure.diagnostic}".strip()[:1000] or "bounce"
            marked.append(failure.address)
    if ticket is not None:
        lines = [f"- {f.address} : {f.action or 'échec'} {f.status} {f.diagnostic}".rstrip() for f in failures]
        _note(ticket, "Avis de non-distribution reçu"
              + (f" de {parsed.from_address}" if parsed.from_address else "") + ".\n"
              + ("\n".join(lines) if lines else parsed.display_text[:2000]), row)
    where = f"ticket #{ticket.id}" if ticket is not None else "no ticket found"
    marks = f"; undeliverable: {', '.join(marked)}" if marked else ""
    return _Decision(InboundOutcome.BOUNCE, f"{reason}; {where}{marks}", ticket)


def _record_auto_reply(row: InboundMail, parsed: ParsedMail, reason: str, config: IngestConfig) -> _Decision:
    ticket = _ticket_for_robot(parsed, config)
    if ticket is None:
        return _Decision(InboundOutcome.AUTO_REPLY, f"{reason}; no ticket; dropped")
    author = _known_user(parsed.from_address)
    note = Message(
        ticket=ticket, kind=MessageKind.NOTE, public=False, author=author,
        from_address=(parsed.from_address or "")[:320] or None,
        body_text=f"Réponse automatique ({reason}) : {parsed.subject}\n\n{parsed.display_text}".strip(),
        message_id=parsed.message_id, inbound_mail_id=row.id,
    )
    db.session.add(note)
    db.session.flush()
    return _Decision(InboundOutcome.AUTO_REPLY, f"{reason}; note on ticket #{ticket.id}", ticket)


def summarise(outcomes) -> str:
    """"2 ticket_created, 1 duplicate": one count per outcome name, in the ledger's order."""
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome] = counts.get(outcome, 0) + 1
    order = [o.value for o in InboundOutcome] + ["error"]
    return ", ".join(f"{counts[k]} {k}" for k in order if k in counts) or "nothing"
