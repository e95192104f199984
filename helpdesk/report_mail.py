"""Mailing documents through the outbox: a signed report to the client, a statement to the billing contact.

The mail itself (templates, Message-ID, attachment encoding, delivery) belongs to the notifications
engineer's `notifications.report_ready()`; this module only decides who gets which file.
"""
from __future__ import annotations

import logging

from . import notifications
from .models import Intervention, OutboundMail, Statement, utcnow

log = logging.getLogger(__name__)


def _report_ready():
    # notifications.report_ready() arrives with the outbox (issue 4); until it is on main, say so loudly.
    func = getattr(notifications, "report_ready", None)
    if func is None:
        log.warning("outbox not available yet: document mail not queued")
    return func


def report_recipients(report: Intervention) -> list[str]:
    """The requester of the ticket; for a report without ticket, the client's billing address."""
    if report.ticket is not None and report.ticket.requester is not None:
        return [report.ticket.requester.email]
    org = report.organisation
    return [org.billing_email] if org is not None and org.billing_email else []


def mail_signed_report(report: Intervention) -> list[OutboundMail]:
    """Queue the signed report's PDF to the client (same transaction as the signature)."""
    send = _report_ready()
    recipients = report_recipients(report)
    if send is None or not recipients or report.pdf is None:
        return []
    from .mailcompose import MailAttachment

    attachment = MailAttachment(f"rapport-{report.number}-v{report.version}.pdf", report.pdf, "application/pdf")
    return send(report.ticket, recipients, {"kind": "report", "reference": report.number}, [attachment])


def mail_statement(statement: Statement) -> list[OutboundMail]:
    """Queue the statement's PDF and CSV to the client's billing address."""
    send = _report_ready()
    address = statement.organisation.billing_email
    if send is None or not address:
        return []
    from .mailcompose import MailAttachment

    base = f"releve-{statement.organisation.client_number or statement.organisation_id}-{statement.period}"
    rows = send(None, [address], {"kind": "statement", "reference": base, "period": statement.period},
                [MailAttachment(base + ".pdf", statement.pdf, "application/pdf"),
                 MailAttachment(base + ".csv", statement.csv, "text/csv")])
    if rows:
        statement.mailed_at = utcnow()
    return rows
