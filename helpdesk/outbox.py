"""The outbox: every outgoing mail is a row, written in the transaction of the change that causes it.

enqueue() renders one mail per recipient, in the recipient's language, with its own Message-ID,
and applies the loop guards. The worker's deliver_pending() (helpdesk.delivery) claims due rows
and sends them; retry() puts a failed or skipped mail back in the queue. Nothing here opens a
socket: the worker passes a transport.
"""
from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Iterable, Mapping, Protocol, Sequence

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import and_, func, literal, or_, union_all, update

from . import mailids
from .extensions import db
from .mailcompose import Envelope, MailAttachment, UnsafeHeader, compose, is_valid_message_id, one_line
from .models import Message, MessageKind, OutboundMail, OutboundStatus, Ticket, User, utcnow

log = logging.getLogger(__name__)

LANGUAGES = ("fr", "en")
ACKNOWLEDGEMENT = "acknowledgement"
# Mails the system sends on its own: the loop guards count and cap these. A referent's reply and
# a requester's message relayed to the team are written by people and are never capped.
AUTOMATIC_EVENTS = frozenset({ACKNOWLEDGEMENT, "status_changed", "assigned"})
# How many earlier Message-IDs of the thread go into References (the header stays short).
REFERENCES_KEPT = 10

# Where loop_counts_prefetched() keeps a batch's counts, and the mails it skipped, in the session's info.
_LOOP_COUNTS = "outbox_loop_counts"
_BATCH_SKIPS = "outbox_batch_skips"

# Longest wait between two attempts, whatever outbox_backoff_seconds says.
BACKOFF_CAP_SECONDS = 6 * 3600

__all__ = ["DeliveryReport", "MailAttachment", "OutboxConfig", "OutboxError", "PermanentFailure",
           "Recipient", "TemporaryFailure", "Transport", "TransportDown", "deliver_pending", "enqueue",
           "retry"]


class OutboxError(Exception):
    """A refused outbox action (unknown mail, wrong state); the message says why."""


@dataclass(frozen=True)
class Recipient:
    """One person to mail: an address, a name, a language and whether they are on the team."""

    address: str
    name: str = ""
    language: str = "fr"
    staff: bool = False
    user: User | None = field(default=None, compare=False, hash=False, repr=False)

    @classmethod
    def of(cls, user: User, default_language: str = "fr") -> "Recipient":
        language = user.language if user.language in LANGUAGES else default_language
        return cls(user.email, user.display_name or "", language, user.is_staff, user)


@dataclass(frozen=True)
class OutboxConfig:
    """The settings enqueue needs, as plain values."""

    support_address: str
    site_name: str
    secret_key: str
    message_id_domain: str
    base_url: str
    default_language: str = "fr"
    loop_max_per_ticket: int = 10
    loop_max_per_window: int = 30
    loop_window_minutes: int = 10
    loop_ack_period_minutes: int = 60

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> "OutboxConfig":
        return cls(
            support_address=settings["support_address"],
            site_name=settings["site_name"],
            secret_key=settings["secret_key"],
            message_id_domain=settings["message_id_domain"] or mailids.domain_of(settings["support_address"]),
            base_url=settings["base_url"].rstrip("/"),
            default_language=settings["default_language"],
            loop_max_per_ticket=settings["loop_max_per_ticket"],
            loop_max_per_window=settings["loop_max_per_window"],
            loop_window_minutes=settings["loop_window_minutes"],
            loop_ack_period_minutes=settings["loop_ack_period_minutes"],
        )


def current_config() -> OutboxConfig:
    """The outbox settings of the running app (event hooks are called without settings)."""
    return OutboxConfig.from_settings(current_app.config["HELPDESK"])


def _as_recipient(value: User | Recipient | str, default_language: str) -> Recipient:
    if isinstance(value, Recipient):
        return value
    if isinstance(value, User):
        return Recipient.of(value, default_language)
    address = (value or "").strip().lower()
    user = db.session.execute(db.select(User).where(User.email == address)).scalar_one_or_none()
    if user is not None:
        return Recipient.of(user, default_language)
    return Recipient(address, "", default_language)


