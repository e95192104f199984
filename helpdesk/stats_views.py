"""The stats page on the desk (staff only): filters, charts, tables, and a CSV export of every table."""
from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Response, abort, current_app, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.routing import BuildError
from wtforms import DateField, SelectField
from wtforms.fields import SelectChoice
from wtforms.validators import Optional, ValidationError

from .auth import staff_required
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


def _report(period: Period, organisation_id: int | None) -> StatsReport:
    settings = current_app.config["HELPDESK"]
    return build_report(period, organisation_id, recurring_days=settings["stats_recurring_days"],
                        recurring_threshold=settings["stats_recurring_threshold"], now=utcnow())


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
    return render_template("stats/index.html", form=form, report=report, query=query, ticket_link=_ticket_link)


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
