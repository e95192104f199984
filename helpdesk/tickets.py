"""Ticket services: people by address, opening tickets, adding messages."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from email.utils import parseaddr
from typing import Sequence

from sqlalchemy.orm.attributes import set_committed_value

from . import workflow
from .database import insert_returning
from .extensions import db
from .models import Message, MessageKind, Organisation, Priority, Role, Source, Ticket, User

SUBJECT_MAX = 500


class InvalidAddress(ValueError):
    """Not a usable mail address."""


@lru_cache(maxsize=4096)  # a batch of mail asks for the same senders several times each; parseaddr is slow
def normalise_email(address: str) -> str:
    """Lower-case, trimmed addr-spec; raises InvalidAddress for anything that is not one address."""
    _, addr = parseaddr(address or "")
    addr = addr.strip().lower()
    local, sep, domain = addr.rpartition("@")
    if not sep or not local or "." not in domain or any(c.isspace() or c in "<>,;\r\n" for c in addr):
        raise InvalidAddress(f"not a mail address: {address!r}")
    return addr


def find_user(address: str) -> User | None:
    return db.session.execute(
        db.select(User).where(User.email == normalise_email(address))
    ).scalar_one_or_none()


def _organisations_by_domain() -> dict[str, Organisation]:
    """Organisations by each domain of their mail_domains list (the first one listed wins)."""
    found: dict[str, Organisation] = {}
    for org in db.session.execute(db.select(Organisation).where(Organisation.mail_domains != "")
                                  .order_by(Organisation.id)).scalars():
        for domain in org.mail_domains.split(","):
            found.setdefault(domain.strip().lower(), org)
    found.pop("", None)
    return found


def ensure_requester(address: str, display_name: str = "", language: str = "fr") -> User:
    """Return the user with this address, creating a passwordless requester if there is none."""
    user = find_user(address)
    if user is not None:
        return user
    return create_requester(address, display_name, language)


def create_requester(address: str, display_name: str = "", language: str = "fr") -> User:
    """Create a passwordless requester; the caller has just seen that nobody has this address."""
    return create_requesters({address: display_name}, language)[normalise_email(address)]


def create_requesters(names: dict[str, str], language: str = "fr") -> dict[str, User]:
    """Create passwordless requesters (address -> display name) in one flush; by address. The caller
    has just seen that nobody has these addresses."""
    organisations = _organisations_by_domain() if names else {}
    users = {}
    for address, display_name in names.items():
        email = normalise_email(address)
        users[email] = User(
            email=email,
            display_name=(display_name or "").strip()[:200],
            role=Role.REQUESTER,
            language=language,
            organisation=organisations.get(email.rpartition("@")[2]),
        )
    db.session.add_all(users.values())
    db.session.flush()
    return users


def clean_subject(subject: str) -> str:
    """One line, trimmed, bounded: subjects come from mail and forms."""
    one_line = " ".join((subject or "").split())
    return one_line[:SUBJECT_MAX]


@dataclass(frozen=True)
class TicketDraft:
    """What open_tickets() needs to create one ticket and its first message."""

    requester: User
    subject: str
    body_text: str
    source: Source = Source.WEB
    actor: User | None = None
    priority: Priority = Priority.NORMAL
    category_id: int | None = None
    location_id: int | None = None
    asset_id: int | None = None
    organisation_id: int | None = None
    origin_message_id: str | None = None
    body_html: str | None = None
    display_text: str | None = None
    inbound_mail_id: int | None = None
    previous_ticket_id: int | None = None


def open_ticket(
    requester: User,
    subject: str,
    body_text: str,
    *,
    source: Source = Source.WEB,
    actor: User | None = None,
    priority: Priority = Priority.NORMAL,
    category_id: int | None = None,
    location_id: int | None = None,
    asset_id: int | None = None,
    organisation_id: int | None = None,
    origin_message_id: str | None = None,
    body_html: str | None = None,
    display_text: str | None = None,
    inbound_mail_id: int | None = None,
) -> Ticket:
    """Create a ticket with its first message; the workflow records the creation and queues the acknowledgement."""
    return open_tickets([TicketDraft(
        requester, subject, body_text, source=source, actor=actor, priority=priority, category_id=category_id,
        location_id=location_id, asset_id=asset_id, organisation_id=organisation_id,
        origin_message_id=origin_message_id, body_html=body_html, display_text=display_text,
        inbound_mail_id=inbound_mail_id,
    )])[0]


def open_tickets(drafts: Sequence[TicketDraft]) -> list[Ticket]:
    """Create tickets with their first messages, in order: the workflow inserts the tickets and
    their history and queues the acknowledgements (workflow.record_creations), then one INSERT
    writes the first messages. A few statements for a whole batch of mail (ingestion.ingest_batch)."""
    if not drafts:
        return []
    db.session.flush()  # a requester created in this transaction has its id
    opened = workflow.record_creations([(dict(
        subject=clean_subject(draft.subject) or "(sans objet)",
        requester_id=draft.requester.id,
        organisation_id=draft.organisation_id or draft.requester.organisation_id,
        priority=draft.priority,
        category_id=draft.category_id,
        location_id=draft.location_id,
        asset_id=draft.asset_id,
        source=draft.source,
        origin_message_id=draft.origin_message_id,
        previous_ticket_id=draft.previous_ticket_id,
    ), draft.actor or draft.requester) for draft in drafts])
    messages = insert_returning(db.session, Message, [dict(
        ticket_id=ticket.id, kind=MessageKind.INBOUND, public=True, author_id=draft.requester.id,
        from_address=draft.requester.email, body_text=draft.body_text or "", body_html=draft.body_html,
        display_text=draft.display_text, message_id=draft.origin_message_id,
        inbound_mail_id=draft.inbound_mail_id, created_at=ticket.created_at,
    ) for draft, ticket in zip(drafts, opened)])
    for ticket, message in zip(opened, messages):
        set_committed_value(ticket, "messages", [message])
        set_committed_value(message, "attachments", [])
    return opened