def enqueue(
    event: str,
    recipients: Iterable[User | Recipient | str],
    context: Mapping[str, Any],
    *,
    ticket: Ticket | None = None,
    attachments: Sequence[MailAttachment] = (),
    template: str | None = None,
    config: OutboxConfig | None = None,
    new_ticket: bool = False,
) -> list[OutboundMail]:
    """Write one OutboundMail row per recipient (rendered from templates/mail/<template or event>/).

    Rows come back PENDING, or SKIPPED with the reason in last_error (loop guard, undeliverable
    address, unusable address). The caller's transaction holds them: nothing is sent here.

    :param new_ticket: the ticket was opened in this transaction and holds only its first message
        (workflow.record_creation): its thread is its root alone, so no thread query is made.
    """
    config = config or current_config()
    now = utcnow()
    rows: list[OutboundMail] = []
    seen: set[str] = set()
    for value in recipients:
        recipient = _as_recipient(value, config.default_language)
        if not recipient.address or recipient.address in seen:
            continue
        seen.add(recipient.address)
        rows.append(_enqueue_one(event, recipient, context, ticket, attachments, template or event, config, now,
                                 new_ticket))
    return rows


def _enqueue_one(event, recipient, context, ticket, attachments, template, config, now, new_ticket) -> OutboundMail:
    skip = _skip_reason(event, recipient, ticket, config, now, new_ticket)
    with force_locale(recipient.language):
        values = {**context, "recipient": recipient, "ticket": ticket, "site_name": config.site_name,
                  "base_url": config.base_url}
        subject = one_line(_render(f"mail/{template}/subject.txt", values), 300)
        text = _render(f"mail/{template}/body.txt", values)
        html = _render(f"mail/{template}/body.html", values)
    if ticket is not None:
        subject = f"{mailids.subject_tag(ticket.id)} {subject}"
        message_id = mailids.make_message_id(ticket.id, config.secret_key, config.message_id_domain)
        reply_to = mailids.reply_address(ticket.id, config.secret_key, config.support_address)
        # A ticket opened in this transaction has no mail of ours and no later message of theirs.
        thread = [thread_root(ticket, config)] if new_ticket else _thread_ids(ticket, recipient.address, config)
    else:
        message_id = f"<hd.n.{secrets.token_hex(12)}@{config.message_id_domain}>"
        reply_to, thread = None, []
    envelope = Envelope(
        from_address=config.support_address, from_name=config.site_name,
        to_address=recipient.address, to_name=recipient.name, subject=subject,
        message_id=message_id, date=now, reply_to=reply_to,
        in_reply_to=thread[-1] if thread else None, references=tuple(thread),
        auto_submitted="auto-replied" if event == ACKNOWLEDGEMENT else "auto-generated",
        language=recipient.language,
    )
    try:
        raw = compose(envelope, text, html, tuple(attachments))
    except UnsafeHeader as exc:
        raw, skip = b"", f"unusable: {exc}"
    row = OutboundMail(
        ticket_id=ticket.id if ticket is not None else None, event=event,
        recipient=recipient.address[:320], recipient_user_id=recipient.user.id if recipient.user else None,
        message_id=message_id, subject=subject, raw=raw,
        status=OutboundStatus.SKIPPED if skip else OutboundStatus.PENDING,
        attempts=0, next_attempt_at=now, last_error=skip or "", created_at=now,
    )
    # Not flushed here: workflow.transition renders every mail of a move before writing any (SQLite
    # lock). A later query's autoflush writes it; a recipient's guards and thread read that address's
    # rows only, and enqueue() queues one mail per address, so the move's other rows need not show yet.
    db.session.add(row)
    if not skip:
        _count_queued(event, recipient.address)
    if skip:
        batch_skips = db.session.info.get(_BATCH_SKIPS)
        if batch_skips is not None:
            batch_skips.append((row.ticket_id, event, row.recipient, skip))
        else:
            log.warning("ticket %s: %s mail to %s skipped: %s", row.ticket_id, event, row.recipient, skip)
    return row


