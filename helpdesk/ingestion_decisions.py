"""Mail in, the decision chain: what a message recorded in the ledger becomes (issue 3).

helpdesk.ingestion records every message in the ledger first; then decide() says, in order,
whether it is our own mail coming back (dropped), a bounce (recorded on the ticket it concerns),
an auto-reply (an internal note, never a ticket, a status change or a mail), a reply to a known
ticket (threaded by our signed Message-IDs, then the signed reply address, then the weaker hints
only for people on the ticket; a closed ticket reopens within the window) or a new ticket. Robots
are matched by our signed identities only. Everything here flushes; ingestion records the outcome
and the caller commits.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from . import mailids, notifications, tickets, workflow
from .extensions import db
from .files import store_attachment
from .mailclassify import auto_reply_reason, bounce_reason
from .mailparse import ParsedMail
from .models import (
    ENDED_STATUSES, Category, InboundMail, InboundOutcome, Message, MessageKind, Source, Ticket, TicketWatcher,
    User, utcnow,
)

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


@dataclass
class Decision:
    """What decide() made of a mail: the ledger's outcome and reason, and the ticket it went to."""

    outcome: InboundOutcome
    reason: str
    ticket: Ticket | None = None


@dataclass
class NewMail:
    """A mail that opens a ticket; index: its place in ingest_batch()'s results."""

    row: InboundMail
    parsed: ParsedMail
    user: User | None
    sender: str
    previous: Ticket | None = None
    index: int = -1


def plain_new_ticket(sender: str | None, users: dict[str, User]) -> User | None:
    """The requester when decide() would surely open a ticket for this mail and do nothing else:
    the sender of a plain mail (plain_sender()) is an active user of `users`. Such mails are held
    and opened together (ingestion._open_held); anything this does not vouch for goes through decide()."""
    user = users.get(sender) if sender else None
    return user if user is not None and user.active else None


def newcomer(sender: str | None, config: IngestConfig, users: dict[str, User]) -> bool:
    """The sender of a plain mail (plain_sender()) is not in `users` and may open tickets: decide()
    would create them as a requester (ingest_batch creates a batch's newcomers together)."""
    return sender is not None and sender not in users and _domain_allowed(sender, config)


def plain_sender(parsed: ParsedMail | None, config: IngestConfig) -> str | None:
    """The normalised sender of a mail that can only open a new ticket: a person's mail naming no
    ticket, with no one else in copy and no attachment; None for anything else."""
    if parsed is None or parsed.thread_ids or parsed.attachments:
        return None
    sender = (parsed.from_address or "").lower()
    if _is_own_mail(parsed, sender, config) or bounce_reason(parsed) or auto_reply_reason(parsed):
        return None
    try:
        sender = tickets.normalise_email(sender)
    except tickets.InvalidAddress:
        return None
    if mailids.ticket_id_from_subject(parsed.subject) is not None:
        return None
    for _, address in parsed.to + parsed.cc:  # a watcher to find or create, or a signed reply address
        if not _is_own_address(address.lower(), config) or mailids.ticket_id_from_address(
                address, config.secret_key, config.support_address) is not None:
            return None
    for address in parsed.delivered_to:
        if mailids.ticket_id_from_address(address, config.secret_key, config.support_address) is not None:
            return None
    return sender


def decide(row: InboundMail, parsed: ParsedMail, config: IngestConfig,
            users: dict[str, User] | None = None) -> Decision:
    sender = (parsed.from_address or "").lower()
    if _is_own_mail(parsed, sender, config):
        return Decision(InboundOutcome.OWN_MAIL, "our own mail came back; dropped")
    reason = bounce_reason(parsed)
    if reason:
        return _record_bounce(row, parsed, reason, config)
    reason = auto_reply_reason(parsed)
    if reason:
        return _record_auto_reply(row, parsed, reason, config)
    try:
        sender = tickets.normalise_email(sender)
    except tickets.InvalidAddress:
        return Decision(InboundOutcome.QUARANTINED, f"no usable sender address ({parsed.from_address!r})")
    # Absent from users: unknown at the start of the batch, maybe created by an earlier mail of it.
    user = users.get(sender) if users else None
    user = user or tickets.find_user(sender)
    if user is None and not _domain_allowed(sender, config):
        return Decision(InboundOutcome.QUARANTINED, f"unknown sender: {sender} (domain not in allowed_sender_domains)")
    if user is not None and not user.active:
        return Decision(InboundOutcome.QUARANTINED, f"sender's account is deactivated: {sender}")
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
               sender: str, config: IngestConfig) -> Decision:
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
    return Decision(InboundOutcome.REPLY_ADDED, reason, ticket)


def _category_id(name: str) -> int | None:
    if not name:
        return None
    category = db.session.execute(db.select(Category).where(Category.name == name)).scalar_one_or_none()
    if category is None:
        category = Category(name=name[:200])
        db.session.add(category)
        db.session.flush()
    return category.id


def _new_ticket(row: InboundMail, parsed: ParsedMail, user: User | None, sender: str,
                config: IngestConfig, previous: Ticket | None = None) -> Decision:
    return new_tickets([NewMail(row, parsed, user, sender, previous)], config)[0]


def new_tickets(mails: list[NewMail], config: IngestConfig) -> list[Decision]:
    """Open one ticket per mail, in order, through tickets.open_tickets (a few statements for them all)."""
    category_id = _category_id(config.default_category)
    requesters = [mail.user or tickets.create_requester(mail.sender, mail.parsed.from_name) for mail in mails]
    opened = tickets.open_tickets([
        tickets.TicketDraft(
            requester, mail.parsed.subject, mail.parsed.body_text, source=Source.MAIL,
            origin_message_id=mail.parsed.message_id, body_html=mail.parsed.body_html,
            display_text=mail.parsed.display_text, category_id=category_id, inbound_mail_id=mail.row.id,
            previous_ticket_id=mail.previous.id if mail.previous is not None else None,
        ) for mail, requester in zip(mails, requesters)
    ])
    decisions = []
    for mail, requester, ticket in zip(mails, requesters, opened):
        _note_skipped(ticket, mail.row, _store_attachments(ticket, ticket.messages[0], mail.parsed, config), config)
        _add_watchers(ticket, mail.parsed, requester, config)
        decisions.append(Decision(InboundOutcome.TICKET_CREATED, f"new ticket #{ticket.id}", ticket))
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


def _record_bounce(row: InboundMail, parsed: ParsedMail, reason: str, config: IngestConfig) -> Decision:
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
    return Decision(InboundOutcome.BOUNCE, f"{reason}; {where}{marks}", ticket)


def _record_auto_reply(row: InboundMail, parsed: ParsedMail, reason: str, config: IngestConfig) -> Decision:
    ticket = _ticket_for_robot(parsed, config)
    if ticket is None:
        return Decision(InboundOutcome.AUTO_REPLY, f"{reason}; no ticket; dropped")
    author = _known_user(parsed.from_address)
    note = Message(
        ticket=ticket, kind=MessageKind.NOTE, public=False, author=author,
        from_address=(parsed.from_address or "")[:320] or None,
        body_text=f"Réponse automatique ({reason}) : {parsed.subject}\n\n{parsed.display_text}".strip(),
        message_id=parsed.message_id, inbound_mail_id=row.id,
    )
    db.session.add(note)
    db.session.flush()
    return Decision(InboundOutcome.AUTO_REPLY, f"{reason}; note on ticket #{ticket.id}", ticket)

