"""The stats page on the desk (staff only): filters, charts, tables, and a CSV export of every table."""
from __future__ import annotations

import time

from flask import Blueprint, Response, abort, current_app, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.routing import BuildError
from wtforms import DateField, SelectField
from wtforms.fields import SelectChoice
from wtforms.validators import Optional, ValidationError

from .auth import staff_required
from .business_hours import hours_from_settings
from .extensions import db
from .models import Organisation, utcnow
from .stats import Period, PeriodError, default_period
from .stats_report import StatsReport, build_report, table_csv

bp = Blueprint("stats", __name__, url_prefix="/desk/stats")


class StatsFilterForm(FlaskForm):
    """The page's filters, read from the query string (a GET form changes nothing: no CSRF token)."""

    class Meta:
        csrf = False

    start = DateField(_l("Du"), validators=[Optional()])
    end = DateField(_l("Au"), validators=[Optional()])
    organisation = SelectField(_l("Organisation"), validators=[Optional()], validate_choice=False)

    def validate_organisation(self, field):
        if field.data in (None, ""):
            field.data = ""
            return
        try:
            org_id = int(field.data)
        except (TypeError, ValueError):
            raise ValidationError(_l("Organisation inconnue.")) from None
        if db.session.get(Organisation, org_id) is None:
            raise ValidationError(_l("Organisation inconnue."))


def _read_filters() -> tuple[StatsFilterForm, Period, int | None]:
    """The form, and the period and organisation it selects (the defaults when it is wrong)."""
    tz = current_app.config["HELPDESK"]["timezone"]
    form = StatsFilterForm(formdata=request.args)
    organisations = db.session.execute(db.select(Organisation.id, Organisation.name).order_by(Organisation.name))
    form.organisation.choices = [SelectChoice("", _l("Toutes"))] + [
        SelectChoice(str(i), name) for i, name in organisations]
    period = default_period(tz)
    if not form.validate():
        return form, period, None
    start, end = form.start.data or period.start, form.end.data or period.end
    try:
        period = Period(start, end, tz)
    except PeriodError as exc:
        form.end.errors = list(form.end.errors) + [_period_message(exc, start, end)]
        return form, default_period(tz), None
    return form, period, int(form.organisation.data) if form.organisation.data else None


def _period_message(exc: PeriodError, start, end) -> str:
    if end < start:
        return _("La fin de la période est avant son début.")
    return _("Période trop longue.")


ROWS_SHOWN = 50  # rows of a table on the page; its CSV holds all of them
FLAGS_SHOWN = 20  # recurring-failure flags listed with their tickets on the page (all in the CSV)
FLAG_TICKETS_SHOWN = 10  # the most recent tickets listed under each flag
CACHE_ENTRIES = 32  # reports kept per process (periods x organisations looked at)


def _report(period: Period, organisation_id: int | None) -> StatsReport:
    """The report for these filters, from this process's short-lived cache when it is fresh enough.

    Over 100,000 tickets a report costs a few hundred milliseconds (docs/benchmarks.md), and the
    page and its CSV links ask for the same one again and again; figures a minute old are fine.
    """
    settings = current_app.config["HELPDESK"]
    ttl = settings["stats_cache_seconds"]
    business_hours = hours_from_settings(settings)
    key = (period, organisation_id, settings["stats_recurring_days"], settings["stats_recurring_threshold"],
           business_hours, get_locale().language if get_locale() else "")
    cache = current_app.extensions.setdefault("helpdesk_stats_cache", {})
    now = time.monotonic()
    hit = cache.get(key)
    if ttl > 0 and hit is not None and hit[0] > now:
        return hit[1]
    report = build_report(period, organisation_id, recurring_days=settings["stats_recurring_days"],
                          recurring_threshold=settings["stats_recurring_threshold"], now=utcnow(),
                          business_hours=business_hours)
    if ttl > 0:
        for stale in [k for k, (expires, _r) in cache.items() if expires <= now][:CACHE_ENTRIES]:
            del cache[stale]
        if len(cache) >= CACHE_ENTRIES:
            del cache[min(cache, key=lambda k: cache[k][0])]
        cache[key] = (now + ttl, report)
    return report


def _ticket_link(ticket_id: int) -> str | None:
    """The desk page of a ticket, when the desk is installed."""
    try:
        return url_for("desk.ticket", ticket_id=ticket_id)
    except BuildError:
        return None


@bp.get("/")
@staff_required
def index():
    form, period, organisation_id = _read_filters()
    report = _report(period, organisation_id)
    query = {"start": period.start.isoformat(), "end": period.end.isoformat()}
    if organisation_id is not None:
        query["organisation"] = organisation_id
    return render_template("stats/index.html", form=form, report=report, query=query, ticket_link=_ticket_link,
                           rows_shown=ROWS_SHOWN, flags_shown=FLAGS_SHOWN, flag_tickets_shown=FLAG_TICKETS_SHOWN)


@bp.get("/<key>.csv")
@staff_required
def export_csv(key: str):
    form, period, organisation_id = _read_filters()
    if form.errors:
        abort(400)
    table = _report(period, organisation_id).table(key)
    if table is None:
        abort(404)
    name = f"helpdesk-{key}-{period.start.isoformat()}-{period.end.isoformat()}.csv"
    # The BOM makes spreadsheet programs read UTF-8 (accents in names) instead of guessing a legacy charset.
    return Response("\ufeff" + table_csv(table), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "X-Content-Type-Options": "nosniff"})
