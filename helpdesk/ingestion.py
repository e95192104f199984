"""Mail in: a ledger row first, then one decision per message (issue 3).

Every message becomes one InboundMail row (mailbox, UIDVALIDITY, UID, Message-ID, SHA-256, raw
bytes) before anything else; its unique dedupe key (the Message-ID, else the hash) makes a second
import impossible, even with two pollers. Then the decision chain (helpdesk.ingestion_decisions)
says, in order: our own mail coming back, a bounce, an auto-reply, a reply to a known ticket, or a
new ticket. A message that cannot be handled is quarantined with its reason inside a savepoint,
so it never blocks the others and can be replayed. ingest_batch() is the poller's fast path for a
whole fetched batch (no savepoint per mail); when it fails, the poller rolls back and runs the
batch through ingest() one mail at a time.

Services flush; the caller (poller, CLI, drop-folder job) commits, and only then acts on the
mail server. Settings arrive as an IngestConfig of plain values.
"""
from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import defer

from . import ingestion_decisions as decisions, outbox, tickets
from .database import begin_write
from .extensions import db
from .mailparse import ParsedMail, Unparseable, parse_mail
from .ingestion_decisions import Decision, IngestConfig, NewMail
from .models import InboundMail, InboundOutcome, User, utcnow

log = logging.getLogger(__name__)

DEDUPE_KEY_MAX = 1000
_HEADER_MSGID_RE = re.compile(rb"^message-id[ \t]*:[ \t]*(?:\r?\n[ \t]+)?(<[^<>\s]{1,990}>)", re.I | re.M)


@dataclass(frozen=True)
class IngestResult:
    outcome: InboundOutcome
    reason: str = ""
    ticket_id: int | None = None
    inbound_mail_id: int | None = None
    # For a duplicate: what became of the first copy (the poller moves a quarantined one aside).
    earlier_outcome: InboundOutcome | None = None

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
class Prepared:
    """A mail parsed and identified, before any database work (prepare())."""

    sha: str
    key: str
    message_id: str | None
    parsed: ParsedMail | None
    failure: str


@dataclass(frozen=True)
class Incoming:
    """One fetched message for ingest_batch(); full_size as in ingest(). prepared: prepare()'s
    result when it was computed elsewhere (the poller's parse process, workers/parse_pool.py)."""

    raw: bytes
    uid: int | None = None
    full_size: int | None = None
    prepared: Prepared | None = None


def prepare(raw: bytes, config: IngestConfig, full_size: int | None) -> Prepared:
    """Parse (unless too large) and compute the ledger identity; no database, no app needed."""
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
        except Exception as exc:  # a bug of the parser must cost this mail alone, never the pass
            log.exception("a mail of %d bytes could not be parsed", size)
            failure = f"error: parse: {_one_line(exc)}"
    return _identified(raw, sha, parsed, failure)


def unparsed(raw: bytes, failure: str) -> Prepared:
    """A mail that could not be parsed, identified by its bytes and header scan, to quarantine."""
    return _identified(raw, hashlib.sha256(raw).hexdigest(), None, failure)


def _identified(raw: bytes, sha: str, parsed: ParsedMail | None, failure: str) -> Prepared:
    """The ledger identity: the parsed Message-ID, else the one the header scan finds, else the hash."""
    message_id = parsed.message_id if parsed else scan_message_id(raw)
    return Prepared(sha, dedupe_key(message_id, sha), message_id, parsed, failure)


def _row_values(raw: bytes, prepared: Prepared, mailbox: str, uidvalidity: int | None, uid: int | None) -> dict:
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
    prepared: Prepared | None = None,
) -> IngestResult:
    """Record one mail in the ledger and decide what it is; flushes, the caller commits.

    :param full_size: the size of the whole message when ``raw`` holds only its headers (an
        oversize IMAP message left on the server); such a mail is quarantined as too large.
    :param prepared: prepare()'s result when it was computed apart (Incoming.prepared).
    """
    begin_write(db.session)
    prepared = prepared or prepare(raw, config, full_size)
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
    prepared = [mail.prepared or prepare(mail.raw, config, mail.full_size) for mail in mails]
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
    # The senders of the mails that can only open a ticket, worked out once for the two uses below.
    plain = [decisions.plain_sender(p.parsed, config) if rows[p.key].outcome is None else None for p in prepared]
    # First-time senders of plain new tickets become requesters together, so their mails are held
    # and opened with the others instead of one by one through decide().
    newcomers: dict[str, str] = {}
    for ready, sender in zip(prepared, plain):
        if decisions.newcomer(sender, config, users):
            newcomers.setdefault(sender, ready.parsed.from_name)
    users.update(tickets.create_requesters(newcomers))
    results: list[IngestResult | None] = []
    held: dict[str, NewMail] = {}  # by dedupe key: plain new tickets, opened together
    # The senders are who the new tickets' acknowledgements go to: their loop guards in one query.
    with outbox.loop_counts_prefetched(senders):
        for ready, sender in zip(prepared, plain):
            row = rows[ready.key]
            # Decided by now (an earlier copy of it in this batch, held and opened): not plain any more.
            requester = decisions.plain_new_ticket(sender, users) if row.outcome is None else None
            if requester is not None and ready.key not in held:
                held[ready.key] = NewMail(row, ready.parsed, requester, requester.email, index=len(results))
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


def _open_held(held: dict[str, NewMail], results: list[IngestResult | None], config: IngestConfig) -> None:
    """Open the held mails' tickets in one flush and put their results in place."""
    if not held:
        return
    mails = list(held.values())
    held.clear()
    for mail, decision in zip(mails, decisions.new_tickets(mails, config)):
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
    prepared = prepare(row.raw, config, None)  # the same limits and parse as a first import
    return _process(row, prepared.parsed, prepared.failure, config)


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
        decision = Decision(InboundOutcome.QUARANTINED, failure)
    elif users is not None:
        decision = decisions.decide(row, parsed, config, users)
    else:
        decision = None
        for attempt in (1, 2):
            try:
                with db.session.begin_nested():
                    decision = decisions.decide(row, parsed, config)
                break
            except IntegrityError as exc:
                # A concurrent import created the same requester: the retry finds it.
                if attempt == 2:
                    decision = Decision(InboundOutcome.QUARANTINED, f"error: {_one_line(exc)}")
            except Exception as exc:  # a bug must cost one mail, never the pass
                log.exception("inbound %s: quarantined after an error", row.id)
                decision = Decision(InboundOutcome.QUARANTINED, f"error: {_one_line(exc)}")
                break
    return _record_outcome(row, decision)


def _record_outcome(row: InboundMail, decision: Decision) -> IngestResult:
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


def summarise(outcomes) -> str:
    """"2 ticket_created, 1 duplicate": one count per outcome name, in the ledger's order."""
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome] = counts.get(outcome, 0) + 1
    order = [o.value for o in InboundOutcome] + ["error"]
    return ", ".join(f"{counts[k]} {k}" for k in order if k in counts) or "nothing"