def _render(name: str, values: Mapping[str, Any]) -> str:
    """A mail template with these values only: not Flask's render_template, whose context processors
    would hand a mail the web request, session and signed-in user (and cost a third of the render)."""
    return current_app.jinja_env.get_template(name).render(values)


@dataclass
class _LoopCount:
    """Automatic mails to one address not skipped: in the loop window, and acknowledgements."""

    recent: int = 0
    acks: int = 0


@contextlib.contextmanager
def loop_counts_prefetched(addresses: Iterable[str], config: OutboxConfig | None = None):
    """For a batch (ingestion.ingest_batch): the loop guards' counts of these addresses in one query.

    Inside the block, enqueue() reads a prefetched address's counts from memory, and adds each
    automatic mail it queues to them, for new tickets' mails (per-ticket count 0, see enqueue's
    new_ticket); other mails still query. The counts are taken once for the block, so a mail that
    leaves the window during it still counts: the guard is stricter, never looser. The mails
    skipped inside the block are logged together at its end (_log_batch_skips).
    """
    config = config or current_config()
    now = utcnow()
    counts = {address: _LoopCount() for address in addresses}
    if counts:
        found = db.session.execute(
            db.select(
                OutboundMail.recipient,
                func.count().filter(OutboundMail.created_at >= now - timedelta(minutes=config.loop_window_minutes)),
                func.count().filter(OutboundMail.event == ACKNOWLEDGEMENT, OutboundMail.created_at
                                    >= now - timedelta(minutes=config.loop_ack_period_minutes)),
            ).where(
                OutboundMail.recipient.in_(counts),
                OutboundMail.event.in_(AUTOMATIC_EVENTS),
                OutboundMail.status != OutboundStatus.SKIPPED,
            ).group_by(OutboundMail.recipient)
        )
        for address, recent, acks in found:
            counts[address] = _LoopCount(recent, acks)
    db.session.info[_LOOP_COUNTS] = counts
    db.session.info[_BATCH_SKIPS] = []
    try:
        yield
    finally:
        db.session.info.pop(_LOOP_COUNTS, None)
        _log_batch_skips(db.session.info.pop(_BATCH_SKIPS, []))


def _log_batch_skips(skips: list[tuple[int | None, str, str, str]]) -> None:
    """One warning for the mails a batch skipped, by reason, with the first one as an example: a
    line per mail was a twentieth of an import where one person writes fifty times an hour. Each
    row keeps its own reason (`helpdesk outbox list --status skipped`)."""
    if not skips:
        return
    reasons = Counter(reason for *_, reason in skips)
    ticket_id, event, recipient, reason = skips[0]
    log.warning("%d mails skipped in this batch: %s (the first: ticket %s, %s mail to %s); each keeps its reason, "
                "see `helpdesk outbox list --status skipped`", len(skips),
                "; ".join(f"{count} × {reason}" for reason, count in reasons.most_common()), ticket_id, event, recipient)


def _loop_counts(recipient: Recipient, ticket: Ticket | None, config: OutboxConfig, now,
                 new_ticket: bool) -> tuple[int, int, int]:
    """(automatic mails to this address about this ticket, in the window, acknowledgements in
    the acknowledgement period), not counting skipped ones."""
    prefetched = db.session.info.get(_LOOP_COUNTS, {}).get(recipient.address)
    if prefetched is not None and new_ticket:
        return 0, prefetched.recent, prefetched.acks
    window_start = now - timedelta(minutes=config.loop_window_minutes)
    ack_start = now - timedelta(minutes=config.loop_ack_period_minutes)
    # One query for the three counts.
    return db.session.execute(
        db.select(
            func.count().filter(OutboundMail.ticket_id == (ticket.id if ticket is not None else -1)),
            func.count().filter(OutboundMail.created_at >= window_start),
            func.count().filter(OutboundMail.event == ACKNOWLEDGEMENT, OutboundMail.created_at >= ack_start),
        ).where(
            OutboundMail.recipient == recipient.address,
            OutboundMail.event.in_(AUTOMATIC_EVENTS),
            OutboundMail.status != OutboundStatus.SKIPPED,
        )
    ).one()


