"""Monthly jobs: on the 1st, last month's statements (issue 6) and the stats summary to referents (issue 7)."""
from __future__ import annotations

import logging

from flask import Flask

from helpdesk import statements
from helpdesk.models import utcnow
from helpdesk.stats_summary import queue_monthly_summary
from helpdesk.interventions import local_now, report_settings

log = logging.getLogger("helpdesk.worker.monthly")


def build_last_month_statements(app: Flask) -> str:
    """Job body (inside run_job): one statement per client with signed reports last month."""
    settings = report_settings(app.config["HELPDESK"])
    year, month = statements.previous_period(local_now(settings.timezone).date())
    built = statements.build_all(year, month, settings)
    return f"{len(built)} statements for {year:04d}-{month:02d}"


def send_stats_summary(app: Flask) -> str:
    """Job body (inside run_job): last month's main indicators to every active referent, once a month."""
    queued = queue_monthly_summary(app.config["HELPDESK"], utcnow())
    return f"stats summary: {queued} mails queued"
