"""All models, importable from one place: ``from helpdesk.models import Ticket``."""
from .access import LoginThrottle, SignInToken, TokenPurpose
from .base import UTCDateTime, utcnow
from .interventions import (
    Contract,
    ContractConsumption,
    ContractKind,
    Handover,
    IncludedPeriod,
    Intervention,
    InterventionLine,
    ReportCounter,
    ReportStatus,
    Signature,
    SignatureRole,
    Statement,
    WorkshopIntake,
)
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
    # interventions and billing (issue 6)
    "Contract", "ContractConsumption", "ContractKind", "Handover", "IncludedPeriod", "Intervention",
    "InterventionLine", "ReportCounter", "ReportStatus", "Signature", "SignatureRole", "Statement",
    "WorkshopIntake",
    "LoginThrottle", "SignInToken", "TokenPurpose",
]