def _count_queued(event: str, address: str) -> None:
    """Add a queued (not skipped) mail to the prefetched counts of its address, if any."""
    prefetched = db.session.info.get(_LOOP_COUNTS, {}).get(address)
    if prefetched is not None and event in AUTOMATIC_EVENTS:
        prefetched.recent += 1
        prefetched.acks += event == ACKNOWLEDGEMENT


def _skip_reason(event: str, recipient: Recipient, ticket: Ticket | None, config: OutboxConfig, now,
                 new_ticket: bool = False) -> str | None:
    """Why this mail must not be sent (undeliverable address, loop guard), or None."""
    user = recipient.user
    if user is not None and user.undeliverable_until is not None and user.undeliverable_until > now:
        why = f": {one_line(user.undeliverable_reason or '', 200)}" if user.undeliverable_reason else ""
        return f"undeliverable until {user.undeliverable_until:%Y-%m-%d}{why}"
    if event not in AUTOMATIC_EVENTS:
        return None
    per_ticket, recent, acks = _loop_counts(recipient, ticket, config, now, new_ticket)
    if ticket is not None and per_ticket >= config.loop_max_per_ticket:
        return f"loop guard: {per_ticket} automatic mails to this address about this ticket"
    if recent >= config.loop_max_per_window:
        return f"loop guard: {recent} automatic mails to this address in {config.loop_window_minutes} minutes"
    if event == ACKNOWLEDGEMENT and acks:
        return f"loop guard: already acknowledged within {config.loop_ack_period_minutes} minutes"
    return None


def thread_root(ticket: Ticket, config: OutboxConfig) -> str:
    """The Message-ID every mail about the ticket refers to: the mail that opened it, or for a
    ticket opened on the web a fixed one of ours (signed, so a reply naming it finds the ticket)."""
    if is_valid_message_id(ticket.origin_message_id):
        return ticket.origin_message_id
    return mailids.make_message_id(ticket.id, config.secret_key, config.message_id_domain, nonce="root")


def _thread_ids(ticket: Ticket, address: str, config: OutboxConfig) -> list[str]:
    """Message-IDs this recipient has seen on the ticket, oldest first: the thread root, the
    recipient's own later messages and the mails we sent them (References; the last one is
    In-Reply-To)."""
    ours = (
        db.select(OutboundMail.created_at.label("at"), literal(1).label("kind"), OutboundMail.id.label("id"),
                  OutboundMail.message_id.label("mid"))
        .where(OutboundMail.ticket_id == ticket.id, OutboundMail.recipient == address,
               OutboundMail.status != OutboundStatus.SKIPPED)
        .order_by(OutboundMail.id.desc()).limit(REFERENCES_KEPT)
    )
    theirs = (
        db.select(Message.created_at.label("at"), literal(0).label("kind"), Message.id.label("id"),
                  Message.message_id.label("mid"))
        .where(Message.ticket_id == ticket.id, Message.kind == MessageKind.INBOUND,
               Message.from_address == address, Message.message_id.is_not(None))
        .order_by(Message.id.desc()).limit(REFERENCES_KEPT)
    )
    # One round trip for both (this runs for every mail queued, e.g. each ticket opened by mail).
    both = union_all(db.select(ours.subquery()), db.select(theirs.subquery()))
    found = sorted(db.session.execute(both).all(), key=lambda row: (row.at, row.kind, -row.id))
    found = [(row.at, row.kind, row.mid) for row in found]
    root = thread_root(ticket, config)
    ids = [root] + [mid for _, _, mid in found if is_valid_message_id(mid) and mid != root]
    # Keep the origin and the most recent ones.
    if len(ids) > REFERENCES_KEPT:
        ids = ids[:1] + ids[-(REFERENCES_KEPT - 1):]
    return list(dict.fromkeys(ids))


