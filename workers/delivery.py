"""The outbox job: pick the transport from settings and send what is due."""
from __future__ import annotations

from typing import Any, Mapping

from flask import Flask

from helpdesk import outbox
from helpdesk.mailout import CaptureTransport, mail_out_dir

from .smtp import SmtpTransport

# A pass stops claiming new batches after this long, so the scheduler's next run is not starved.
PASS_TIME_LIMIT_SECONDS = 50


def make_transport(settings: Mapping[str, Any]) -> outbox.Transport:
    """SMTP when smtp_host is set, else the .eml capture under var_dir (the embedded default)."""
    if settings["smtp_host"]:
        return SmtpTransport.from_settings(settings)
    return CaptureTransport(mail_out_dir(settings["var_dir"]))


def send_outbox(app: Flask) -> str | None:
    """One delivery pass (a worker job body, also `helpdesk outbox send --once`)."""
    settings = app.config["HELPDESK"]
    transport = make_transport(settings)
    try:
        report = outbox.deliver_pending(transport, outbox.DeliveryConfig.from_settings(settings),
                                        time_limit=PASS_TIME_LIMIT_SECONDS)
    finally:
        transport.close()
    if report.sent or report.retried or report.failed:
        return str(report)
    return None
