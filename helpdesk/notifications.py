"""Who hears about what. One small function per event: it picks the recipients and the template
context, and queues the mails through helpdesk.outbox in the caller's transaction.

Rules (issue #4): requesters and the people in copy (watchers) hear public events only; internal
notes never leave the team; nobody is mailed about their own action, except the acknowledgement
of a ticket they opened. Every function returns the OutboundMail rows it wrote.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from . import outbox, ratings, workflow
from .extensions import db
from .mailcompose import MailAttachment
from .models import ENDED_STATUSES, Message, MessageKind, OutboundMail, Role, Status, StatusChange, Ticket, User
from .outbox import Recipient

# Where a ticket lives in the portal (requesters) and in the desk (referents), under base_url.
PORTAL_TICKET_PATH = "/tickets/{id}"
DESK_TICKET_PATH = "/desk/tickets/{id}"


def ticket_url(config: outbox.OutboxConfig, ticket: Ticket, staff: bool) -> str:
    return config.base_url + (DESK_TICKET_PATH if staff else PORTAL_TICKET_PATH).format(id=ticket.id)


def _public_audience(ticket: Ticket, exclude: User | None = None) -> list[User]:
    """The requester and the watchers, active, without exclude."""
    people = [ticket.requester] + [w.user for w in ticket.watchers]
    return _unique(p for p in people if p is not None and p.active and p != exclude)


def _team_audience(ticket: Ticket, exclude: User | None = None) -> list[User]:
    """The assignee, or every active referent and admin when the ticket has none, without exclude."""
    if ticket.assignee is not None:
        people = [ticket.assignee]
    else:
        people = db.session.execute(
            db.select(User).where(User.role.in_((Role.REFERENT, Role.ADMIN)), User.active.is_(True))
            .order_by(User.id)
        ).scalars().all()
    return _unique(p for p in people if p.active and p != exclude)


def _unique(people: Iterable[User]) -> list[User]:
    seen, result = set(), []
    for person in people:
        if person.id not in seen:
            seen.add(person.id)
            result.append(person)
    return result


def _send_each(event: str, ticket: Ticket, people: Sequence[User], context: Mapping[str, Any],
               staff_context: Mapping[str, Any] | None = None, new_ticket: bool = False) -> list[OutboundMail]:
    """Queue event for each person: team members get staff_context and the desk link."""
    config = outbox.current_config()
    rows = []
    for person in people:
        recipient = Recipient.of(person, config.default_language)
        values = {**context, **((staff_context or {}) if recipient.staff else {}),
                  "staff": recipient.staff, "ticket_url": ticket_url(config, ticket, recipient.staff),
                  "status_name": workflow.status_label}
        rows += outbox.enqueue(event, [recipient], values, ticket=ticket, config=config, new_ticket=new_ticket)
    return rows


def status_changed(ticket: Ticket, change: StatusChange) -> list[OutboundMail]:
    """Called by workflow in the transaction of every accepted move (from_status None = creation)."""
    if change.from_status is None:
        return acknowledgement(ticket, change)
    actor = change.actor
    context = {
        "status": change.to_status, "from_status": change.from_status,
        "reopened": change.from_status in ENDED_STATUSES,
        "actor_name": actor.name if actor is not None else "",
        "note": change.note if change.note_public else "", "internal_note": "",
    }
    staff_context = {"internal_note": "" if change.note_public else change.note, "rating_links": {}}
    if change.to_status == Status.CLOSED:
        # The requester and the people in copy may rate this closing (issue 7); the team may not.
        config = outbox.current_config()
        context["rating_links"] = ratings.rating_links(config.base_url, config.secret_key, change)
    people = _public_audience(ticket, exclude=actor)
    if context["reopened"] or (ticket.assignee is not None and ticket.assignee != actor):
        people += [p for p in _team_audience(ticket, exclude=actor) if p not in people]
    return _send_each("status_changed", ticket, people, context, staff_context)


def acknowledgement(ticket: Ticket, change: StatusChange | None = None) -> list[OutboundMail]:
    """The mail that tells the requester (and the people in copy) their ticket exists and its number.

    :param change: the creation's history row, when called from workflow.record_creation: the
        ticket is then new in this transaction (its thread is its root alone, outbox.enqueue).
    """
    return _send_each("acknowledgement", ticket, _public_audience(ticket), {"status": ticket.status},
                      new_ticket=change is not None and change.from_status is None)


def public_reply(ticket: Ticket, message: Message) -> list[OutboundMail]:
    """A referent's public reply, mailed to the requester and the people in copy."""
    if message.kind == MessageKind.NOTE or message.public is False:  # None: not flushed yet, default public
        return []
    context = {"author_name": message.author.name if message.author else "",
               "text": message.display_text or message.body_text, "status": ticket.status}
    return _send_each("public_reply", ticket, _public_audience(ticket, exclude=message.author), context)


def requester_replied(ticket: Ticket, message: Message) -> list[OutboundMail]:
    """A requester's message, told to the assignee, or to every referent when nobody holds the ticket."""
    author = message.author
    context = {"author_name": author.name if author else (message.from_address or ""),
               "text": message.display_text or message.body_text, "status": ticket.status}
    return _send_each("requester_replied", ticket, _team_audience(ticket, exclude=author), context)


def assigned(ticket: Ticket, assignee: User, actor: User | None, note: str = "") -> list[OutboundMail]:
    """Tell a referent a ticket was given to them (assignment or handover); not when they took it."""
    if assignee is None or assignee == actor or not assignee.active:
        return []
    context = {"actor_name": actor.name if actor else "", "note": note, "status": ticket.status}
    return _send_each("assigned", ticket, [assignee], context)


def sign_in_link(user: User, url: str) -> list[OutboundMail]:
    """Mail a passwordless sign-in link (made by the portal; single use, expiring)."""
    return outbox.enqueue("sign_in_link", [user], {"url": url})


def password_reset(user: User, url: str) -> list[OutboundMail]:
    """Mail a password reset link (made by the portal)."""
    return outbox.enqueue("password_reset", [user], {"url": url})


def report_ready(ticket: Ticket | None, recipients: Sequence[User | Recipient | str],
                 context: Mapping[str, Any], attachments: Sequence[MailAttachment] = ()) -> list[OutboundMail]:
    """Mail a document (a signed intervention report, a monthly statement) with its files attached.

    :param recipients: users, Recipient values or bare addresses (a client's billing contact).
    :param context: ``kind`` ("report" or "statement"), ``reference`` (its number), optional
        ``period`` (a statement's month, already formatted) and ``note`` (a line of text).
    """
    config = outbox.current_config()
    values = {"kind": "report", "reference": "", "period": "", "note": "", **context}
    if ticket is not None:
        values.setdefault("ticket_url", ticket_url(config, ticket, staff=False))
    return outbox.enqueue("report_ready", recipients, values, ticket=ticket,
                          attachments=attachments, config=config)