def retry(outbound_mail_id: int) -> OutboundMail:
    """Put a failed or skipped mail back in the queue, to be sent at once (same bytes, same Message-ID)."""
    row = db.session.get(OutboundMail, outbound_mail_id)
    if row is None:
        raise OutboxError(f"no outgoing mail {outbound_mail_id}")
    if row.status not in (OutboundStatus.FAILED, OutboundStatus.SKIPPED):
        raise OutboxError(f"mail {row.id} is {row.status.value}: only failed or skipped mail can be retried")
    if not row.raw:
        raise OutboxError(f"mail {row.id} cannot be sent: {row.last_error}")
    row.status = OutboundStatus.PENDING
    row.attempts = 0
    row.next_attempt_at = utcnow()
    row.claimed_until = None
    row.claim_token = None
    db.session.flush()
    log.info("ticket %s: mail %s to %s queued again", row.ticket_id, row.id, row.recipient)
    return row


def list_mails(status: OutboundStatus | None = None, ticket_id: int | None = None,
               limit: int = 100) -> list[OutboundMail]:
    """Outgoing mails, newest first, optionally of one status or one ticket."""
    query = db.select(OutboundMail).order_by(OutboundMail.id.desc()).limit(limit)
    if status is not None:
        query = query.where(OutboundMail.status == status)
    if ticket_id is not None:
        query = query.where(OutboundMail.ticket_id == ticket_id)
    return list(db.session.execute(query).scalars())


def problems_for_ticket(ticket_id: int) -> list[OutboundMail]:
    """The ticket's mails that did not go out (failed or skipped), for the desk's warning."""
    return list(db.session.execute(
        db.select(OutboundMail)
        .where(OutboundMail.ticket_id == ticket_id,
               OutboundMail.status.in_((OutboundStatus.FAILED, OutboundStatus.SKIPPED)))
        .order_by(OutboundMail.id)
    ).scalars())


# --- Delivery --------------------------------------------------------------------------------

class TemporaryFailure(Exception):
    """The mail may go through later (4xx, timeout): retried with backoff."""


class TransportDown(TemporaryFailure):
    """The server cannot be reached or refused us (connection, TLS, authentication): stop the pass."""


class PermanentFailure(Exception):
    """The server refused this mail for good (5xx for the recipient or the message): failed at once."""


class Transport(Protocol):
    def send(self, mail_from: str, recipient: str, raw: bytes) -> None: ...

    def close(self) -> None: ...


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.sent} sent, {self.retried} to retry, {self.failed} failed"


@dataclass(frozen=True)
class DeliveryConfig:
    """The settings deliver_pending needs, as plain values."""

    mail_from: str
    max_attempts: int = 8
    backoff_seconds: int = 60
    batch_size: int = 50
    claim_seconds: int = 300
    default_language: str = "fr"

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> "DeliveryConfig":
        return cls(
            mail_from=settings["support_address"], max_attempts=settings["outbox_max_attempts"],
            backoff_seconds=settings["outbox_backoff_seconds"], batch_size=settings["outbox_batch_size"],
            claim_seconds=settings["outbox_claim_seconds"], default_language=settings["default_language"],
        )


@dataclass(frozen=True)
class ClaimedMail:
    """What a worker needs of a claimed row, read once (commits expire the ORM objects)."""

    id: int
    ticket_id: int | None
    recipient: str
    subject: str
    raw: bytes
    attempts: int


def claim_due(batch_size: int, claim_seconds: int) -> tuple[str, list[ClaimedMail]]:
    """Atomically take up to batch_size due mails (and mails whose claim expired) for this worker.

    One UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED): on PostgreSQL concurrent
    workers skip each other's rows; on SQLite the single UPDATE holds the write lock. The caller
    commits the claim before sending.
    """
    now = utcnow()
    token = secrets.token_hex(16)
    due = (
        db.select(OutboundMail.id)
        .where(or_(
            and_(OutboundMail.status == OutboundStatus.PENDING, OutboundMail.next_attempt_at <= now),
            and_(OutboundMail.status == OutboundStatus.SENDING, OutboundMail.claimed_until < now),
        ))
        .order_by(OutboundMail.next_attempt_at, OutboundMail.id)
        .limit(batch_size)
        .with_for_update(skip_locked=True)
    )
    db.session.execute(
        update(OutboundMail).where(OutboundMail.id.in_(due.scalar_subquery()))
        .values(status=OutboundStatus.SENDING, claimed_until=now + timedelta(seconds=claim_seconds),
                claim_token=token)
        .execution_options(synchronize_session=False)
    )
    rows = db.session.execute(
        db.select(OutboundMail.id, OutboundMail.ticket_id, OutboundMail.recipient, OutboundMail.subject,
                  OutboundMail.raw, OutboundMail.attempts)
        .where(OutboundMail.claim_token == token).order_by(OutboundMail.id)
    ).all()
    return token, [ClaimedMail(*row) for row in rows]


