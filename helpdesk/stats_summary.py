"""The monthly summary mail: last month's main indicators to every active referent, through the outbox.

Run by the worker on the first day of each month when `stats_monthly_summary` is on. The context
holds numbers only; the templates name them in each recipient's language.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select

from . import outbox
from .business_hours import hours_from_settings
from .extensions import db
from .models import OutboundMail, Role, User
from .recurring import recurring_failures
from .stats import Period, compute_indicators, name_key
from .ratings import satisfaction

log = logging.getLogger(__name__)
EVENT = "stats_summary"
FLAGS_IN_MAIL = 10


def previous_month(tz: str, today: date) -> Period:
    """The calendar month before `today` (local)."""
    last_day = today.replace(day=1) - timedelta(days=1)
    return Period(last_day.replace(day=1), last_day, tz)


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 1)


def summary_context(period: Period, settings: dict, now: datetime) -> dict:
    """The figures of the mail, as plain numbers and names."""
    ind = compute_indicators(period, business_hours=hours_from_settings(settings))
    sat = satisfaction(period)
    flags = recurring_failures(min(now, period.end_utc), settings["stats_recurring_days"],
                               settings["stats_recurring_threshold"])
    o = ind.overview
    return {
        "month": f"{period.start.year:04d}-{period.start.month:02d}",
        "opened": o.opened, "closed": o.closed, "no_action": o.no_action, "backlog_end": o.backlog_end,
        "reopen_rate": None if o.reopen_rate is None else round(100 * o.reopen_rate, 1),
        "take_median_h": _hours(o.take.median), "mttr_h": _hours(o.resolve.mean),
        "business_hours": ind.business_hours is not None,
        "satisfaction": None if sat.overall.mean is None else round(sat.overall.mean, 2),
        "ratings": sat.overall.count,
        "top_categories": [(name, n) for _id, name, n in ind.breakdowns["category"][:5] if _id is not None],
        "flags": [(f.kind, f.name, f.count) for f in flags[:FLAGS_IN_MAIL]], "flags_total": len(flags),
        "stats_url": settings["base_url"].rstrip("/") + "/desk/stats/?start="
                     + period.start.isoformat() + "&end=" + period.end.isoformat(),
    }


def queue_monthly_summary(settings: dict, now: datetime) -> int:
    """Queue last month's summary for every active referent and admin, once per month; return the mails queued."""
    zone = ZoneInfo(settings["timezone"])
    today = now.astimezone(zone).date()
    month_start = datetime.combine(today.replace(day=1), datetime.min.time(), tzinfo=zone).astimezone(timezone.utc)
    already = db.session.execute(
        select(OutboundMail.id).where(OutboundMail.event == EVENT, OutboundMail.created_at >= month_start).limit(1)
    ).first()
    if already:
        log.info("stats summary: already queued this month")
        return 0
    people = db.session.execute(
        select(User).where(User.role.in_((Role.REFERENT, Role.ADMIN)), User.active.is_(True))
    ).scalars().all()
    people = sorted(people, key=lambda u: (name_key(u.name), u.id))
    if not people:
        return 0
    context = summary_context(previous_month(settings["timezone"], today), settings, now)
    rows = outbox.enqueue(EVENT, people, context)
    return len(rows)
