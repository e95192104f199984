"""The worker process: the only APScheduler in the system.

Jobs are listed once, in JOBS. Each runs inside run_job(), which gives it an app context,
commits or rolls back, and logs its outcome and duration. Web processes never start this.
"""
from __future__ import annotations

import logging
import signal
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from helpdesk.extensions import db
from workers import delivery, mail_poller, maildrop, monthly

log = logging.getLogger("helpdesk.worker")


@dataclass(frozen=True)
class Job:
    """A scheduled job: `func(app)` returns a short summary (or None) and runs inside run_job()."""

    name: str
    func: Callable[[Flask], Any]
    trigger: str
    trigger_args: dict = field(default_factory=dict)
    # Skip the job when this returns False for the settings (e.g. a feature switched off).
    enabled: Callable[[dict], bool] = lambda settings: True


def build_jobs(settings: dict) -> list[Job]:
    """Every job of the worker, with its trigger from settings. Later features add rows here."""
    jobs = []
    # Mail in (issue 3): one job per IMAP mailbox (IDLE or polling), else the local drop folder.
    for mailbox in mail_poller.mailbox_configs(settings):
        jobs.append(Job(f"mail:{mailbox.name}", mail_poller.mailbox_job(mailbox.name), "interval",
                        {"seconds": settings["poll_interval_seconds"]}))
    if not settings["mailboxes"]:
        jobs.append(Job("maildrop", maildrop.maildrop_job, "interval", {"seconds": settings["poll_interval_seconds"]}))
    # Interventions (issue 6): last month's statements, on the 1st.
    jobs.append(Job("monthly_statements", monthly.build_last_month_statements, "cron",
                    {"day": 1, "hour": settings["statements_job_hour"], "minute": 0},
                    enabled=lambda s: s["statements_job_enabled"]))
    # Numbers (issue 7): last month's summary to the referents, on the 1st, when switched on.
    jobs.append(Job("stats_summary", monthly.send_stats_summary, "cron", {"day": 1, "hour": 7, "minute": 30},
                    enabled=lambda s: s["stats_monthly_summary"]))
    # Mail out (issue 4): send what the outbox holds.
    jobs.append(Job("outbox", delivery.send_outbox, "interval", {"seconds": settings["outbox_interval_seconds"]}))
    return jobs


def run_job(app: Flask, job: Job) -> Any:
    """Run one job body in an app context: commit on success, roll back and log on failure."""
    started = time.monotonic()
    with app.app_context():
        try:
            result = job.func(app)
            db.session.commit()
        except Exception:  # one failing pass must not kill the worker; the next run retries
            db.session.rollback()
            log.exception("job %s failed after %.2fs", job.name, time.monotonic() - started)
            return None
        finally:
            db.session.remove()
    elapsed = time.monotonic() - started
    if result:
        log.info("job %s: %s (%.2fs)", job.name, result, elapsed)
    else:
        log.debug("job %s done (%.2fs)", job.name, elapsed)
    return result


def build_scheduler(app: Flask) -> BlockingScheduler:
    """A scheduler with every enabled job: one instance at a time, missed runs coalesced."""
    settings = app.config["HELPDESK"]
    # APScheduler logs every run at INFO (the outbox job runs each second); run_job() logs what matters.
    if logging.getLogger().getEffectiveLevel() >= logging.INFO:
        logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
    scheduler = BlockingScheduler(timezone=settings["timezone"])
    for job in build_jobs(settings):
        if not job.enabled(settings):
            log.info("job %s disabled by settings", job.name)
            continue
        scheduler.add_job(
            run_job, job.trigger, args=(app, job), id=job.name, name=job.name,
            max_instances=1, coalesce=True, misfire_grace_time=60, **job.trigger_args,
        )
    return scheduler


def run_worker(app: Flask) -> None:
    """Run the scheduler until SIGTERM or SIGINT."""
    scheduler = build_scheduler(app)

    def stop(signum, frame):
        log.info("worker: signal %s, stopping", signum)
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    log.info("worker: starting with jobs %s", [j.id for j in scheduler.get_jobs()] or "none")
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
