"""Monthly jobs: on the 1st, build last month's statement of every client that had signed reports."""
from __future__ import annotations

import logging

from flask import Flask

from helpdesk import statements
from helpdesk.interventions import local_now, report_settings

log = logging.getLogger("helpdesk.worker.monthly")


def build_last_month_statements(app: Flask) -> str:
    """Job body (inside run_job): one statement per client with signed reports last month."""
    settings = report_settings(app.config["HELPDESK"])
    year, month = statements.previous_period(local_now(settings.timezone).date())
    built = statements.build_all(year, month, settings)
    return f"{len(built)} statements for {year:04d}-{month:02d}"