def _settle(row: ClaimedMail, token: str, **values) -> bool:
    """Record the outcome of a send, only if this worker still holds the claim; commits."""
    values.setdefault("claimed_until", None)
    values.setdefault("claim_token", None)
    result = db.session.execute(
        update(OutboundMail).where(OutboundMail.id == row.id, OutboundMail.claim_token == token)
        .values(**values).execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def _note_failure(row: ClaimedMail, error: str, language: str) -> None:
    """An internal note on the ticket's timeline: the team sees that a mail gave up."""
    if row.ticket_id is None:
        return
    with force_locale(language):
        text = _("Le mail « %(subject)s » à %(recipient)s n'a pas pu être envoyé : %(error)s",
                 subject=row.subject, recipient=row.recipient, error=error)
    db.session.add(Message(ticket_id=row.ticket_id, kind=MessageKind.NOTE, public=False, body_text=text))


def deliver_pending(transport: Transport, config: DeliveryConfig, time_limit: float | None = None) -> DeliveryReport:
    """Send every due mail through transport, recording each outcome as soon as it is known.

    Its own transaction boundary: the claim is committed before sending and each result right
    after, so a worker killed mid-pass loses nothing (the claim expires and the mail is sent
    again, same bytes and Message-ID). Stops early when the transport is down or time_limit
    seconds have passed.
    """
    report = DeliveryReport()
    started = time.monotonic()
    while time_limit is None or time.monotonic() - started < time_limit:
        token, rows = claim_due(config.batch_size, config.claim_seconds)
        db.session.commit()
        if not rows:
            break
        for index, row in enumerate(rows):
            if not _deliver_one(transport, config, row, token, report):
                _release(rows[index + 1:], token)
                return report
    return report


def _deliver_one(transport, config, row, token, report) -> bool:
    """Send one claimed row; False when the transport is down and the pass must stop."""
    attempts = row.attempts + 1
    now = utcnow()
    try:
        transport.send(config.mail_from, row.recipient, row.raw)
    except PermanentFailure as exc:
        error = one_line(str(exc), 1000)
        if _settle(row, token, status=OutboundStatus.FAILED, attempts=attempts, last_error=error):
            _note_failure(row, error, config.default_language)
            db.session.commit()
        report.failed += 1
        report.errors.append(f"mail {row.id}: {error}")
        log.warning("ticket %s: mail %s to %s refused: %s", row.ticket_id, row.id, row.recipient, error)
        return True
    except TemporaryFailure as exc:
        error = one_line(str(exc), 1000) or type(exc).__name__
        if attempts >= config.max_attempts:
            if _settle(row, token, status=OutboundStatus.FAILED, attempts=attempts, last_error=error):
                _note_failure(row, error, config.default_language)
                db.session.commit()
            report.failed += 1
        else:
            delay = min(config.backoff_seconds * 2 ** (attempts - 1), BACKOFF_CAP_SECONDS)
            _settle(row, token, status=OutboundStatus.PENDING, attempts=attempts, last_error=error,
                    next_attempt_at=now + timedelta(seconds=delay))
            report.retried += 1
        report.errors.append(f"mail {row.id}: {error}")
        log.warning("ticket %s: mail %s to %s not sent (attempt %s): %s",
                    row.ticket_id, row.id, row.recipient, attempts, error)
        return not isinstance(exc, TransportDown)
    _settle(row, token, status=OutboundStatus.SENT, attempts=attempts, sent_at=utcnow(), last_error="")
    report.sent += 1
    return True


def _release(rows: Sequence[ClaimedMail], token: str) -> None:
    """Give back claimed rows not tried in this pass, without counting an attempt."""
    for row in rows:
        _settle(row, token, status=OutboundStatus.PENDING)
