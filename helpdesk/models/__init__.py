"""All models, importable from one place: ``from helpdesk.models import Ticket``."""
from .base import UTCDateTime, utcnow
from .mail import InboundMail, InboundOutcome, OutboundMail, OutboundStatus
from .mailboxes import MailboxState
from .people import Organisation, Role, User
from .ratings import SCORE_MAX, SCORE_MIN, Rating
from .tickets import (
    ENDED_STATUSES,
    OPEN_STATUSES,
    Asset,
    Attachment,
    Category,
    Location,
    Message,
    MessageKind,
    Priority,
    Source,
    Status,
    StatusChange,
    Ticket,
    TicketWatcher,
)

__all__ = [
    "ENDED_STATUSES", "OPEN_STATUSES", "Asset", "Attachment", "Category", "InboundMail",
    "InboundOutcome", "Location", "MailboxState", "Message", "MessageKind", "Organisation", "OutboundMail",
    "OutboundStatus", "Priority", "Rating", "Role", "SCORE_MAX", "SCORE_MIN", "Source", "Status", "StatusChange",
    "Ticket",
    "TicketWatcher", "User", "UTCDateTime", "utcnow",
]
