"""Who hears about what. Every event function queues mail through helpdesk.outbox.

The foundation only calls the hooks; the mails themselves arrive with the notifications issue.
"""
from __future__ import annotations

from .models import StatusChange, Ticket


def status_changed(ticket: Ticket, change: StatusChange) -> None:
    """Called by workflow in the transaction of every accepted move (from_status None = creation)."""
    return None
